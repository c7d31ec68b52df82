import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEPTH_MARKER } from "./bounded.js";
import { LazyArray, parseOutputFormat, type Result, render } from "./output.js";

const result: Result = {
  data: { revision: 7, items: new LazyArray(2, () => [{ a: 1 }, { a: "two" }].values()) },
  human: () => "A\n1\ntwo",
  rows: () => [
    ["1", "x"],
    ["two", "y"],
  ],
};

describe("render", () => {
  it("prints one document in every format", async () => {
    const json = await render(result, "json");
    expect(JSON.parse(json)).toEqual({ revision: 7, items: [{ a: 1 }, { a: "two" }] });
    expect(json).toBe(`${JSON.stringify({ revision: 7, items: [{ a: 1 }, { a: "two" }] }, null, 2)}\n`);
    expect(parse(await render(result, "yaml"))).toEqual(JSON.parse(json));
    expect(await render(result, "simple")).toBe("1\tx\ntwo\ty\n");
    expect(await render(result, "table")).toBe("A\n1\ntwo\n");
  });

  it("cuts a value too deep for JSON.stringify and yaml instead of crashing", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const r: Result = { data: { revision: 1, value: deep }, human: () => "" };
    const json = await render(r, "json");
    expect(json).toContain(DEPTH_MARKER);
    expect(JSON.parse(json)).toHaveProperty("revision", 1);
    expect(await render(r, "yaml")).toContain(DEPTH_MARKER);
  });

  it("names the formats on a bad -o", () => {
    expect(parseOutputFormat("JSON")).toBe("json");
    expect(() => parseOutputFormat("xml")).toThrow(/use one of table, json, yaml, simple/);
  });
});

describe("yaml in pieces", () => {
  const rows = [
    { key: "a", data: { VNI: 1, Note: "line one\nline two\n\nafter a blank" } },
    { key: "b", list: [1, [2, 3]], empty: {}, none: null },
  ];
  const lazy = (items: unknown[]) => new LazyArray(items.length, () => items.values());
  for (const [what, data, plain] of [
    [
      "lazy lists inside an object, one empty, a member left out",
      { revision: 7, rows: lazy(rows), empty: lazy([]), gone: undefined, after: ["x"] },
      { revision: 7, rows, empty: [], after: ["x"] },
    ],
    ["a lazy list at the top", lazy(rows), rows],
    ["an empty lazy list at the top", lazy([]), []],
  ] as const) {
    it(`writes exactly what one document of the whole value would (${what})`, async () => {
      const { toYaml } = await import("./yaml.js");
      const got = await render({ data, human: () => "" }, "yaml");
      expect(got).toBe(toYaml(plain));
    });
  }
});
