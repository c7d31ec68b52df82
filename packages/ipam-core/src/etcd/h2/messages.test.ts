/**
 * podnet's etcd messages against protobufjs as the oracle (loaded here only, from etcd3's own
 * dependency and .proto files): our encodings equal protobufjs's, and our decoders read what
 * protobufjs writes, unknown fields skipped.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { WireWriter } from "../protobuf-wire.js";
import { decodeTtl } from "../reply-decoders.js";
import { decodeAuthenticate, encodeAuthenticate } from "./auth-messages.js";
import { decodeCount, decodeTxn, encodeCompaction, encodeRange, encodeTxn } from "./kv-messages.js";
import { decodeLeaseReply, encodeLeaseGrant, encodeLeaseId, randomLeaseId } from "./lease-messages.js";
import { decodeStatus } from "./maintenance-messages.js";

const etcd3 = createRequire(import.meta.url).resolve("etcd3");
/** What the test uses of protobufjs (not a dependency of ipam-core's own: etcd3's). */
interface PbType {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromObject(o: Record<string, unknown>): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
  add(f: unknown): PbType;
}
interface Protobuf {
  Root: new () => {
    resolvePath: (origin: string, target: string) => string;
    loadSync(file: string, opts: Record<string, unknown>): void;
    lookupType(name: string): PbType;
  };
  Type: new (name: string) => PbType;
  Field: new (name: string, id: number, type: string) => unknown;
}
const protobuf = createRequire(etcd3)("protobufjs") as Protobuf;
const root = new protobuf.Root();
root.resolvePath = (_origin: string, target: string) =>
  join(dirname(etcd3), "..", "proto", target.replace(/^\.\//, ""));
root.loadSync("rpc.proto", { keepCase: true });
const T = (name: string) => root.lookupType(`etcdserverpb.${name}`);
const oracle = (name: string, value: Record<string, unknown>) => {
  const t = T(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
};
/** A message with unknown fields (numbers no etcd message uses) around it. */
const withUnknown = (buf: Buffer) =>
  Buffer.concat([
    new WireWriter().uint(900, 7).bytes(901, "x").finish(),
    buf,
    new WireWriter().int64(902, -1n).finish(),
  ]);

const LEASE = "7587862072906622979"; // above 2^53, as etcd's ids are
const BIG = "9223372036854775807";

describe("requests equal protobufjs's encoding", () => {
  it("RangeRequest", () => {
    expect(encodeRange({ key: "/a" })).toEqual(oracle("RangeRequest", { key: Buffer.from("/a") }));
    expect(
      encodeRange({
        key: Buffer.from("/coreos.com/"),
        rangeEnd: Buffer.from("/coreos.com0"),
        limit: 32768,
        revision: 123456789,
        keysOnly: true,
        countOnly: true,
      }),
    ).toEqual(
      oracle("RangeRequest", {
        key: Buffer.from("/coreos.com/"),
        range_end: Buffer.from("/coreos.com0"),
        limit: 32768,
        revision: 123456789,
        keys_only: true,
        count_only: true,
      }),
    );
  });

  it("TxnRequest: compares on mod revision, lease and value (0 written), puts with leases, deletes, gets", () => {
    const ours = encodeTxn(
      [
        { key: "/k", modRevision: 0 },
        { key: "/k", modRevision: 42 },
        { key: "/l", lease: "0" },
        { key: "/l", lease: LEASE },
        { key: "/v", value: "" },
        { key: "/v", value: Buffer.from([0, 255]) },
      ],
      [{ put: "/k", value: "v", lease: LEASE }, { put: "/e", value: "" }, { delete: "/d" }],
      [{ get: "/k" }],
    );
    // result EQUAL is 0, protobuf's default, which neither side writes unless asked to.
    const cmp = (target: string, key: string, field: string, v: unknown) => ({
      target,
      key: Buffer.from(key),
      [field]: v,
    });
    const theirs = oracle("TxnRequest", {
      compare: [
        cmp("Mod", "/k", "mod_revision", 0),
        cmp("Mod", "/k", "mod_revision", 42),
        cmp("Lease", "/l", "lease", 0),
        cmp("Lease", "/l", "lease", LEASE),
        cmp("Value", "/v", "value", Buffer.alloc(0)),
        cmp("Value", "/v", "value", Buffer.from([0, 255])),
      ],
      success: [
        { request_put: { key: Buffer.from("/k"), value: Buffer.from("v"), lease: LEASE } },
        { request_put: { key: Buffer.from("/e") } },
        { request_delete_range: { key: Buffer.from("/d") } },
      ],
      failure: [{ request_range: { key: Buffer.from("/k") } }],
    });
    expect(ours.toString("hex")).toBe(theirs.toString("hex"));
    // And the oneof is set even where its value is 0: a compare with 0, not an unset target.
    const decoded = T("TxnRequest").toObject(T("TxnRequest").decode(ours), { oneofs: true, longs: String });
    const compares = decoded["compare"] as { target_union: string }[];
    expect(compares.map((c) => c.target_union)).toEqual([
      "mod_revision",
      "mod_revision",
      "lease",
      "lease",
      "value",
      "value",
    ]);
  });

  it("Lease, Compaction and Authenticate requests", () => {
    expect(encodeLeaseGrant(600, LEASE)).toEqual(oracle("LeaseGrantRequest", { TTL: 600, ID: LEASE }));
    expect(encodeLeaseGrant(9_000_000_000, BIG)).toEqual(
      oracle("LeaseGrantRequest", { TTL: 9_000_000_000, ID: BIG }),
    );
    for (const name of ["LeaseRevokeRequest", "LeaseKeepAliveRequest", "LeaseTimeToLiveRequest"]) {
      expect(encodeLeaseId(LEASE)).toEqual(oracle(name, { ID: LEASE }));
    }
    expect(encodeCompaction(99, true)).toEqual(oracle("CompactionRequest", { revision: 99, physical: true }));
    expect(encodeAuthenticate("root", "pässword")).toEqual(
      oracle("AuthenticateRequest", { name: "root", password: "pässword" }),
    );
  });

  it("the writer's int64 is two's complement, as protobufjs's", () => {
    const t = new WireWriter()
      .int64(1, -1n)
      .int64(2, -123456789012n)
      .int64(3, 2n ** 62n)
      .finish();
    const ours = Buffer.from(t);
    const type = new protobuf.Type("I")
      .add(new protobuf.Field("a", 1, "int64"))
      .add(new protobuf.Field("b", 2, "int64"))
      .add(new protobuf.Field("c", 3, "int64"));
    expect(ours).toEqual(
      Buffer.from(type.encode({ a: -1, b: "-123456789012", c: (2n ** 62n).toString() }).finish()),
    );
  });
});

describe("replies protobufjs writes decode to what was written", () => {
  const header = {
    cluster_id: "17237436991929493444",
    member_id: "9372538179322589801",
    revision: 1234,
    raft_term: 5,
  };

  it("TxnResponse: succeeded, revision, and each range response's first key as `gets`", () => {
    const kv = {
      key: Buffer.from("/won"),
      value: Buffer.from("w"),
      create_revision: 3,
      mod_revision: 7,
      version: 2,
      lease: LEASE,
    };
    const reply = oracle("TxnResponse", {
      header,
      succeeded: true,
      responses: [
        { response_put: { header } },
        { response_range: { header, kvs: [kv], count: 1 } },
        { response_delete_range: { header, deleted: 1 } },
        { response_range: { header, kvs: [], count: 0 } },
      ],
    });
    expect(decodeTxn(withUnknown(reply))).toEqual({
      succeeded: true,
      revision: 1234,
      gets: [
        { key: "/won", value: Buffer.from("w"), createRevision: 3, modRevision: 7, version: 2, lease: LEASE },
        undefined,
      ],
    });
    expect(decodeTxn(oracle("TxnResponse", { header }))).toEqual({
      succeeded: false,
      revision: 1234,
      gets: [],
    });
  });

  it("RangeResponse count, LeaseGrant/KeepAlive/TimeToLive, Authenticate and Status replies", () => {
    expect(decodeCount(withUnknown(oracle("RangeResponse", { header, count: 65000, more: true })))).toEqual({
      revision: 1234,
      count: 65000,
    });
    expect(
      decodeLeaseReply(withUnknown(oracle("LeaseGrantResponse", { header, ID: LEASE, TTL: 600, error: "" }))),
    ).toEqual({ id: LEASE, ttl: 600, error: "", revision: 1234 });
    expect(decodeLeaseReply(oracle("LeaseKeepAliveResponse", { header, ID: LEASE }))).toEqual({
      id: LEASE,
      ttl: 0,
      error: "",
      revision: 1234,
    });
    expect(decodeTtl(oracle("LeaseTimeToLiveResponse", { header, ID: LEASE, TTL: -1 }))).toBe(-1);
    expect(
      decodeAuthenticate(withUnknown(oracle("AuthenticateResponse", { header, token: "abc.123" }))),
    ).toBe("abc.123");
    expect(
      decodeStatus(
        withUnknown(
          oracle("StatusResponse", {
            header,
            version: "3.4.27",
            dbSize: 20480,
            leader: "18446744073709551615",
            raftIndex: 9,
            raftTerm: 5,
            errors: ["x"],
            dbSizeInUse: 100,
          }),
        ),
      ),
    ).toEqual({
      memberId: "9372538179322589801",
      revision: 1234,
      version: "3.4.27",
      dbSize: 20480,
      leader: "18446744073709551615",
      raftTerm: 5,
    });
  });
});

describe("randomLeaseId", () => {
  it("is a positive 63-bit decimal, different each time", () => {
    const ids = new Set(Array.from({ length: 100 }, randomLeaseId));
    expect(ids.size).toBe(100);
    for (const id of ids) {
      expect(id).toMatch(/^[1-9]\d*$/);
      expect(BigInt(id)).toBeLessThan(2n ** 63n);
    }
  });
});
