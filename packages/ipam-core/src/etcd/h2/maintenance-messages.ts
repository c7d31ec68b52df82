/** etcd's Maintenance.Status reply (rpc.proto: StatusResponse), the one podnet's health checks read. */
import { WireReader } from "../protobuf-wire.js";

/** The gRPC path of Status (its request is an empty message). */
export const MAINTENANCE_STATUS = "/etcdserverpb.Maintenance/Status";

/** What podnet reads of a StatusResponse; ids are decimal strings (uint64). */
export interface StatusReply {
  readonly memberId: string;
  readonly revision: number;
  readonly version: string;
  readonly dbSize: number;
  readonly leader: string;
  readonly raftTerm: number;
}

const uint64 = (r: WireReader) => BigInt.asUintN(64, r.int64());

/** StatusResponse: header (1: member_id 2, revision 3), version (2), dbSize (3), leader (4), raftTerm (6). */
export function decodeStatus(buf: Buffer): StatusReply {
  const r = new WireReader(buf, "status response");
  let memberId = 0n;
  let revision = 0;
  let version = "";
  let dbSize = 0;
  let leader = 0n;
  let raftTerm = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 2)) {
      const h = new WireReader(r.bytes(), "status response");
      while (h.pos < h.buf.length) {
        const t = h.varint();
        if (t === 2 << 3) memberId = uint64(h);
        else if (t === 3 << 3) revision = h.varint();
        else h.skip(t & 7);
      }
      h.done();
    } else if (tag === ((2 << 3) | 2)) version = r.bytes().toString("utf8");
    else if (tag === 3 << 3) dbSize = r.varint();
    else if (tag === 4 << 3) leader = uint64(r);
    else if (tag === 6 << 3) raftTerm = r.varint();
    else r.skip(tag & 7);
  }
  r.done();
  return { memberId: memberId.toString(), revision, version, dbSize, leader: leader.toString(), raftTerm };
}
