import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIPv4Cidr, parseIPv6Cidr } from "./address.js";
import { isPodnetError } from "./errors.js";
import {
  classifyEntry,
  decodeAnyLeaseValue,
  decodeLeaseValue,
  encodeLeaseValue,
  formatLeaseKey,
  hasIPv4,
  type LeaseAttrs,
  leaseKey,
  leaseNameOf,
  parseLeaseKey,
  parseLeaseKey4,
} from "./lease-codec.js";

const SIMPLE = '{"PublicIP":"1.2.3.4","PublicIPv6":null}';
const VXLAN =
  '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const DUAL =
  '{"PublicIP":"192.168.64.3","PublicIPv6":"fd00::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"4a:10:aa:01:02:03"}}';
const WIREGUARD =
  '{"PublicIP":"10.0.0.7","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"Zm9vYmFyK2Jhei9xdXV4PT0rKysrKysrKysrKysrKys=","Port":51820}}';
const HOST_GW = '{"PublicIP":"10.0.0.8","PublicIPv6":null,"BackendType":"host-gw"}';

function decoded(value: string | Uint8Array): LeaseAttrs {
  const result = decodeLeaseValue(value);
  if (!result.ok) throw new Error(`expected a lease, got damaged: ${result.reason}`);
  return result.attrs;
}

describe("lease keys", () => {
  it("parses and formats IPv4 keys", () => {
    const subnet = parseLeaseKey("10.5.52.0-24");
    expect(subnet).toEqual({ ipv4: parseIPv4Cidr("10.5.52.0/24") });
    expect(formatLeaseKey(subnet!)).toBe("10.5.52.0-24");
  });

  it("parses and formats dual-stack keys", () => {
    const subnet = parseLeaseKey("10.5.52.0-24&fc00:0:0:1::-64");
    expect(subnet).toEqual({ ipv4: parseIPv4Cidr("10.5.52.0/24"), ipv6: parseIPv6Cidr("fc00:0:0:1::/64") });
    expect(formatLeaseKey(subnet!)).toBe("10.5.52.0-24&fc00:0:0:1::-64");
    expect(hasIPv4(subnet!)).toBe(true);
  });

  it("reads any IPv6 spelling and writes the canonical one", () => {
    const subnet = parseLeaseKey("10.5.52.0-24&FC00:0000:0:1:0:0:0:0-64");
    expect(subnet).not.toBeNull();
    expect(formatLeaseKey(subnet!)).toBe("10.5.52.0-24&fc00:0:0:1::-64");
  });

  it("reads flannel's IPv6-only keys, whose IPv4 part is 0.0.0.0-0", () => {
    const subnet = parseLeaseKey("0.0.0.0-0&fc00:0:0:1::-64")!;
    expect(subnet.ipv6).toEqual(parseIPv6Cidr("fc00:0:0:1::/64"));
    expect(hasIPv4(subnet)).toBe(false);
    expect(formatLeaseKey(subnet)).toBe("0.0.0.0-0&fc00:0:0:1::-64");
  });

  it("treats anything else as foreign, without throwing", () => {
    for (const name of [
      "",
      "foo",
      "10.5.52.0-33",
      "10.5.52.1-24",
      "10.5.52.0-24&garbage",
      "10.5.52.0-24&",
      "10.5.52.0-24&fc00:0:0:1::-129",
      "10.5.52.0-24&fc00:0:0:1::1-64",
      "10.5.52.0-24&fc00::-64&fc01::-64",
      "010.5.52.0-24",
      "10.5.52.0-024",
      "10.5.52.0-",
      "10.5.52.0/24",
      "10.5.52.0",
      "10.5.52-24",
      "x10.5.52.0-24",
      "10.5.52.0-24x",
      " 10.5.52.0-24",
      "10.5.52.0--24",
      "0.0.0.0-0",
      "fc00::-64",
      "a/10.5.52.0-24",
    ]) {
      expect(parseLeaseKey(name), name).toBeNull();
      const entry = classifyEntry(name, SIMPLE);
      expect(entry.kind, name).toBe("foreign");
      expect(entry.key).toBe(name);
    }
  });

  it("never throws on arbitrary names", () => {
    fc.assert(fc.property(fc.string(), (name) => parseLeaseKey(name) === null || typeof name === "string"));
  });

  it("round-trips every formatted key", () => {
    const net4 = fc
      .record({ ip: fc.integer({ min: 0, max: 0xffffffff }), prefix: fc.integer({ min: 1, max: 32 }) })
      .map(({ ip, prefix }) => ({ ip: prefix === 32 ? ip : (ip - (ip % 2 ** (32 - prefix))) >>> 0, prefix }));
    const net6 = fc
      .record({
        ip: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        prefix: fc.integer({ min: 0, max: 128 }),
      })
      .map(({ ip, prefix }) => ({ ip: (ip >> BigInt(128 - prefix)) << BigInt(128 - prefix), prefix }));
    fc.assert(
      fc.property(net4, fc.option(net6, { nil: undefined }), (ipv4, ipv6) => {
        const subnet = ipv6 === undefined ? { ipv4 } : { ipv4, ipv6 };
        expect(parseLeaseKey(formatLeaseKey(subnet))).toEqual(subnet);
      }),
    );
  });

  it("refuses to format a subnet with host bits", () => {
    expect(() => formatLeaseKey({ ipv4: parseIPv4Cidr("10.5.52.1/24")! })).toThrow(/not a network address/);
    try {
      formatLeaseKey({ ipv4: parseIPv4Cidr("10.5.52.0/24")!, ipv6: parseIPv6Cidr("fc00::1/64")! });
      expect.unreachable();
    } catch (err) {
      expect(isPodnetError(err, "usage")).toBe(true);
    }
  });

  it("builds full keys under the prefix and takes them apart", () => {
    const subnet = parseLeaseKey("10.5.52.0-24")!;
    expect(leaseKey("/coreos.com/network", subnet)).toBe("/coreos.com/network/subnets/10.5.52.0-24");
    expect(leaseKey("/coreos.com/network/", subnet)).toBe("/coreos.com/network/subnets/10.5.52.0-24");
    expect(leaseNameOf("/coreos.com/network/", "/coreos.com/network/subnets/10.5.52.0-24")).toBe(
      "10.5.52.0-24",
    );
    expect(leaseNameOf("/coreos.com/network", "/coreos.com/network/config")).toBeNull();
    expect(leaseNameOf("/coreos.com/network", "/coreos.com/network/subnetsX/10.5.52.0-24")).toBeNull();
  });
});

describe("lease values", () => {
  it("encodes the spec's examples byte for byte", () => {
    expect(encodeLeaseValue({ publicIP: "1.2.3.4", publicIPv6: null })).toBe(SIMPLE);
    expect(
      encodeLeaseValue({
        publicIP: "192.168.64.3",
        publicIPv6: null,
        backendType: "vxlan",
        backendData: JSON.stringify({ VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" }),
      }),
    ).toBe(VXLAN);
  });

  it("re-encodes what flanneld wrote to identical bytes", () => {
    for (const value of [SIMPLE, VXLAN, DUAL, WIREGUARD, HOST_GW]) {
      expect(encodeLeaseValue(decoded(value))).toBe(value);
      expect(encodeLeaseValue(decoded(new TextEncoder().encode(value)))).toBe(value);
    }
  });

  it("decodes fields and keeps backend data as raw JSON", () => {
    expect(decoded(DUAL)).toEqual({
      publicIP: "192.168.64.3",
      publicIPv6: "fd00::3",
      backendType: "vxlan",
      backendData: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}',
      backendV6Data: '{"VNI":1,"VtepMAC":"4a:10:aa:01:02:03"}',
    });
    expect(decoded(SIMPLE)).toEqual({ publicIP: "1.2.3.4", publicIPv6: null });
    // raw data survives number spellings JSON.parse would lose
    expect(
      decoded('{"PublicIP":"1.2.3.4","BackendData":{"N":12345678901234567890,"F":1.50}}').backendData,
    ).toBe('{"N":12345678901234567890,"F":1.50}');
  });

  it("writes other spellings as flanneld would: field order, omitempty, compact, Go escapes", () => {
    const messy =
      ' { "BackendData" : { "VNI" : 7 , "Note" : "a b<c>&" } , "BackendType":"", "PublicIP" : "10.0.0.1", "Extra": [1] } ';
    expect(encodeLeaseValue(decoded(messy))).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendData":{"VNI":7,"Note":"a b\\u003cc\\u003e\\u0026"}}',
    );
    expect(encodeLeaseValue(decoded('{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendData":null}'))).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":null}',
    );
    expect(
      encodeLeaseValue({ publicIP: "10.0.0.1", publicIPv6: null, backendType: "", backendData: "" }),
    ).toBe('{"PublicIP":"10.0.0.1","PublicIPv6":null}');
  });

  it("writes compact backend data as given and any other spelling compacted with Go's escapes", () => {
    const goEscaped = (json: string) =>
      json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (v, spaced) => {
        const raw = spaced ? JSON.stringify(v, null, 1) : JSON.stringify(v);
        if (raw === "null" || raw === '""') return;
        const value = encodeLeaseValue({ publicIP: "10.0.0.1", publicIPv6: null, backendData: raw });
        expect(value).toBe(
          `{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendData":${goEscaped(JSON.stringify(v))}}`,
        );
      }),
    );
  });

  it("re-encodes any lease it produced to the same bytes", () => {
    const json = fc.jsonValue().map((v) => JSON.stringify(v));
    const attrs = fc.record(
      {
        publicIP: fc.ipV4(),
        publicIPv6: fc.option(fc.ipV6(), { nil: null }),
        backendType: fc.string(),
        backendData: json,
        backendV6Data: json,
      },
      { requiredKeys: ["publicIP", "publicIPv6"] },
    );
    fc.assert(
      fc.property(attrs, (a) => {
        const bytes = encodeLeaseValue(a);
        expect(encodeLeaseValue(decoded(bytes))).toBe(bytes);
        expect(JSON.parse(bytes)).toBeTypeOf("object");
      }),
    );
  });

  it("reports damaged values with a reason, never throwing", () => {
    const cases: [string | Uint8Array, RegExp][] = [
      ["", /not valid JSON/],
      ["{", /not valid JSON/],
      ["null", /not a JSON object/],
      ['["1.2.3.4"]', /not a JSON object/],
      ['"1.2.3.4"', /not a JSON object/],
      ["{}", /no PublicIP/],
      ['{"PublicIPv6":null}', /no PublicIP/],
      ['{"PublicIP":null}', /no PublicIP/],
      ['{"PublicIP":"fd00::1"}', /PublicIP "fd00::1" is not an IPv4 address/],
      ['{"PublicIP":"1.2.3.04"}', /not an IPv4 address/],
      ['{"PublicIP":16909060}', /not an IPv4 address/],
      ['{"PublicIP":"1.2.3.4","PublicIPv6":"1.2.3.4"}', /PublicIPv6 .* is not an IPv6 address/],
      ['{"PublicIP":"1.2.3.4","BackendType":5}', /BackendType 5 is not a string/],
      [new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8/],
    ];
    for (const [value, reason] of cases) {
      const result = decodeLeaseValue(value);
      expect(result.ok, String(value)).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    }
    fc.assert(fc.property(fc.string(), (s) => typeof decodeLeaseValue(s).ok === "boolean"));
    fc.assert(fc.property(fc.uint8Array(), (b) => typeof decodeLeaseValue(b).ok === "boolean"));
  });

  it("refuses to encode what is not a lease", () => {
    expect(() => encodeLeaseValue({ publicIP: "1.2.3", publicIPv6: null })).toThrow(/PublicIP/);
    expect(() => encodeLeaseValue({ publicIP: "1.2.3.4", publicIPv6: "nope" })).toThrow(/PublicIPv6/);
    expect(() => encodeLeaseValue({ publicIP: "1.2.3.4", publicIPv6: null, backendData: "{" })).toThrow(
      /BackendData is not valid JSON/,
    );
  });
});

describe("classifyEntry", () => {
  it("sorts entries into leases, damaged leases and foreign keys", () => {
    expect(classifyEntry("10.5.52.0-24", VXLAN)).toEqual({
      kind: "lease",
      key: "10.5.52.0-24",
      subnet: { ipv4: parseIPv4Cidr("10.5.52.0/24") },
      attrs: decoded(VXLAN),
    });
    expect(classifyEntry("10.5.52.0-24", "not json")).toEqual({
      kind: "damaged",
      key: "10.5.52.0-24",
      subnet: { ipv4: parseIPv4Cidr("10.5.52.0/24") },
      reason: "value is not valid JSON",
    });
    const foreign = classifyEntry("10.5.52.0-24&garbage", VXLAN);
    expect(foreign.kind).toBe("foreign");
    if (foreign.kind === "foreign") expect(foreign.reason).toContain("10.5.52.0-24&garbage");
  });
});

describe("parseLeaseKey's IPv4 fast path", () => {
  /** The rule of flannel-compat.md section 1 for IPv4-only names, spelled out slowly. */
  const reference = (name: string): { ip: number; prefix: number } | null => {
    const m =
      /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})-(0|[1-9][0-9]{0,2})$/.exec(
        name,
      );
    if (m === null) return null;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix > 32 || prefix === 0) return null;
    const ip = octets.reduce((a, o) => a * 256 + o, 0);
    const hostBits = prefix === 32 ? 0 : ip % 2 ** (32 - prefix);
    return hostBits === 0 ? { ip, prefix } : null;
  };
  const token = fc.constantFrom(
    "0",
    "1",
    "00",
    "01",
    "10",
    "255",
    "256",
    "999",
    "1000",
    ".",
    "-",
    "&",
    "x",
    " ",
    "24",
    "32",
    "33",
    "024",
  );
  const names = fc.oneof(
    fc.array(token, { maxLength: 9 }).map((t) => t.join("")),
    fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 40 }))
      .map(([ip, len]) => `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}-${len}`),
    fc.string(),
  );

  it("agrees with the rule on IPv4-only names and leaves the rest to the full parser", () => {
    fc.assert(
      fc.property(names, (name) => {
        const want = reference(name);
        const packed = parseLeaseKey4(name);
        if (want !== null) expect(packed).toBe(want.ip * 64 + want.prefix);
        else expect(packed < 0).toBe(true);
        const full = parseLeaseKey(name);
        if (!name.includes("&")) expect(full).toEqual(want === null ? null : { ipv4: want });
      }),
      { numRuns: 5000 },
    );
    for (const name of ["10.5.52.0-24", "10.5.52.1-24", "0.0.0.0-0", "10.5.52.0-024", "255.255.255.255-32"]) {
      const want = reference(name);
      expect(parseLeaseKey(name), name).toEqual(want === null ? null : { ipv4: want });
    }
  });
});

describe("decodeLeaseValue's fast path for flannel's own bytes", () => {
  const octet = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map(String),
    fc.constantFrom("256", "01", "00", "999"),
  );
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
  const hex2 = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0"));
  const mac = fc.array(hex2, { minLength: 6, maxLength: 6 }).map((h) => h.join(":"));
  const vni = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }).map(String), fc.constantFrom("01", "-1", "1.5"));
  const data = fc.oneof(
    fc.constant(undefined),
    fc.tuple(vni, mac).map(([v, m]) => `{"VNI":${v},"VtepMAC":"${m}"}`),
    fc.tuple(vni, mac).map(([v, m]) => `{"VtepMAC":"${m}","VNI":${v}}`),
    fc.constant('{"VNI":1,"VtepMAC":"C6:D2:32:6F:8F:44"}'),
    fc.constant("null"),
  );
  const type = fc.constantFrom(undefined, "vxlan", "host-gw", "ipip", "", "VXLAN");
  const values = fc.tuple(ip, type, data, fc.constantFrom("", " ", "\n")).map(([p, t, d, space]) => {
    let v = `{"PublicIP":"${p}","PublicIPv6":null`;
    if (t !== undefined) v += `,"BackendType":"${t}"`;
    if (d !== undefined) v += `,"BackendData":${d}`;
    return `${v}}${space}`;
  });

  it("decodes exactly what the general decoder does, damaged values included", () => {
    fc.assert(
      fc.property(values, (v) => {
        expect(decodeLeaseValue(v)).toEqual(decodeAnyLeaseValue(v));
        expect(decodeLeaseValue(Buffer.from(v))).toEqual(decodeAnyLeaseValue(v));
      }),
      { numRuns: 2000 },
    );
    for (const v of [SIMPLE, VXLAN, DUAL, WIREGUARD, HOST_GW]) {
      expect(decodeLeaseValue(v)).toEqual(decodeAnyLeaseValue(v));
    }
  });
});
