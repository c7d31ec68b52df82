/**
 * Hand decoders of the two etcd replies podnet reads in bulk (Range and LeaseTimeToLive),
 * used instead of protobufjs on the fast path (see etcd3-internals.ts). Pure functions of the
 * reply's bytes, tested on bytes captured from a real etcd.
 */
import { PiecesReader, WireReader } from "./protobuf-wire.js";
import type { KeyValue, KeyValueCursor, ScanVisitor } from "./store.js";

/** One page of a range: the kvs, the header's revision, whether more follow. */
export interface RangePage {
  readonly revision: number;
  readonly more: boolean;
  readonly kvs: KeyValue[];
  /** The last key's bytes, when the decoder kept them (the next page starts after it). */
  readonly lastKey?: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** The cursor {@link walkRangeResponse} fills for each key; `lease()` reads the id on demand. */
class RangeCursor implements KeyValueCursor {
  buf: Buffer = EMPTY;
  keyStart = 0;
  keyEnd = 0;
  valueStart = 0;
  valueEnd = 0;
  createRevision = 0;
  modRevision = 0;
  version = 0;
  hasLease = false;
  leaseAt = -1;

  lease(): string {
    if (!this.hasLease) return "0";
    // etcd lease ids use all 63 bits: a decimal string, as etcd3 gives them.
    const r = new WireReader(this.buf, "range response");
    r.pos = this.leaseAt;
    return r.int64Decimal();
  }

  reset(buf: Buffer, at: number): void {
    this.buf = buf;
    this.keyStart = this.keyEnd = this.valueStart = this.valueEnd = at;
    this.createRevision = this.modRevision = this.version = 0;
    this.hasLease = false;
    this.leaseAt = -1;
  }
}

/** What a walk of one RangeResponse (a page of a range) read besides its keys. */
export interface RangeWalk {
  readonly revision: number;
  readonly more: boolean;
  /** Keys visited. */
  readonly count: number;
  /** The last key's bytes (a copy), when there was one: the next page starts after it. */
  readonly lastKey?: Buffer;
}

/**
 * Reads one mvccpb.KeyValue (kv.proto: key 1, create_revision 2, mod_revision 3, version 4,
 * value 5, lease 6) from `r`, ending at `stop`, into `cursor`.
 */
function readKeyValueInto(r: WireReader, stop: number, cursor: RangeCursor, what: string): void {
  cursor.reset(r.buf, r.pos);
  while (r.pos < stop) {
    const t = r.varint();
    switch (t) {
      case (1 << 3) | 2: {
        const len = r.varint();
        cursor.keyStart = r.pos;
        cursor.keyEnd = r.pos + len;
        r.pos += len;
        break;
      }
      case 2 << 3:
        cursor.createRevision = r.varint();
        break;
      case 3 << 3:
        cursor.modRevision = r.varint();
        break;
      case 4 << 3:
        cursor.version = r.varint();
        break;
      case (5 << 3) | 2: {
        const len = r.varint();
        cursor.valueStart = r.pos;
        cursor.valueEnd = r.pos + len;
        r.pos += len;
        break;
      }
      case 6 << 3:
        cursor.leaseAt = r.pos;
        // A zero id is no lease, as protobuf's default.
        cursor.hasLease = r.varint() !== 0;
        break;
      default:
        r.skip(t & 7);
    }
  }
  if (r.pos !== stop) throw new Error(`truncated ${what}`);
}

/** Visits the one mvccpb.KeyValue that is all of `kv`'s bytes (a buffer of its own, which the visit may keep). */
export function walkKeyValue(kv: Buffer, visit: (kv: KeyValueCursor) => void): void {
  const cursor = new RangeCursor();
  readKeyValueInto(new WireReader(kv, "range response"), kv.length, cursor, "range response");
  visit(cursor);
}

/**
 * One mvccpb.KeyValue of `r` (ending at `stop`) as a KeyValue whose value is a copy: for
 * messages whose entries outlive them (a watch's events).
 */
export function readKeyValue(r: WireReader, stop: number, what: string): KeyValue {
  const cursor = new RangeCursor();
  readKeyValueInto(r, stop, cursor, what);
  const kv = keyValueAt(cursor);
  return kv.value.length > 0 ? { ...kv, value: Buffer.from(kv.value) } : kv;
}

/**
 * A RangeResponse's bytes: one buffer, or the pieces it came in (the h2 transport's DATA
 * chunks, not joined: see grpc.ts).
 */
export type ReplyBytes = Buffer | readonly Buffer[];

/** The tag of RangeResponse.kvs (field 2, length-delimited). */
const KVS_TAG = (2 << 3) | 2;

const piecesOf = (reply: ReplyBytes): readonly Buffer[] => (Buffer.isBuffer(reply) ? [reply] : reply);

/** What {@link readRangeResponse} has read so far besides the keys. */
interface RangeHead {
  revision: number;
  more: boolean;
  count: number;
}

/**
 * Reads an etcdserverpb.RangeResponse (rpc.proto): header (1) with revision (3), kvs (2), more
 * (3), handing each KeyValue to `kv` as its bytes [r.pos, stop) of `r.buf` (the piece holding
 * it whole, or a copy of it when it straddles pieces), which `kv` must leave `r` at the end of.
 * Unknown fields are skipped by wire type, as protobuf requires.
 */
function readRangeResponse(reply: ReplyBytes, kv: (r: WireReader, stop: number) => void): RangeHead {
  const p = new PiecesReader(piecesOf(reply), "range response");
  let r = new WireReader(p.spanBuf, "range response");
  const head: RangeHead = { revision: 0, more: false, count: 0 };
  while (!p.done) {
    // The common case, read as from one buffer: KeyValues whose tag, length and bytes are all
    // in the current piece, in a loop of their own. A field near a piece's end, or another
    // field, is read by oneField.
    const piece = p.piece;
    let at = p.at;
    const fastEnd = piece.length - 20;
    if (at <= fastEnd) {
      if (r.buf !== piece) r = new WireReader(piece, "range response");
      r.pos = at;
      let count = 0;
      while (at <= fastEnd && r.varint() === KVS_TAG) {
        const stop = r.varint() + r.pos;
        if (stop > piece.length) break;
        kv(r, stop);
        count++;
        at = stop;
      }
      head.count += count;
      p.stepInPiece(at);
      if (p.done) break;
    }
    oneField(p, head, kv);
  }
  return head;
}

/** Reads one field of a RangeResponse from `p`, wherever its bytes are; see {@link readRangeResponse}. */
function oneField(p: PiecesReader, head: RangeHead, kv: (r: WireReader, stop: number) => void): void {
  const tag = p.varint();
  const field = Math.floor(tag / 8);
  const wire = tag & 7;
  if (field === 1 && wire === 2) {
    const len = p.varint();
    p.span(len);
    head.revision = headerRevision(
      new WireReader(p.spanBuf, "range response"),
      p.spanStart,
      p.spanStart + len,
    );
  } else if (field === 2 && wire === 2) {
    const len = p.varint();
    p.span(len);
    const r = new WireReader(p.spanBuf, "range response");
    r.pos = p.spanStart;
    kv(r, p.spanStart + len);
    head.count++;
  } else if (field === 3 && wire === 0) {
    head.more = p.varint() !== 0;
  } else {
    p.skip(wire);
  }
}

/**
 * Walks a RangeResponse's kvs (key 1, create_revision 2, mod_revision 3, version 4, value 5,
 * lease 6), visiting each key through one reused cursor, without an object per key.
 */
export function walkRangeResponse(reply: ReplyBytes, visit: (kv: KeyValueCursor) => void): RangeWalk {
  const cursor = new RangeCursor();
  let lastBuf: Buffer | undefined;
  let lastKeyStart = -1;
  let lastKeyEnd = -1;
  const page = readRangeResponse(reply, (r, stop) => {
    readKeyValueInto(r, stop, cursor, "range response");
    lastBuf = r.buf;
    lastKeyStart = cursor.keyStart;
    lastKeyEnd = cursor.keyEnd;
    visit(cursor);
  });
  if (lastBuf === undefined) return page;
  return { ...page, lastKey: Buffer.from(lastBuf.subarray(lastKeyStart, lastKeyEnd)) };
}

/** The revision (3) of the ResponseHeader at [start, stop) of `r.buf`. */
function headerRevision(r: WireReader, start: number, stop: number): number {
  let revision = 0;
  r.pos = start;
  while (r.pos < stop) {
    const t = r.varint();
    if (t === 3 * 8) revision = r.varint();
    else r.skip(t & 7);
  }
  if (r.pos !== stop) throw new Error("truncated range response");
  return revision;
}

/**
 * What {@link walkRangeResponse} says of `reply` besides its keys, without reading them: each
 * KeyValue is stepped over by its length, and only the last one's key is read (the next
 * page's start). Cheap enough to ask for the next page before this one is walked.
 */
export function peekRangeResponse(reply: ReplyBytes): RangeWalk {
  let lastBuf: Buffer | undefined;
  let lastStart = -1;
  let lastStop = -1;
  const page = readRangeResponse(reply, (r, stop) => {
    lastBuf = r.buf;
    lastStart = r.pos;
    lastStop = stop;
    r.pos = stop;
  });
  if (lastBuf === undefined) return page;
  const last = new RangeCursor();
  const r = new WireReader(lastBuf, "range response");
  r.pos = lastStart;
  readKeyValueInto(r, lastStop, last, "range response");
  return { ...page, lastKey: Buffer.from(lastBuf.subarray(last.keyStart, last.keyEnd)) };
}

/** One page of a range fetched and not yet read: {@link RangeReply.walk} visits its keys. */
export interface RangeReply {
  /** Visits each key through a reused cursor (or hands the bytes to the visitor's bulk reader); says what the page held besides. */
  walk(visit: ScanVisitor): RangeWalk;
  /** What {@link walk} will say, without visiting a key (for asking for the next page first). */
  peek(): RangeWalk;
}

/**
 * A RangeResponse's bytes as a {@link RangeReply}, decoded when walked: by the visitor's own
 * bulk reader when it has one (see ScanVisitor).
 */
export function rangeReplyOf(reply: ReplyBytes): RangeReply {
  return {
    walk: (visit: ScanVisitor) =>
      visit.reply !== undefined ? visit.reply(reply) : walkRangeResponse(reply, visit),
    peek: () => peekRangeResponse(reply),
  };
}

/** The key a cursor points at as a KeyValue; the value is a view into the cursor's buffer. */
export function keyValueAt(c: KeyValueCursor): KeyValue {
  return {
    key: c.buf.toString("utf8", c.keyStart, c.keyEnd),
    value: c.valueEnd > c.valueStart ? c.buf.subarray(c.valueStart, c.valueEnd) : EMPTY,
    createRevision: c.createRevision,
    modRevision: c.modRevision,
    version: c.version,
    lease: c.lease(),
  };
}

/**
 * Decodes an etcdserverpb.RangeResponse straight into KeyValues. Values are views into the
 * message (a page's buffer is ~1 MB and lives only as long as its entries: copying 5,000 small
 * values would cost more than it frees).
 */
export function decodeRangeResponse(buf: Buffer): RangePage {
  const kvs: KeyValue[] = [];
  const walk = walkRangeResponse(buf, (c) => kvs.push(keyValueAt(c)));
  return {
    revision: walk.revision,
    more: walk.more,
    kvs,
    ...(walk.lastKey !== undefined && { lastKey: walk.lastKey }),
  };
}

/** The TTL (field 3, int64) of an etcdserverpb.LeaseTimeToLiveResponse; 0 when absent, as protobuf's default. */
export function decodeTtl(buf: Buffer): number {
  const r = new WireReader(buf, "lease response");
  let ttl = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 3 << 3) ttl = Number(r.int64());
    else r.skip(tag & 7);
  }
  if (r.pos !== buf.length) throw new Error("truncated lease response");
  return ttl;
}
