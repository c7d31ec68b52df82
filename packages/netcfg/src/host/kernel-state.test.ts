import { isPodnetError } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { JsonArraySplitter } from "./kernel-state.js";

/** Feeds `text` in pieces of `size` characters and returns the elements seen. */
function split(text: string, size: number): unknown[] {
  const items: unknown[] = [];
  const splitter = new JsonArraySplitter((item) => items.push(item));
  for (let i = 0; i < text.length; i += size) splitter.push(text.slice(i, i + size));
  splitter.end();
  return items;
}

describe("JsonArraySplitter", () => {
  const elements = [
    { dst: "10.5.7.0", lladdr: "c6:d2:32:6f:8f:44", state: ["PERMANENT"] },
    // A `},{` inside a nested array and inside a string is no place to cut.
    { dst: "10.5.8.0/24", nexthops: [{ gateway: "10.5.8.0" }, { gateway: "10.5.9.0" }], flags: [] },
    { ifname: 'odd},{"name', mac: "c6:00:00:00:00:01" },
    { dst: "10.5.9.0", lladdr: "c6:d2:32:6f:8f:45", state: ["PERMANENT", "NOARP"] },
  ];
  const text = `${JSON.stringify(elements)}\n`;

  it("reads every element whole and in order, however the output is cut", () => {
    for (let size = 1; size <= text.length; size++) expect(split(text, size)).toEqual(elements);
  });

  it("reads an empty array and iproute2's empty output as no elements", () => {
    expect(split("[]\n", 1)).toEqual([]);
    expect(split("", 1)).toEqual([]);
    expect(split(" [ ] ", 2)).toEqual([]);
  });

  it("rejects output that is not a JSON array with one clear error", () => {
    for (const bad of ['Object "neigh" is unknown', '[{"dst":"10.5.7.0"}', '[{"dst":}]']) {
      let err: unknown;
      try {
        split(bad, 3);
      } catch (e) {
        err = e;
      }
      expect(isPodnetError(err, "host")).toBe(true);
    }
  });

  it("hands a callback's own error through unchanged", () => {
    const boom = new Error("boom");
    const splitter = new JsonArraySplitter(() => {
      throw boom;
    });
    expect(() => {
      splitter.push(text);
      splitter.end();
    }).toThrow(boom);
  });
});
