/**
 * Hand decoders of the two etcd replies podnet reads in bulk (Range and LeaseTimeToLive),
 * used instead of protobufjs on the fast path (see etcd3-internals.ts). Pure functions of the
 * reply's bytes, tested on bytes captured from a real etcd.
 */
import type { KeyValue } from "./store.js";

/** One page of a range: the kvs, the header's revision, whether more follow. */
export interface RangePage {
  readonly revision: number;
  readonly more: boolean;
  readonly kvs: KeyValue[];
  /** The last key's bytes, when the decoder kept them (the next page starts after it). */
  readonly lastKey?: Buffer;
}

/** A cursor over protobuf wire bytes: varints, 64-bit varints, skipping by wire type. */
class WireReader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    private readonly what: string,
  ) {}

  /** An unsigned varint; exact below 2^53, which every revision, version and length is. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error(`truncated ${this.what}`);
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  /** An int64 varint as a bigint (two's complement: -1 is ten bytes). */
  int64(): bigint {
    const start = this.pos;
    const n = this.varint();
    if (this.pos - start < 8) return BigInt(n);
    let big = 0n;
    for (let i = this.pos - 1; i >= start; i--) big = (big << 7n) | BigInt((this.buf[i] as number) & 0x7f);
    return BigInt.asIntN(64, big);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      // Not `this.pos += this.varint()`: that adds the length to the position before the length.
      const len = this.varint();
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`unexpected wire type ${wire} in a ${this.what}`);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes an etcdserverpb.RangeResponse (rpc.proto) straight into KeyValues: header (1) with
 * revision (3), kvs (2: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6),
 * more (3). Values are views into the message (a page's buffer is ~1 MB and lives only as long
 * as its entries: copying 5,000 small values would cost more than it frees). Unknown fields are
 * skipped by wire type, as protobuf requires.
 */
export function decodeRangeResponse(buf: Buffer): RangePage {
  const r = new WireReader(buf, "range response");
  let revision = 0;
  let more = false;
  let lastKeyStart = -1;
  let lastKeyEnd = -1;
  const kvs: KeyValue[] = [];
  const end = buf.length;
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const stop = r.varint() + r.pos;
      while (r.pos < stop) {
        const t = r.varint();
        if (t === 3 * 8) revision = r.varint();
        else r.skip(t & 7);
      }
    } else if (field === 2 && wire === 2) {
      const stop = r.varint() + r.pos;
      let key = "";
      let keyStart = r.pos;
      let keyEnd = r.pos;
      let value: Buffer = EMPTY;
      let createRevision = 0;
      let modRevision = 0;
      let version = 0;
      let lease = "0";
      while (r.pos < stop) {
        const t = r.varint();
        switch (t) {
          case (1 << 3) | 2: {
            const len = r.varint();
            keyStart = r.pos;
            keyEnd = r.pos + len;
            key = buf.toString("utf8", keyStart, keyEnd);
            r.pos = keyEnd;
            break;
          }
          case 2 << 3:
            createRevision = r.varint();
            break;
          case 3 << 3:
            modRevision = r.varint();
            break;
          case 4 << 3:
            version = r.varint();
            break;
          case (5 << 3) | 2: {
            const len = r.varint();
            value = buf.subarray(r.pos, r.pos + len);
            r.pos += len;
            break;
          }
          case 6 << 3:
            // etcd lease ids use all 63 bits: a decimal string, as etcd3 gives them.
            lease = r.int64().toString();
            break;
          default:
            r.skip(t & 7);
        }
      }
      r.pos = stop;
      kvs.push({ key, value, createRevision, modRevision, version, lease });
      lastKeyStart = keyStart;
      lastKeyEnd = keyEnd;
    } else if (field === 3 && wire === 0) {
      more = r.varint() !== 0;
    } else {
      r.skip(wire);
    }
  }
  if (r.pos !== end) throw new Error("truncated range response");
  return {
    revision,
    more,
    kvs,
    ...(lastKeyStart >= 0 && { lastKey: Buffer.from(buf.subarray(lastKeyStart, lastKeyEnd)) }),
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
