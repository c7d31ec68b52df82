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

/** What a walk visits of each key, as plain data (the cursor is reused). */
function visited(reply: Buffer | readonly Buffer[]): { walk: unknown; keys: unknown[] } {
  const keys: unknown[] = [];
  const walk = walkRangeResponse(reply, (c) =>
    keys.push({
      key: c.buf.toString("latin1", c.keyStart, c.keyEnd),
      value: c.buf.toString("latin1", c.valueStart, c.valueEnd),
      createRevision: c.createRevision,
      modRevision: c.modRevision,
      version: c.version,
      lease: c.lease(),
    }),
  );
  return { walk, keys };
}

/** `buf` cut at each of `cuts` (ascending) into pieces, each a view of a buffer of its own. */
function piecesAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [0, ...cuts, buf.length];
  return at.slice(1).map((end, i) => Buffer.from(buf.subarray(at[i], end)));
}

describe("walkRangeResponse and peekRangeResponse on a reply in pieces", () => {
  const unknown = Buffer.from("7801" + "7203616263" + "690102030405060708" + "6501020304", "hex");
  const replies = {
    range: bytes("range"),
    rangeLimit1: bytes("rangeLimit1"),
    rangeEmpty: bytes("rangeEmpty"),
    unknownFields: Buffer.concat([unknown, bytes("range")]),
  };

  it("visits the same keys and says the same, cut in two at every byte offset", () => {
    for (const [name, buf] of Object.entries(replies)) {
      const whole = visited(buf);
      for (let cut = 0; cut <= buf.length; cut++) {
        const pieces = piecesAt(buf, [cut]);
        expect(visited(pieces), `${name} cut at ${cut}`).toEqual(whole);
        expect(peekRangeResponse(pieces), `${name} cut at ${cut}`).toEqual(whole.walk);
      }
    }
  });

  it("visits the same keys cut into pieces of every size from 1 byte, empty pieces among them", () => {
    for (const [name, buf] of Object.entries(replies)) {
      const whole = visited(buf);
      for (let size = 1; size <= buf.length; size++) {
        const cuts: number[] = [];
        for (let at = size; at < buf.length; at += size) cuts.push(at, at);
        const pieces = piecesAt(buf, cuts);
        expect(visited(pieces), `${name} in pieces of ${size}`).toEqual(whole);
        expect(peekRangeResponse(pieces), `${name} in pieces of ${size}`).toEqual(whole.walk);
      }
    }
  });

  it("points the cursor into the piece that holds a key whole", () => {
    // Many copies of the captured kvs, cut into pieces.
    const kvs = bytes("range").subarray(27);
    const big = Buffer.concat([bytes("rangeEmpty"), ...Array.from({ length: 400 }, () => kvs)]);
    expect(big.length).toBeGreaterThan(64 << 10);
    const pieces = piecesAt(big, [16_384, 32_768, 49_152]);
    let inPlace = 0;
    let copied = 0;
    walkRangeResponse(pieces, (c) => {
      if (pieces.includes(c.buf)) inPlace++;
      else copied++;
    });
    expect(inPlace + copied).toBe(800);
    // Only a key that straddles a cut is copied (at most one per cut).
    expect(copied).toBeLessThanOrEqual(3);
  });

  it("throws on a reply cut short in pieces where the whole one throws, and reads the same where it does not", () => {
    const full = bytes("range");
    const outcome = (f: () => unknown): unknown => {
      try {
        return f();
      } catch (err) {
        return (err as Error).message;
      }
    };
    let threw = 0;
    for (let cut = 1; cut < full.length; cut++) {
      const short = full.subarray(0, cut);
      const pieces = piecesAt(short, [Math.floor(cut / 2)]);
      const whole = outcome(() => visited(short));
      if (whole === "truncated range response") threw++;
      expect(
        outcome(() => visited(pieces)),
        String(cut),
      ).toEqual(whole);
      expect(
        outcome(() => peekRangeResponse(pieces)),
        String(cut),
      ).toEqual(outcome(() => peekRangeResponse(short)));
    }
    expect(threw).toBeGreaterThan(full.length - 5);
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
