/**
 * etcd's KV requests and replies podnet sends over h2 (rpc.proto, kv.proto): Range, Txn with
 * its compares and ops, Compaction. Encoders take podnet's own Store types; replies are
 * decoded with the hand decoders of reply-decoders.ts where they hold keys.
 */
import { type Int64, VARINT, WireReader, WireWriter } from "../protobuf-wire.js";
import { decodeRangeResponse } from "../reply-decoders.js";
import type { Compare, KeyValue, Op, TxnResult } from "../store.js";

/** gRPC paths of the KV service. */
export const KV_RANGE = "/etcdserverpb.KV/Range";
export const KV_TXN = "/etcdserverpb.KV/Txn";
export const KV_COMPACT = "/etcdserverpb.KV/Compact";

/** The fields of a RangeRequest podnet sets. */
export interface RangeRequest {
  readonly key: Buffer | string;
  readonly rangeEnd?: Buffer | undefined;
  readonly limit?: number | undefined;
  readonly revision?: number | undefined;
  readonly keysOnly?: boolean | undefined;
  readonly countOnly?: boolean | undefined;
}

function rangeWriter(req: RangeRequest): WireWriter {
  return new WireWriter()
    .bytes(1, req.key)
    .bytes(2, req.rangeEnd)
    .uint(3, req.limit ?? 0)
    .uint(4, req.revision ?? 0)
    .bool(8, req.keysOnly)
    .bool(9, req.countOnly);
}

/** RangeRequest: key (1), range_end (2), limit (3), revision (4), keys_only (8), count_only (9). */
export function encodeRange(req: RangeRequest): Buffer {
  return rangeWriter(req).finish();
}

/** Compare.CompareTarget (rpc.proto). */
const TARGET_MOD = 2;
const TARGET_VALUE = 3;
const TARGET_LEASE = 4;

/**
 * Compare: result (1, EQUAL is 0), target (2), key (3), and the one target field (mod_revision
 * 6, value 7, lease 8) always written, 0 included: an unset oneof is not a compare with 0.
 */
function compareWriter(c: Compare): WireWriter {
  const w = new WireWriter();
  if ("modRevision" in c) return w.uint(2, TARGET_MOD).bytes(3, c.key).uint(6, c.modRevision, true);
  if ("lease" in c) return w.uint(2, TARGET_LEASE).bytes(3, c.key).int64(8, c.lease, true);
  return w.uint(2, TARGET_VALUE).bytes(3, c.key).bytes(7, c.value, true);
}

/** RequestOp: request_range (1), request_put (2: key 1, value 2, lease 3), request_delete_range (3). */
function opWriter(op: Op): WireWriter {
  const w = new WireWriter();
  if ("put" in op) {
    const put = new WireWriter()
      .bytes(1, op.put)
      .bytes(2, op.value)
      .int64(3, op.lease ?? 0);
    return w.message(2, put);
  }
  if ("delete" in op) return w.message(3, new WireWriter().bytes(1, op.delete));
  return w.message(1, new WireWriter().bytes(1, op.get));
}

/** TxnRequest: compare (1), success (2), failure (3). */
export function encodeTxn(
  compares: readonly Compare[],
  success: readonly Op[],
  failure: readonly Op[],
): Buffer {
  const w = new WireWriter();
  for (const c of compares) w.message(1, compareWriter(c));
  for (const op of success) w.message(2, opWriter(op));
  for (const op of failure) w.message(3, opWriter(op));
  return w.finish();
}

/** The revision (3) of a ResponseHeader message. */
export function headerRevision(header: Buffer): number {
  const r = new WireReader(header, "response header");
  let revision = 0;
  while (r.pos < header.length) {
    const tag = r.varint();
    if (tag === 3 << 3) revision = r.varint();
    else r.skip(tag & 7);
  }
  r.done();
  return revision;
}

/**
 * TxnResponse: header (1), succeeded (2), responses (3); each ResponseOp's response_range (1)
 * becomes one of `gets` (its first key, undefined when none), in order.
 */
export function decodeTxn(buf: Buffer): TxnResult {
  const r = new WireReader(buf, "txn response");
  let revision = 0;
  let succeeded = false;
  const gets: (KeyValue | undefined)[] = [];
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) revision = headerRevision(r.bytes());
    else if (tag === 2 << 3) succeeded = r.varint() !== 0;
    else if (tag === ((3 << 3) | 2)) {
      const op = r.bytes();
      const o = new WireReader(op, "txn response");
      while (o.pos < op.length) {
        const t = o.varint();
        if (t === ((1 << 3) | 2)) gets.push(decodeRangeResponse(o.bytes()).kvs[0]);
        else o.skip(t & 7);
      }
      o.done();
    } else r.skip(tag & 7);
  }
  r.done();
  return { succeeded, revision, gets };
}

/** The header revision and count (4) of a RangeResponse. */
export function decodeCount(buf: Buffer): { revision: number; count: number } {
  const r = new WireReader(buf, "range response");
  let revision = 0;
  let count = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) revision = headerRevision(r.bytes());
    else if (tag === ((4 << 3) | VARINT)) count = r.varint();
    else r.skip(tag & 7);
  }
  r.done();
  return { revision, count };
}

/** CompactionRequest: revision (1), physical (2). */
export function encodeCompaction(revision: Int64, physical: boolean): Buffer {
  return new WireWriter().int64(1, revision).bool(2, physical).finish();
}
