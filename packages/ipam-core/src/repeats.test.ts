import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasRepeats } from "./repeats.js";

describe("hasRepeats", () => {
  it("says whether two of the first n numbers are equal, as a set of them does", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(40), fc.integer({ min: 0, max: 2 ** 32 - 1 }))),
        fc.nat(),
        (xs, cut) => {
          const n = xs.length === 0 ? 0 : cut % (xs.length + 1);
          const values = Uint32Array.from(xs);
          expect(hasRepeats(values, n)).toBe(new Set(xs.slice(0, n)).size < n);
        },
      ),
    );
  });

  it("finds the one repeat among 65,536 distinct numbers, 0 and 2^32 - 1 among them", () => {
    // An odd multiplier is a bijection modulo 2^32: distinct numbers all over the range.
    const values = new Uint32Array(65_537);
    for (let i = 0; i < 65_536; i++) values[i] = Math.imul(i, 0x9e3779b1) >>> 0;
    values[65_535] = 2 ** 32 - 1;
    expect(new Set(values.subarray(0, 65_536)).size).toBe(65_536);
    expect(values[0]).toBe(0);
    expect(hasRepeats(values, 65_536)).toBe(false);
    values[65_536] = values[12_345]!;
    expect(hasRepeats(values, 65_537)).toBe(true);
  });
});
