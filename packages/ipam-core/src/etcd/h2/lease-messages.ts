/**
 * etcd's Lease requests and replies podnet sends over h2 (rpc.proto): LeaseGrant with an id of
 * the client's choosing, LeaseRevoke, LeaseKeepAlive, LeaseTimeToLive (its reply is decodeTtl's).
 */
import { randomBytes } from "node:crypto";
import { type Int64, WireReader, WireWriter } from "../protobuf-wire.js";
import { headerRevision } from "./kv-messages.js";

/** gRPC paths of the Lease service. */
export const LEASE_GRANT = "/etcdserverpb.Lease/LeaseGrant";
export const LEASE_REVOKE = "/etcdserverpb.Lease/LeaseRevoke";
export const LEASE_KEEPALIVE = "/etcdserverpb.Lease/LeaseKeepAlive";
export const LEASE_TTL = "/etcdserverpb.Lease/LeaseTimeToLive";

/**
 * A random positive 63-bit lease id, as a decimal string. Chosen by the client so that a grant
 * retried after a lost answer asks for the same lease: "lease already exists" then means the
 * first attempt won, and no second lease is left to expire on its own.
 */
export function randomLeaseId(): string {
  for (;;) {
    const id = BigInt.asUintN(63, randomBytes(8).readBigUInt64BE());
    if (id !== 0n) return id.toString();
  }
}

/** LeaseGrantRequest: TTL (1), ID (2). */
export function encodeLeaseGrant(ttlSeconds: number, id: Int64): Buffer {
  return new WireWriter().uint(1, ttlSeconds).int64(2, id).finish();
}

/** A request whose only field is an int64 ID (1): LeaseRevoke, LeaseKeepAlive, LeaseTimeToLive. */
export function encodeLeaseId(id: Int64): Buffer {
  return new WireWriter().int64(1, id).finish();
}

/** LeaseTimeToLiveRequest asking for the lease's keys: ID (1), keys (2) true. */
export function encodeLeaseKeysRequest(id: Int64): Buffer {
  return new WireWriter().int64(1, id).bool(2, true).finish();
}

/** The keys (5) of a LeaseTimeToLiveResponse; none when its TTL (3) says the lease is gone (-1). */
export function decodeLeaseKeys(buf: Buffer): string[] {
  const r = new WireReader(buf, "lease response");
  const keys: string[] = [];
  let ttl = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 3 << 3) ttl = Number(r.int64());
    else if (tag === ((5 << 3) | 2)) keys.push(r.bytes().toString("utf8"));
    else r.skip(tag & 7);
  }
  r.done();
  return ttl < 0 ? [] : keys;
}

/** The header's revision (1), ID (2), TTL (3) and error (4) of a LeaseGrantResponse or a LeaseKeepAliveResponse. */
export function decodeLeaseReply(buf: Buffer): { id: string; ttl: number; error: string; revision: number } {
  const r = new WireReader(buf, "lease response");
  let id = 0n;
  let ttl = 0;
  let error = "";
  let revision = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) revision = headerRevision(r.bytes());
    else if (tag === 2 << 3) id = r.int64();
    else if (tag === 3 << 3) ttl = Number(r.int64());
    else if (tag === ((4 << 3) | 2)) error = r.bytes().toString("utf8");
    else r.skip(tag & 7);
  }
  r.done();
  return { id: id.toString(), ttl, error, revision };
}
