import { describe, expect, it } from "vitest";
import { sinkText } from "./byte-sink.js";
import { jsonChunks, writeJsonArray } from "./json-stream.js";
import { LazyArray, render } from "./output.js";

const rows = [
  { a: 1, b: "x" },
  { a: 2, b: null, c: [1, { d: true }] },
];
const lazy = () => new LazyArray(rows.length, () => rows);
const text = (value: unknown, pretty: boolean) =>
  sinkText((out) => {
    for (const part of jsonChunks(value, { pretty })) {
      if (typeof part === "string") out.text(part);
      else for (const _ of part.write(out));
    }
  });

describe("jsonChunks", () => {
  it("writes a lazy array compactly, element by element, as JSON.stringify would", () => {
    expect(text(lazy(), false)).toBe(JSON.stringify(rows));
    expect([...jsonChunks(lazy(), { pretty: false })].length).toBeGreaterThan(rows.length);
    expect(text(new LazyArray(0, () => []), false)).toBe("[]");
  });

  it("writes a lazy array inside a plain object, skipping what JSON.stringify skips", () => {
    const value = { revision: 7, skipped: undefined, fn: () => 1, items: lazy(), tail: "t" };
    expect(text(value, false)).toBe(JSON.stringify({ revision: 7, items: rows, tail: "t" }));
    expect(text(value, true)).toBe(JSON.stringify({ revision: 7, items: rows, tail: "t" }, null, 2));
  });

  it("indents with pretty exactly as JSON.stringify(value, null, 2)", () => {
    expect(text(lazy(), true)).toBe(JSON.stringify(rows, null, 2));
    expect(text({ plain: [1, 2] }, true)).toBe(JSON.stringify({ plain: [1, 2] }, null, 2));
    expect(text({ plain: [1, 2] }, false)).toBe('{"plain":[1,2]}');
  });

  it("writes a lazy array's own compact writer in place of its elements", () => {
    const texts = rows.map((r) => JSON.stringify(r));
    const own = new LazyArray(
      rows.length,
      () => rows,
      (out) => writeJsonArray(texts, out),
    );
    expect(text({ items: own, n: 1 }, false)).toBe(JSON.stringify({ items: rows, n: 1 }));
    expect(
      text(
        new LazyArray(
          0,
          () => [],
          (out) => writeJsonArray([], out),
        ),
        false,
      ),
    ).toBe("[]");
  });

  it("render() keeps indenting by default and is compact when asked", async () => {
    const result = { data: { items: lazy() }, human: () => "" };
    expect(await render(result, "json")).toBe(`${JSON.stringify({ items: rows }, null, 2)}\n`);
    expect(await render(result, "json", false)).toBe(`${JSON.stringify({ items: rows })}\n`);
  });
});
