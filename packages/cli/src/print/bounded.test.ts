import { describe, expect, it } from "vitest";
import { bounded, DEPTH_MARKER, safeJson } from "./bounded.js";

describe("bounded", () => {
  it("copies values as JSON.stringify sees them, cut at the depth with the marker", () => {
    expect(bounded({ a: [1, { b: 2 }], d: { toJSON: () => "x" } }, 3)).toEqual({ a: [1, { b: 2 }], d: "x" });
    expect(bounded({ a: { b: { c: {} } } }, 2)).toEqual({ a: { b: DEPTH_MARKER } });
    expect(bounded([[[]]], 1)).toEqual([DEPTH_MARKER]);
    expect(bounded("s")).toBe("s");
  });

  it("safeJson is JSON.stringify for normal values and never overflows on deep ones", () => {
    expect(safeJson({ a: [1] }, 2)).toBe(JSON.stringify({ a: [1] }, null, 2));
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    // Node 20 and 24 overflow in JSON.stringify here; Node 26 does not. safeJson never does, and
    // where it had to cut, what it wrote still parses.
    const out = safeJson(deep);
    expect(out.startsWith("[[[")).toBe(true);
    let overflows = false;
    try {
      JSON.stringify(deep);
    } catch {
      overflows = true;
    }
    if (overflows) expect(JSON.parse(out)).toBeInstanceOf(Array);
  });
});
