/**
 * etcd's Watch messages (rpc.proto, kv.proto) by hand: the create and cancel requests podnet
 * sends and the responses it reads, decoded straight into Store's KeyValue. Pure functions of
 * bytes, checked against protobufjs on etcd's own .proto files in the tests.
 */
import { WireReader, WireWriter } from "../protobuf-wire.js";
import { readKeyValue } from "../reply-decoders.js";
import type { KeyValue, WatchEvent } from "../store.js";
import { headerRevision } from "./kv-messages.js";

/** What a watch asks etcd for (etcdserverpb.WatchCreateRequest). */
export interface WatchCreate {
  readonly key: Buffer;
  /** The end of the range; empty watches the one key. */
  readonly rangeEnd: Buffer;
  /** The first revision to deliver; 0 is "now". */
  readonly startRevision: number;
  /** Periodic empty responses while nothing changes. */
  readonly progressNotify?: boolean;
  /** Each event's previous key-value too. */
  readonly prevKv?: boolean;
  /** Lets etcd split a revision too large for one message (etcd 3.4 and later; older ones ignore it). */
  readonly fragment?: boolean;
}

/** One etcdserverpb.WatchResponse. */
export interface WatchResponse {
  /** The header's revision: the store's revision when the response was sent. */
  readonly revision: number;
  readonly watchId: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Set (non-zero) when the asked revision is compacted; the watch is then canceled. */
  readonly compactRevision: number;
  readonly cancelReason: string;
  /** More responses of the same revision follow; the events are joined until one without it. */
  readonly fragment: boolean;
  readonly events: WatchEvent[];
}

/** A WatchRequest with its create_request (field 1). */
export function encodeWatchCreate(req: WatchCreate): Buffer {
  if (req.startRevision < 0 || !Number.isSafeInteger(req.startRevision)) {
    throw new RangeError(`a watch cannot start at revision ${req.startRevision}`);
  }
  const create = new WireWriter()
    .bytes(1, req.key)
    .bytes(2, req.rangeEnd)
    .uint(3, req.startRevision)
    .bool(4, req.progressNotify)
    .bool(6, req.prevKv)
    .bool(8, req.fragment);
  return new WireWriter().message(1, create).finish();
}

/** A WatchRequest with its cancel_request (field 2) for `watchId`. */
export function encodeWatchCancel(watchId: number): Buffer {
  if (watchId < 0 || !Number.isSafeInteger(watchId)) throw new RangeError(`no watch has the id ${watchId}`);
  return new WireWriter().message(2, new WireWriter().uint(1, watchId)).finish();
}

const EMPTY = Buffer.alloc(0);

/** A mvccpb.Event: type 1 (PUT 0, DELETE 1), kv 2; prev_kv 3 is skipped (podnet does not ask for it). */
function readEvent(r: WireReader, stop: number): WatchEvent {
  let type: WatchEvent["type"] = "put";
  let kv: KeyValue | undefined;
  while (r.pos < stop) {
    const t = r.varint();
    if (t === 1 << 3) type = r.varint() === 1 ? "delete" : "put";
    else if (t === ((2 << 3) | 2)) {
      const end = r.varint() + r.pos;
      // Copied values: an event may outlive the (possibly large, catch-up) message it came in.
      kv = readKeyValue(r, end, "watch response");
    } else r.skip(t & 7);
  }
  if (r.pos !== stop) throw new Error("truncated watch response");
  // proto3 leaves out an empty message: an event without kv has the default one.
  return {
    type,
    kv: kv ?? { key: "", value: EMPTY, createRevision: 0, modRevision: 0, version: 0, lease: "0" },
  };
}

/**
 * Decodes an etcdserverpb.WatchResponse: header 1 (revision 3), watch_id 2, created 3,
 * canceled 4, compact_revision 5, cancel_reason 6, fragment 7, events 11. Unknown fields are
 * skipped by wire type, as protobuf requires.
 */
export function decodeWatchResponse(buf: Buffer): WatchResponse {
  const r = new WireReader(buf, "watch response");
  let revision = 0;
  let watchId = 0;
  let created = false;
  let canceled = false;
  let compactRevision = 0;
  let cancelReason = "";
  let fragment = false;
  const events: WatchEvent[] = [];
  while (r.pos < buf.length) {
    const t = r.varint();
    switch (t) {
      case (1 << 3) | 2:
        revision = headerRevision(r.bytes());
        break;
      case 2 << 3:
        // etcd answers a create it refused with the id -1.
        watchId = Number(r.int64());
        break;
      case 3 << 3:
        created = r.varint() !== 0;
        break;
      case 4 << 3:
        canceled = r.varint() !== 0;
        break;
      case 5 << 3:
        compactRevision = Number(r.int64());
        break;
      case (6 << 3) | 2: {
        const len = r.varint();
        cancelReason = buf.toString("utf8", r.pos, r.pos + len);
        r.pos += len;
        break;
      }
      case 7 << 3:
        fragment = r.varint() !== 0;
        break;
      case (11 << 3) | 2: {
        const stop = r.varint() + r.pos;
        events.push(readEvent(r, stop));
        break;
      }
      default:
        r.skip(t & 7);
    }
  }
  r.done();
  return { revision, watchId, created, canceled, compactRevision, cancelReason, fragment, events };
}
