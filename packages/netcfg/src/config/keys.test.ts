import { describe, expect, it } from "vitest";
import { closestKey, editDistance, matchKeys } from "./keys.js";

const KNOWN = ["VNI", "Port", "GBP", "Learning", "DirectRouting", "MTU"];

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and adjacent swaps", () => {
    expect(editDistance("network", "network")).toBe(0);
    expect(editDistance("netwrok", "network")).toBe(1);
    expect(editDistance("directroutng", "directrouting")).toBe(1);
    expect(editDistance("vn", "vni")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
});

describe("closestKey", () => {
  it("suggests a key within distance 2, ignoring case", () => {
    expect(closestKey("DirectRoutng", KNOWN)).toBe("DirectRouting");
    expect(closestKey("directrouting", KNOWN)).toBe("DirectRouting");
    expect(closestKey("Prot", KNOWN)).toBe("Port");
    expect(closestKey("Lerning", KNOWN)).toBe("Learning");
  });
  it("suggests nothing when nothing is close", () => {
    expect(closestKey("Foo", KNOWN)).toBeUndefined();
    expect(closestKey("Mode", KNOWN)).toBeUndefined();
    expect(closestKey("x", KNOWN)).toBeUndefined();
  });
});

describe("matchKeys", () => {
  it("matches keys case-insensitively and remembers the spelling", () => {
    const m = matchKeys({ vni: 3, PORT: 4789 }, KNOWN, "/Backend");
    expect(m.values.get("VNI")).toBe(3);
    expect(m.values.get("Port")).toBe(4789);
    expect(m.spelling.get("VNI")).toBe("vni");
    expect(m.warnings).toEqual([]);
  });
  it("warns about unknown keys, with a did-you-mean", () => {
    const m = matchKeys({ DirectRoutng: true, Zebra: 1 }, KNOWN, "/Backend");
    expect(m.values.size).toBe(0);
    expect(m.warnings).toEqual([
      {
        severity: "warning",
        path: "/Backend/DirectRoutng",
        message: 'unknown key "DirectRoutng" is ignored by flannel; did you mean `DirectRouting`?',
      },
      { severity: "warning", path: "/Backend/Zebra", message: 'unknown key "Zebra" is ignored by flannel' },
    ]);
  });
  it("uses a hint for keys that belong elsewhere", () => {
    const m = matchKeys(
      { network: "x" },
      KNOWN,
      "/Backend",
      new Map([["network", "it belongs at the top level"]]),
    );
    expect(m.warnings[0]?.message).toBe(
      'unknown key "network" is ignored by flannel; it belongs at the top level',
    );
  });
  it("warns when two spellings set one field, and keeps the last as Go does", () => {
    const m = matchKeys({ vni: 1, VNI: 2 }, KNOWN, "");
    expect(m.values.get("VNI")).toBe(2);
    expect(m.spelling.get("VNI")).toBe("VNI");
    expect(m.warnings).toEqual([
      {
        severity: "warning",
        path: "/VNI",
        message: '"vni" and "VNI" both set VNI; flannel uses the last one ("VNI")',
      },
    ]);
  });
  it("escapes JSON pointer tokens", () => {
    const m = matchKeys({ "a/b~c": 1 }, KNOWN, "");
    expect(m.warnings[0]?.path).toBe("/a~1b~0c");
  });
});
