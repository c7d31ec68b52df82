import { describe, expect, it } from "vitest";
import { decodeRangeResponse, decodeTtl, peekRangeResponse, walkRangeResponse } from "./reply-decoders.js";

/**
 * Replies captured from etcd 3.4.x on loopback (raw bytes of makeUnaryRequest with an identity
 * decoder): a lease granted with TTL 600 (id 8852847825691909638, 63 bits), one key on it, and a
 * key written twice whose second value is not ASCII.
 */
const CAPTURED = {
  range: [
    "0a1908abc0a5cc9bf584b28c0110dbf591b2b3c0ada26d18042002129f010a272f636f72656f732e636f6d2f6e657477",
    "6f726b2f7375626e6574732f31302e352e372e302d32341002180220012a647b225075626c69634950223a223139322e",
    "302e322e37222c224261636b656e6454797065223a2276786c616e222c224261636b656e6444617461223a7b22564e49",
    "223a312c22567465704d4143223a2230323a30303a30303a30303a30303a3037227d7d3086bcd2e796c6e8ed7a123a0a",
    "272f636f72656f732e636f6d2f6e6574776f726b2f7375626e6574732f31302e352e392e302d32341003180420022a09",
    "c3bc6ec3af636f64652002",
  ].join(""),
  rangeLimit1: [
    "0a1908abc0a5cc9bf584b28c0110dbf591b2b3c0ada26d18042002129f010a272f636f72656f732e636f6d2f6e657477",
    "6f726b2f7375626e6574732f31302e352e372e302d32341002180220012a647b225075626c69634950223a223139322e",
    "302e322e37222c224261636b656e6454797065223a2276786c616e222c224261636b656e6444617461223a7b22564e49",
    "223a312c22567465704d4143223a2230323a30303a30303a30303a30303a3037227d7d3086bcd2e796c6e8ed7a180120",
    "02",
  ].join(""),
  rangeEmpty: ["0a1908abc0a5cc9bf584b28c0110dbf591b2b3c0ada26d18042002"].join(""),
  ttlLive: ["0a1908abc0a5cc9bf584b28c0110dbf591b2b3c0ada26d180420021086bcd2e796c6e8ed7a18d70420d804"].join(
    "",
  ),
  ttlGone: ["0a1908abc0a5cc9bf584b28c0110dbf591b2b3c0ada26d1804200210b96018ffffffffffffffffff01"].join(""),
};
const bytes = (name: keyof typeof CAPTURED) => Buffer.from(CAPTURED[name], "hex");
const LEASE = "8852847825691909638";

describe("decodeRangeResponse on captured bytes", () => {
  it("decodes keys, values, revisions, versions and 63-bit lease ids", () => {
    const page = decodeRangeResponse(bytes("range"));
    expect(page.revision).toBe(4);
    expect(page.more).toBe(false);
    expect(page.kvs.map(({ value, ...rest }) => ({ ...rest, value: value.toString("utf8") }))).toEqual([
      {
        key: "/coreos.com/network/subnets/10.5.7.0-24",
        value:
          '{"PublicIP":"192.0.2.7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:07"}}',
        createRevision: 2,
        modRevision: 2,
        version: 1,
        lease: LEASE,
      },
      {
        key: "/coreos.com/network/subnets/10.5.9.0-24",
        value: "\u00fcn\u00efcode",
        createRevision: 3,
        modRevision: 4,
        version: 2,
        lease: "0",
      },
    ]);
    expect(page.lastKey?.toString()).toBe("/coreos.com/network/subnets/10.5.9.0-24");
  });

  it("reads `more` and keeps the last key of a limited page", () => {
    const page = decodeRangeResponse(bytes("rangeLimit1"));
    expect(page.more).toBe(true);
    expect(page.kvs).toHaveLength(1);
    expect(page.lastKey?.toString()).toBe("/coreos.com/network/subnets/10.5.7.0-24");
  });

  it("decodes an empty range: the header's revision, no keys, no last key", () => {
    const page = decodeRangeResponse(bytes("rangeEmpty"));
    expect(page).toEqual({ revision: 4, more: false, kvs: [] });
  });

  it("skips fields it does not know, by wire type", () => {
    // Field 15 as a varint, field 14 length-delimited, field 13 fixed64, field 12 fixed32, before the reply.
    const unknown = Buffer.from("7801" + "7203616263" + "690102030405060708" + "6501020304", "hex");
    const page = decodeRangeResponse(Buffer.concat([unknown, bytes("range")]));
    expect(page.kvs.map((kv) => kv.key)).toHaveLength(2);
    expect(page.revision).toBe(4);
  });

  it("throws on a truncated reply instead of returning part of it", () => {
    const full = bytes("range");
    for (const cut of [1, 10, 40, full.length - 1]) {
      expect(() => decodeRangeResponse(full.subarray(0, cut)), String(cut)).toThrow(/truncated/);
    }
  });
});

describe("peekRangeResponse", () => {
  it("says what walkRangeResponse says, without visiting a key, on every captured reply", () => {
    const unknown = Buffer.from("7801" + "7203616263" + "690102030405060708" + "6501020304", "hex");
    for (const buf of [
      bytes("range"),
      bytes("rangeLimit1"),
      bytes("rangeEmpty"),
      Buffer.concat([unknown, bytes("range")]),
    ]) {
      expect(peekRangeResponse(buf)).toEqual(walkRangeResponse(buf, () => undefined));
    }
    expect(peekRangeResponse(bytes("rangeLimit1")).lastKey?.toString()).toBe(
      "/coreos.com/network/subnets/10.5.7.0-24",
    );
  });

  it("throws on a truncated reply as the walk does", () => {
    const full = bytes("range");
    for (const cut of [1, 10, 40, 60, full.length - 1]) {
      expect(() => peekRangeResponse(full.subarray(0, cut)), String(cut)).toThrow(/truncated/);
    }
  });
});

describe("decodeTtl on captured bytes", () => {
  it("reads the remaining TTL of a live lease", () => {
    expect(decodeTtl(bytes("ttlLive"))).toBe(599);
  });

  it("reads -1 (ten bytes of two's complement) for a lease that is gone", () => {
    expect(decodeTtl(bytes("ttlGone"))).toBe(-1);
  });

  it("throws on a truncated reply", () => {
    const full = bytes("ttlGone");
    expect(() => decodeTtl(full.subarray(0, full.length - 1))).toThrow(/truncated/);
  });
});
