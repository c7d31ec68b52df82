import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeWatchResponse, encodeWatchCancel, encodeWatchCreate } from "./watch-messages.js";

/** protobufjs on etcd's own .proto files (etcd3 ships them): the oracle, loaded by the test only. */
interface PbType {
  encode(msg: object): { finish(): Uint8Array };
  decode(buf: Uint8Array): object;
  fromObject(o: object): object;
  toObject(m: object, opts: object): Record<string, unknown>;
}
let WatchRequest: PbType;
let WatchResponse: PbType;

beforeAll(() => {
  const etcd3 = createRequire(import.meta.url).resolve("etcd3");
  const loader = createRequire(etcd3).resolve("@grpc/proto-loader");
  const pb = createRequire(loader)("protobufjs") as {
    Root: new () => {
      resolvePath: unknown;
      loadSync(f: string, o: object): { lookupType(n: string): PbType };
    };
  };
  const protoDir = join(dirname(etcd3), "..", "proto");
  const root = new pb.Root();
  root.resolvePath = (_origin: string, target: string) => join(protoDir, target);
  const loaded = root.loadSync("rpc.proto", { keepCase: true });
  WatchRequest = loaded.lookupType("etcdserverpb.WatchRequest");
  WatchResponse = loaded.lookupType("etcdserverpb.WatchResponse");
});

const asObject = (t: PbType, buf: Buffer, opts: object = {}) =>
  t.toObject(t.decode(buf), { longs: String, bytes: String, ...opts });
const encodeResponse = (o: object) => Buffer.from(WatchResponse.encode(WatchResponse.fromObject(o)).finish());
const LEASE = "8852847825691909638";

describe("encodeWatchCreate and encodeWatchCancel", () => {
  it("writes the create request protobufjs reads back field by field", () => {
    const buf = encodeWatchCreate({
      key: Buffer.from("/coreos.com/network/subnets/"),
      rangeEnd: Buffer.from("/coreos.com/network/subnets0"),
      startRevision: 2 ** 40 + 7,
      progressNotify: true,
      prevKv: true,
      fragment: true,
    });
    expect(asObject(WatchRequest, buf)).toEqual({
      create_request: {
        key: Buffer.from("/coreos.com/network/subnets/").toString("base64"),
        range_end: Buffer.from("/coreos.com/network/subnets0").toString("base64"),
        start_revision: String(2 ** 40 + 7),
        progress_notify: true,
        prev_kv: true,
        fragment: true,
      },
    });
  });

  it("leaves out defaults, as protobufjs does", () => {
    const req = { key: Buffer.from("k"), rangeEnd: Buffer.alloc(0), startRevision: 0 };
    const ours = encodeWatchCreate(req);
    const theirs = Buffer.from(
      WatchRequest.encode(WatchRequest.fromObject({ create_request: { key: req.key } })).finish(),
    );
    expect(ours.toString("hex")).toBe(theirs.toString("hex"));
  });

  it("writes a cancel request, watch id 0 included (etcd's first id on a stream)", () => {
    for (const id of [0, 1, 300, 2 ** 35]) {
      expect(asObject(WatchRequest, encodeWatchCancel(id), { defaults: true })).toMatchObject({
        cancel_request: { watch_id: String(id) },
      });
    }
  });

  it("refuses a revision or id protobuf cannot carry exactly", () => {
    expect(() =>
      encodeWatchCreate({ key: Buffer.from("k"), rangeEnd: Buffer.alloc(0), startRevision: -1 }),
    ).toThrow(RangeError);
    expect(() => encodeWatchCancel(2 ** 60)).toThrow(RangeError);
  });
});

describe("decodeWatchResponse", () => {
  it("reads the header revision, the id and the events, with 63-bit lease ids and non-ASCII values", () => {
    const buf = encodeResponse({
      header: {
        cluster_id: "14841639068965178418",
        member_id: "10276657743932975437",
        revision: 981,
        raft_term: 4,
      },
      watch_id: 3,
      events: [
        {
          type: "Put",
          kv: {
            key: Buffer.from("/p/subnets/10.5.7.0-24"),
            create_revision: 970,
            mod_revision: 980,
            version: 3,
            value: Buffer.from('{"PublicIP":"192.0.2.7"}'),
            lease: LEASE,
          },
          prev_kv: {
            key: Buffer.from("/p/subnets/10.5.7.0-24"),
            value: Buffer.from("old"),
            mod_revision: 975,
          },
        },
        { type: "Delete", kv: { key: Buffer.from("/p/subnets/10.5.9.0-24"), mod_revision: 981 } },
        {
          type: "Put",
          kv: { key: Buffer.from("/p/x"), value: Buffer.from("üníçode"), mod_revision: 981, version: 1 },
        },
      ],
    });
    const res = decodeWatchResponse(buf);
    expect({
      ...res,
      events: res.events.map((e) => ({ ...e, kv: { ...e.kv, value: e.kv.value.toString() } })),
    }).toEqual({
      revision: 981,
      watchId: 3,
      created: false,
      canceled: false,
      compactRevision: 0,
      cancelReason: "",
      fragment: false,
      events: [
        {
          type: "put",
          kv: {
            key: "/p/subnets/10.5.7.0-24",
            value: '{"PublicIP":"192.0.2.7"}',
            createRevision: 970,
            modRevision: 980,
            version: 3,
            lease: LEASE,
          },
        },
        {
          type: "delete",
          kv: {
            key: "/p/subnets/10.5.9.0-24",
            value: "",
            createRevision: 0,
            modRevision: 981,
            version: 0,
            lease: "0",
          },
        },
        {
          type: "put",
          kv: { key: "/p/x", value: "üníçode", createRevision: 0, modRevision: 981, version: 1, lease: "0" },
        },
      ],
    });
  });

  it("copies values out of the message, so an event does not keep a large message alive", () => {
    const buf = encodeResponse({ events: [{ kv: { key: Buffer.from("k"), value: Buffer.from("v") } }] });
    const value = decodeWatchResponse(buf).events[0]?.kv.value;
    buf.fill(0);
    expect(value?.toString()).toBe("v");
  });

  it("reads created, canceled, compact_revision, cancel_reason, fragment and the refused id -1", () => {
    expect(decodeWatchResponse(encodeResponse({ header: { revision: 5 }, created: true }))).toMatchObject({
      revision: 5,
      watchId: 0,
      created: true,
      canceled: false,
    });
    expect(
      decodeWatchResponse(encodeResponse({ watch_id: 2, canceled: true, compact_revision: 40 })),
    ).toMatchObject({ watchId: 2, canceled: true, compactRevision: 40, cancelReason: "" });
    expect(
      decodeWatchResponse(
        encodeResponse({
          watch_id: -1,
          created: true,
          canceled: true,
          cancel_reason: "etcdserver: permission denied",
        }),
      ),
    ).toMatchObject({
      watchId: -1,
      created: true,
      canceled: true,
      cancelReason: "etcdserver: permission denied",
    });
    expect(decodeWatchResponse(encodeResponse({ fragment: true })).fragment).toBe(true);
  });

  it("skips fields it does not know (etcd may add some) and refuses a truncated message", () => {
    const known = encodeResponse({
      header: { revision: 9 },
      watch_id: 1,
      events: [{ kv: { key: Buffer.from("k") } }],
    });
    // Field 15 (varint) and field 16 (bytes), as a newer etcd might send.
    const extra = Buffer.concat([known, Buffer.from([0x78, 0x01, 0x82, 0x01, 0x02, 0x61, 0x62])]);
    expect(decodeWatchResponse(extra)).toEqual(decodeWatchResponse(known));
    expect(() => decodeWatchResponse(known.subarray(0, known.length - 1))).toThrow(/truncated/);
  });
});
