import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolvedConfigSchema } from "./schema.js";
import { type ValidationResult, validateConfig, validateConfigText } from "./validate.js";

const pairs = (ds: { path: string; message: string }[]) => ds.map((d) => [d.path, d.message]);

describe("validateConfig", () => {
  it("accepts a plain vxlan config without findings", () => {
    const r = validateConfig({ Network: "10.5.0.0/16", Backend: { Type: "vxlan" } });
    expect(r).toEqual({
      valid: true,
      errors: [],
      warnings: [],
      resolved: {
        Network: "10.5.0.0/16",
        SubnetLen: 24,
        SubnetMin: "10.5.1.0",
        SubnetMax: "10.5.255.0",
        EnableIPv4: true,
        EnableIPv6: false,
        EnableNFTables: false,
        Backend: { Type: "vxlan", VNI: 1, Port: 0, GBP: false, Learning: false, DirectRouting: false },
      },
    });
  });

  it("wants a JSON object", () => {
    for (const doc of [null, 3, "x", [], true, undefined]) {
      const r = validateConfig(doc);
      expect(r.valid).toBe(false);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]?.path).toBe("");
      expect(r.errors[0]?.message).toMatch(/^the network config must be a JSON object, not /);
    }
    expect(validateConfig([]).errors[0]?.message).toBe(
      "the network config must be a JSON object, not an array",
    );
  });

  it("names the path and the expected type of a mistyped field", () => {
    const r = validateConfig({
      Network: 10,
      SubnetLen: "24",
      SubnetMin: "10.5.1",
      EnableIPv6: "yes",
      EnableNFTables: 0,
      IPv6SubnetMax: "10.0.0.1",
      Backend: { Type: "vxlan" },
    });
    expect(pairs(r.errors)).toEqual([
      ["/Network", 'Network must be a CIDR string such as "10.5.0.0/16", not the number 10'],
      ["/SubnetLen", 'SubnetLen must be an integer ≥ 0, not the string "24"'],
      ["/SubnetMin", 'SubnetMin must be an IPv4 address such as "10.5.1.0", not the string "10.5.1"'],
      ["/EnableIPv6", 'EnableIPv6 must be true or false, not the string "yes"'],
      [
        "/IPv6SubnetMax",
        'IPv6SubnetMax must be an IPv6 address such as "fc00:0:0:1::", not the string "10.0.0.1"',
      ],
      ["/EnableNFTables", "EnableNFTables must be true or false, not the number 0"],
    ]);
    expect(r.resolved).toBeUndefined();
  });

  it("rejects non-integer and negative lengths", () => {
    expect(
      pairs(validateConfig({ Network: "10.5.0.0/16", SubnetLen: 24.5, Backend: { Type: "vxlan" } }).errors),
    ).toEqual([["/SubnetLen", "SubnetLen must be an integer ≥ 0, not the number 24.5"]]);
    expect(
      validateConfig({ Network: "10.5.0.0/16", IPv6SubnetLen: -64, Backend: { Type: "vxlan" } }).valid,
    ).toBe(false);
  });

  it("matches top-level keys case-insensitively", () => {
    const r = validateConfig({
      NETWORK: "10.5.0.0/16",
      subnetlen: 26,
      enableipv6: true,
      ipv6network: "fc00::/48",
      EnableNfTables: true,
      BACKEND: { Type: "vxlan" },
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.resolved).toMatchObject({
      Network: "10.5.0.0/16",
      SubnetLen: 26,
      EnableIPv6: true,
      EnableNFTables: true,
    });
  });

  it("warns about unknown keys with a did-you-mean, and about backend fields at the top level", () => {
    const r = validateConfig({
      Network: "10.5.0.0/16",
      SubetLen: 24,
      vni: 2,
      Colour: "red",
      Backend: { Type: "vxlan" },
    });
    expect(r.valid).toBe(true);
    expect(pairs(r.warnings)).toEqual([
      ["/SubetLen", 'unknown key "SubetLen" is ignored by flannel; did you mean `SubnetLen`?'],
      ["/vni", 'unknown key "vni" is ignored by flannel; `VNI` belongs inside Backend'],
      ["/Colour", 'unknown key "Colour" is ignored by flannel'],
    ]);
  });

  it("warns about two spellings of one key; the last wins", () => {
    const r = validateConfig({ network: "10.1.0.0/16", Network: "10.2.0.0/16", Backend: { Type: "vxlan" } });
    expect(pairs(r.warnings)).toEqual([
      ["/Network", '"network" and "Network" both set Network; flannel uses the last one ("Network")'],
    ]);
    expect(r.resolved?.Network).toBe("10.2.0.0/16");
  });

  it("still checks the backend when the network part is mistyped", () => {
    const r = validateConfig({ Network: 1, Backend: { Type: "vxlan", VNI: -1 } });
    expect(r.errors.map((e) => e.path)).toEqual(["/Network", "/Backend/VNI"]);
  });
});

describe("validateConfigText", () => {
  it("reports malformed JSON as one error with line and column", () => {
    const r = validateConfigText('{\n  "Network": "10.5.0.0/16"\n  "Backend": {"Type": "vxlan"}\n}');
    expect(r).toEqual({
      valid: false,
      errors: [
        {
          severity: "error",
          path: "",
          message:
            "malformed JSON at line 3, column 3: expected ',' or '}' after a property value but found \"\\\"\"",
          line: 3,
          column: 3,
        },
      ],
      warnings: [],
    });
  });

  it("locates diagnostics in the text", () => {
    const r = validateConfigText(
      '{\n  "Network": "10.5.0.0/16",\n  "Backend": {\n    "Type": "vxlan",\n    "VNI": -1\n  }\n}',
    );
    expect(r.errors).toEqual([
      {
        severity: "error",
        path: "/Backend/VNI",
        message: "VNI must be an integer from 0 to 16777215, not the number -1",
        line: 5,
        column: 5,
      },
    ]);
  });

  it("places a diagnostic about a missing key at its parent", () => {
    const r = validateConfigText('{"Backend": {"Type": "vxlan"}}');
    expect(r.errors).toMatchObject([{ path: "/Network", line: 1, column: 1 }]);
  });

  it("warns about exact duplicate keys", () => {
    const r = validateConfigText(
      '{"Network": "10.1.0.0/16", "Network": "10.2.0.0/16", "Backend": {"Type": "vxlan"}}',
    );
    expect(pairs(r.warnings)).toEqual([
      ["/Network", 'duplicate key "Network": only its last value counts, in JSON.parse and in flannel'],
    ]);
    expect(r.resolved?.Network).toBe("10.2.0.0/16");
  });

  it("refuses a document that is no object", () => {
    expect(validateConfigText("[1]").errors[0]?.message).toBe(
      "the network config must be a JSON object, not an array",
    );
  });
});

/** The invariants every result keeps, whatever the input. */
function expectWellFormed(r: ValidationResult): void {
  expect(r.valid).toBe(r.errors.length === 0);
  for (const d of r.errors) expect(d.severity).toBe("error");
  for (const d of r.warnings) expect(d.severity).toBe("warning");
  for (const d of [...r.errors, ...r.warnings]) {
    expect(typeof d.message).toBe("string");
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toMatch(/^internal error/);
    expect(d.path === "" || d.path.startsWith("/")).toBe(true);
  }
  if (r.resolved !== undefined) expect(resolvedConfigSchema.safeParse(r.resolved).success).toBe(true);
}

const TOP_KEYS = [
  "Network",
  "SubnetLen",
  "SubnetMin",
  "SubnetMax",
  "EnableIPv4",
  "EnableIPv6",
  "IPv6Network",
];
const BACKEND_KEYS = [
  "Type",
  "VNI",
  "Port",
  "MTU",
  "GBP",
  "Learning",
  "DirectRouting",
  "MacPrefix",
  "PSK",
  "Mode",
];

/** Valid documents for every backend type, as the seeds of mutation. */
const seedDocument = fc.record({
  Network: fc.constantFrom("10.5.0.0/16", "10.0.0.0/23", "192.168.0.0/28", "10.3.5.1/16"),
  EnableIPv6: fc.boolean(),
  IPv6Network: fc.constantFrom("fc00::/48", "fd00:1::/64", "2001:db8::/124"),
  Backend: fc.oneof(
    fc.record({
      Type: fc.constant("vxlan"),
      VNI: fc.nat(20_000_000),
      Port: fc.nat(70_000),
      DirectRouting: fc.boolean(),
    }),
    fc.record({ Type: fc.constantFrom("host-gw", "udp", "ipip", "alloc", "tencent-vpc", "extension") }),
    fc.record({ Type: fc.constant("wireguard"), Mode: fc.constantFrom("auto", "ipv4", "x") }),
    fc.record({ Type: fc.constant("ipsec"), PSK: fc.string({ maxLength: 120 }) }),
  ),
});

type Mutation = {
  kind: "drop" | "rename" | "retype";
  inBackend: boolean;
  key: string;
  to: string;
  value: unknown;
};

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("drop", "rename", "retype"),
  inBackend: fc.boolean(),
  key: fc.constantFrom(...TOP_KEYS, ...BACKEND_KEYS, "Backend"),
  to: fc.oneof(
    fc.constantFrom(...TOP_KEYS, ...BACKEND_KEYS).map((k) => k.toLowerCase()),
    fc.string({ maxLength: 12 }),
  ),
  value: fc.oneof(fc.jsonValue(), fc.anything()),
});

function mutate(doc: Record<string, unknown>, m: Mutation): void {
  const backend = doc["Backend"];
  const target =
    m.inBackend && typeof backend === "object" && backend !== null
      ? (backend as Record<string, unknown>)
      : doc;
  if (!(m.key in target)) {
    if (m.kind === "retype") target[m.key] = m.value;
    return;
  }
  const value = target[m.key];
  if (m.kind !== "retype") delete target[m.key];
  if (m.kind === "rename") target[m.to] = value;
  if (m.kind === "retype") target[m.key] = m.value;
}

describe("the validator never throws", () => {
  it("on random JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (doc) => {
        expectWellFormed(validateConfig(doc));
        expectWellFormed(validateConfigText(JSON.stringify(doc) ?? ""));
      }),
      { numRuns: 500 },
    );
  });

  it("on random JavaScript values, under random options", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withNullPrototype: true,
          withBigInt: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
        }),
        fc.record(
          {
            nodes: fc.oneof(fc.integer(), fc.double()),
            underlay: fc.array(fc.string()),
            target: fc.constantFrom("linux" as const, "windows" as const),
          },
          { requiredKeys: [] },
        ),
        (doc, opts) => expectWellFormed(validateConfig(doc, opts)),
      ),
      { numRuns: 500 },
    );
  });

  it("on random objects with flannel's keys", () => {
    const key = fc.constantFrom(
      ...TOP_KEYS,
      "Backend",
      "EnableNFTables",
      "IPv6SubnetLen",
      "IPv6SubnetMin",
      "IPv6SubnetMax",
    );
    fc.assert(
      fc.property(fc.dictionary(key, fc.oneof(fc.jsonValue(), fc.anything())), (doc) =>
        expectWellFormed(validateConfig(doc)),
      ),
      { numRuns: 500 },
    );
  });

  it("on mutated valid documents", () => {
    fc.assert(
      fc.property(
        seedDocument,
        fc.array(mutation, { maxLength: 4 }),
        fc.constantFrom("linux" as const, "windows" as const),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        (seed, mutations, target, nodes) => {
          const doc: Record<string, unknown> = structuredClone(seed);
          for (const m of mutations) mutate(doc, m);
          const r = validateConfig(doc, { target, nodes, underlay: ["10.5.3.0/24", "fc00::/16"] });
          expectWellFormed(r);
          expectWellFormed(validateConfigText(JSON.stringify(doc)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("resolves every unmutated seed with IPv4 on", () => {
    fc.assert(
      fc.property(seedDocument, (seed) => {
        const r = validateConfig(seed);
        expectWellFormed(r);
        if (r.resolved !== undefined) expect(r.resolved.EnableIPv4).toBe(true);
      }),
    );
  });
});
