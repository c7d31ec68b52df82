import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJsonSource, positionOf } from "./json-source.js";

function failure(text: string) {
  const r = parseJsonSource(text);
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail`);
  return r;
}

describe("parseJsonSource", () => {
  it("parses what JSON.parse parses", () => {
    const text = '{"a": [1, -2.5e3, true, false, null], "b": {"c": "x\\u00e9\\n\\"y\\""}, "": 0}';
    const r = parseJsonSource(text);
    expect(r.ok && r.value).toEqual(JSON.parse(text));
  });

  it("reports the line and column of a syntax error", () => {
    expect(failure('{\n  "Network": "10.5.0.0/16",\n  "Backend": {"Type": "vxlan",}\n}')).toEqual({
      ok: false,
      message: 'expected a property name in double quotes but found "}" (a trailing comma is not allowed)',
      position: { line: 3, column: 31 },
    });
    expect(failure('{"Network": "10.5.0.0/16"').position).toEqual({ line: 1, column: 26 });
    expect(failure('{"Network": "10.5.0.0/16"').message).toBe(
      "expected ',' or '}' after a property value but the text ended",
    );
    expect(failure("").message).toBe("expected a value but the text ended");
    expect(failure('{"a": 01}').message).toBe('malformed number "01"');
    expect(failure('{"a": "x\ny"}').position).toEqual({ line: 1, column: 9 });
    expect(failure('{"a": "abc').message).toBe("unterminated string");
    expect(failure('{"a": tru}').message).toBe('expected a value but found "t"');
    expect(failure("{} x").message).toBe("unexpected text after the JSON value");
  });

  it("maps JSON pointers to positions", () => {
    const r = parseJsonSource('{\n  "Backend": {\n    "VNI": 1\n  },\n  "a/b": [7]\n}');
    if (!r.ok) throw new Error("parse failed");
    expect(r.positions.get("")).toEqual({ line: 1, column: 1 });
    expect(r.positions.get("/Backend")).toEqual({ line: 2, column: 3 });
    expect(r.positions.get("/Backend/VNI")).toEqual({ line: 3, column: 5 });
    expect(r.positions.get("/a~1b/0")).toEqual({ line: 5, column: 11 });
  });

  it("finds duplicate keys and keeps the last value", () => {
    const r = parseJsonSource('{"Network": "a", "Network": "b"}');
    expect(r.ok && r.duplicates).toEqual(["/Network"]);
    expect(r.ok && r.value).toEqual({ Network: "b" });
  });

  it("makes __proto__ an own property, as JSON.parse does", () => {
    const r = parseJsonSource('{"__proto__": {"x": 1}}');
    if (!r.ok) throw new Error("parse failed");
    expect(Object.keys(r.value as object)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype);
  });

  it("refuses nesting deeper than 512 levels instead of overflowing the stack", () => {
    expect(failure("[".repeat(100_000)).message).toBe("nested deeper than 512 levels");
  });

  it("agrees with JSON.parse on random JSON texts", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value, null, 1);
        const r = parseJsonSource(text);
        expect(r.ok && r.value).toEqual(JSON.parse(text));
      }),
    );
  });

  it("accepts exactly what JSON.parse accepts on random strings", () => {
    const alphabet = fc.constantFrom(...'{}[]:,"\\ \n\t0123456789-+.eEtruefalsn/uA'.split(""));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 30 }).map((cs) => cs.join("")),
        (text) => {
          let expected: boolean;
          try {
            JSON.parse(text);
            expected = true;
          } catch {
            expected = false;
          }
          expect(parseJsonSource(text).ok).toBe(expected);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("positionOf", () => {
  it("counts lines and columns from 1", () => {
    expect(positionOf("ab\ncd", 0)).toEqual({ line: 1, column: 1 });
    expect(positionOf("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
  });
});
