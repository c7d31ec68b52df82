import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WireReader, WireWriter } from "./protobuf-wire.js";

/** Field 1 holding `n` as an int64, read back as a decimal string. */
function roundTrip(n: bigint): string {
  const r = new WireReader(new WireWriter().int64(1, n, true).finish(), "test message");
  expect(r.varint()).toBe(1 << 3);
  const text = r.int64Decimal();
  expect(r.pos).toBe(r.buf.length);
  return text;
}

describe("WireReader.int64Decimal", () => {
  it("reads every int64 as the bigint decoder does: small, past 2^53, 63-bit lease ids, negative", () => {
    for (const n of [
      0n,
      1n,
      127n,
      128n,
      2n ** 32n - 1n,
      2n ** 32n,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 63n - 1n,
      -1n,
      -(2n ** 63n),
    ]) {
      expect(roundTrip(n)).toBe(n.toString());
    }
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        (n) => roundTrip(n) === n.toString(),
      ),
      { numRuns: 5000 },
    );
  });

  it("refuses a truncated or overlong varint", () => {
    expect(() => new WireReader(Buffer.from([0x80, 0x80]), "test message").int64Decimal()).toThrow(
      /truncated/,
    );
    expect(() => new WireReader(Buffer.alloc(11, 0xff), "test message").int64Decimal()).toThrow(/malformed/);
  });
});
