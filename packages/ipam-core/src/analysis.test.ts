import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addressMap,
  checkLeases,
  type Finding,
  locateAddress,
  overlappingPairs,
  parseReport,
  type Report,
  releasePlan,
  utilisation,
} from "./analysis.js";
import { isPodnetError } from "./errors.js";
import type { DamagedEntry, Lease, LeaseListing, LeaseNetwork } from "./lease.js";
import { formatLeaseKey, parseLeaseKey } from "./lease-codec.js";
import { DUAL_10_5, NET_10_5, network4, range4 } from "./lease-network.fixture.js";
import { countFree } from "./subnet-range.js";

const P = "/coreos.com/network";
const NET = NET_10_5;

let rev = 10;
function lease(
  name: string,
  publicIP: string,
  opts: { etcdLease?: string; create?: number; vni?: number; type?: string | null } = {},
): Lease {
  rev++;
  const type = opts.type === undefined ? "vxlan" : opts.type;
  const value = `{"PublicIP":"${publicIP}","PublicIPv6":null${type === null ? "" : `,"BackendType":"${type}"`}${type === "vxlan" ? `,"BackendData":{"VNI":${opts.vni ?? 1},"VtepMAC":"c6:d2:32:6f:8f:44"}` : ""}}`;
  return {
    key: `${P}/subnets/${name}`,
    subnet: parseLeaseKey(name)!,
    attrs: {
      publicIP,
      publicIPv6: null,
      ...(type !== null && { backendType: type }),
      ...(type === "vxlan" && { backendData: `{"VNI":${opts.vni ?? 1},"VtepMAC":"c6:d2:32:6f:8f:44"}` }),
    },
    value,
    etcdLease: opts.etcdLease ?? String(1000 + rev),
    modRevision: rev,
    createRevision: opts.create ?? rev,
  };
}

function damaged(name: string): DamagedEntry {
  return {
    key: `${P}/subnets/${name}`,
    subnet: parseLeaseKey(name)!,
    reason: "value is not valid JSON",
    value: "{oops",
    etcdLease: "0",
    modRevision: 99,
  };
}

function listing(leases: Lease[], extra: Partial<LeaseListing> = {}): LeaseListing {
  return { revision: 100, leases, foreign: [], damaged: [], ...extra };
}

const VXLAN = { valid: true, errors: [], backendType: "vxlan", vni: 1 };

describe("utilisation", () => {
  it("counts leased, reserved, damaged, free and expiring subnets", () => {
    const a = lease("10.5.1.0-24", "192.0.2.1", { etcdLease: "1" });
    const b = lease("10.5.2.0-24", "192.0.2.2", { etcdLease: "2" });
    const r = lease("10.5.3.0-24", "192.0.2.3", { etcdLease: "0" });
    const wide = lease("10.5.4.0-23", "192.0.2.4", { etcdLease: "4" });
    const l = listing([a, b, r, wide], { damaged: [damaged("10.5.9.0-24")] });
    const u = utilisation(
      l,
      NET,
      new Map([
        ["1", 100],
        ["2", 86_000],
        ["4", 3599],
      ]),
    );
    expect(u.ipv4).toEqual({
      total: 255,
      leased: 4,
      reserved: 1,
      damaged: 1,
      used: 6,
      free: 249,
      expiringSoon: 2,
      percentUsed: 2.35,
    });
    expect(utilisation(l, NET).ipv4?.expiringSoon).toBeNull();
  });

  it("counts IPv6 with bigints", () => {
    const net: LeaseNetwork = { ipv6: DUAL_10_5.ipv6! };
    const l = listing([lease("0.0.0.0-0&fc00:0:0:1::-64", "192.0.2.1")]);
    const u = utilisation(l, net);
    expect(u.ipv6?.total).toBe(65535n);
    expect(u.ipv6?.free).toBe(65534n);
    expect(u.ipv4).toBeUndefined();
  });
});

describe("utilisation's union counts", () => {
  // Networks of any length, inside, around and outside the range, overlapping at will; a range
  // of 2^16 subnets is counted in a bitmap, one of 2^26 by the sweep.
  for (const [what, r4] of [
    ["10.0.0.0/8 of /24s (bitmap)", range4("10.0.0.0/8", 24, "10.0.1.0", "10.255.255.0")],
    ["8.0.0.0/6 of /32s (sweep)", range4("8.0.0.0/6", 32, "8.0.0.1", "11.255.255.255")],
  ] as const) {
    const range = r4;
    const size = 2 ** (range.subnetLen - range.network.prefix);
    const step = 2 ** (32 - range.subnetLen);
    it(`agree with countFree over any leases: ${what}`, () => {
      const net = fc.record({
        at: fc.integer({ min: -size / 4, max: size + size / 4 }),
        prefix: fc.integer({ min: Math.max(0, range.network.prefix - 2), max: 32 }),
        reserved: fc.boolean(),
      });
      fc.assert(
        fc.property(fc.array(net, { maxLength: 60 }), (nets) => {
          const leases = nets.map(({ at, prefix, reserved }) => {
            const raw = (range.network.ip + at * step) >>> 0;
            const sizeOf = 2 ** (32 - prefix);
            const ip = Math.floor(raw / sizeOf) * sizeOf;
            return lease(formatLeaseKey({ ipv4: { ip, prefix } }), "192.0.2.1", {
              etcdLease: reserved ? "0" : "7",
            });
          });
          const u = utilisation(listing(leases), { ipv4: r4 }).ipv4!;
          const taken = (keep: (l: Lease) => boolean) => leases.filter(keep).map((l) => l.subnet.ipv4);
          expect(u.free).toBe(
            countFree(
              r4,
              taken(() => true),
            ),
          );
          expect(u.leased).toBe(
            u.total -
              countFree(
                r4,
                taken((l) => l.etcdLease !== "0"),
              ),
          );
          expect(u.reserved).toBe(
            u.total -
              countFree(
                r4,
                taken((l) => l.etcdLease === "0"),
              ),
          );
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe("overlappingPairs", () => {
  it("agrees with comparing every pair, for leases of one length or of several", () => {
    const overlaps = (a: Lease, b: Lease): boolean => {
      const span = (l: Lease) => {
        const size = 2 ** (32 - l.subnet.ipv4.prefix);
        const start = Math.floor(l.subnet.ipv4.ip / size) * size;
        return [start, start + size - 1] as const;
      };
      const [s1, e1] = span(a);
      const [s2, e2] = span(b);
      return s1 <= e2 && s2 <= e1;
    };
    const entry = fc.record({ third: fc.integer({ min: 0, max: 40 }), prefix: fc.constantFrom(22, 23, 24) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), fc.boolean(), (entries, oneLength) => {
        // Keys as flannel's, the same subnet at most twice (once through a key with a leading zero).
        const seen = new Set<string>();
        const leases: Lease[] = [];
        for (const { third, prefix } of entries) {
          const p = oneLength ? 24 : prefix;
          const size = 2 ** (24 - p);
          const name = `10.5.${Math.floor(third / size) * size}.0-${p}`;
          const key = seen.has(name) ? name.replace("10.5.", "10.05.") : name;
          if (seen.has(key)) continue;
          seen.add(key);
          leases.push({ ...lease(name, "192.0.2.1"), key: `${P}/subnets/${key}` });
        }
        const found = new Set(overlappingPairs(leases).flat());
        const expected = new Set<Lease>();
        for (let i = 0; i < leases.length; i++)
          for (let j = i + 1; j < leases.length; j++)
            if (overlaps(leases[i]!, leases[j]!)) expected.add(leases[i]!).add(leases[j]!);
        expect(found).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe("locateAddress", () => {
  it("finds the lease containing an address and the lease an address owns", () => {
    const a = lease("10.5.52.0-24", "192.168.64.3");
    const l = listing([a]);
    const inside = locateAddress(l, "10.5.52.17", NET);
    expect(inside?.containing).toEqual([a]);
    expect(inside?.rangeSubnet).toBe("10.5.52.0/24");
    expect(locateAddress(l, "192.168.64.3", NET)?.owned).toEqual([a]);
    const free = locateAddress(l, "10.5.60.1", NET);
    expect(free?.containing).toEqual([]);
    expect(free?.rangeSubnet).toBe("10.5.60.0/24");
    expect(locateAddress(l, "nonsense")).toBeNull();
  });
});

describe("checkLeases", () => {
  const kinds = (fs: Finding[]) => fs.map((f) => f.kind);

  it("is clean on a clean network", () => {
    const l = listing([lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.2.0-24", "192.0.2.2")]);
    expect(checkLeases({ listing: l, network: NET, config: VXLAN })).toEqual([]);
  });

  it("finds overlaps by sorting; the newer lease is the one to release", () => {
    const old = lease("10.5.52.0-24", "192.0.2.1", { create: 5 });
    const wide = lease("10.5.52.0-23", "192.0.2.2", { create: 50 });
    const fs = checkLeases({ listing: listing([wide, old]), network: NET, config: VXLAN });
    const overlap = fs.find((f) => f.kind === "overlap");
    expect(overlap?.key).toBe(wide.key);
    expect(overlap?.keys).toEqual([old.key, wide.key]);
    expect(overlap?.modRevision).toBe(wide.modRevision);
    expect(kinds(fs)).toContain("wrong-length");
  });

  it("reports every lease that overlaps another, even under a wide one", () => {
    const big = lease("10.5.0.0-16", "192.0.2.9", { create: 1 });
    const small = [lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.200.0-24", "192.0.2.2")];
    const pairs = overlappingPairs([...small, big]);
    expect(pairs.map(([, extra]) => extra.key).sort()).toEqual(small.map((s) => s.key).sort());
  });

  it("finds a duplicate PublicIP and keeps the oldest", () => {
    const first = lease("10.5.1.0-24", "192.0.2.1", { create: 3 });
    const second = lease("10.5.2.0-24", "192.0.2.1", { create: 30 });
    const fs = checkLeases({ listing: listing([second, first]), network: NET, config: VXLAN });
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({
      kind: "duplicate-public-ip",
      key: second.key,
      keys: [first.key, second.key],
    });
  });

  it("keeps a reservation over an older lease of the same host", () => {
    const old = lease("10.5.1.0-24", "192.0.2.1", { create: 3 });
    const reserved = lease("10.5.2.0-24", "192.0.2.1", { create: 30, etcdLease: "0" });
    const [f] = checkLeases({ listing: listing([old, reserved]), network: NET, config: VXLAN });
    expect(f?.key).toBe(old.key);
  });

  it("finds out-of-range, wrong length, foreign, damaged, backend and VNI problems", () => {
    const l = listing(
      [
        lease("10.5.0.0-24", "192.0.2.1"), // below SubnetMin
        lease("10.6.1.0-24", "192.0.2.2"), // outside the network
        lease("10.5.8.0-25", "192.0.2.3"),
        lease("10.5.9.0-24", "192.0.2.4", { type: "host-gw" }),
        lease("10.5.10.0-24", "192.0.2.5", { vni: 7 }),
      ],
      {
        damaged: [damaged("10.5.11.0-24")],
        foreign: [{ key: `${P}/subnets/junk`, reason: "x", etcdLease: "0", modRevision: 3 }],
      },
    );
    const fs = checkLeases({ listing: l, network: NET, config: VXLAN });
    expect(kinds(fs).sort()).toEqual(
      [
        "out-of-range",
        "out-of-range",
        "wrong-length",
        "backend-mismatch",
        "vni-mismatch",
        "damaged-value",
        "foreign-key",
      ].sort(),
    );
    // errors come first
    expect(fs.findIndex((f) => f.severity === "warning")).toBeGreaterThan(
      fs.findLastIndex((f) => f.severity === "error"),
    );
  });

  it("finds range, backend and VNI problems exactly as judging each lease alone does", () => {
    // SubnetMin and SubnetMax inside the network: each bound is a test of its own.
    const net = network4("10.5.0.0/16", 24, "10.5.2.0", "10.5.200.0");
    const r4 = net.ipv4!;
    const entry = fc.record({
      second: fc.constantFrom(5, 6),
      // The bounds and their neighbours often, any other third octet too.
      third: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 2, 3, 199, 200, 201)),
      // A subnet with host bits is no key flannel writes, but a Lease given by hand may hold one.
      fourth: fc.constantFrom(0, 0, 0, 128, 7),
      prefix: fc.constantFrom(23, 24, 24, 24, 25),
      type: fc.constantFrom("vxlan", "vxlan", "VXLAN", "host-gw", null),
      vni: fc.constantFrom(1, 1, 2),
    });
    const configs: { valid: boolean; errors: never[]; backendType: string; vni?: number }[] = [
      VXLAN,
      { valid: true, errors: [], backendType: "host-gw" },
      { valid: true, errors: [], backendType: "vxlan" },
    ];
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), fc.nat(2), (entries, c) => {
        const config = configs[c]!;
        const leases = entries.map((e, i) => ({
          ...lease("10.5.1.0-24", `192.0.2.${i}`, { type: e.type, vni: e.vni }),
          key: `${P}/subnets/row-${i}`,
          subnet: {
            ipv4: { ip: ((10 << 24) | (e.second << 16) | (e.third << 8) | e.fourth) >>> 0, prefix: e.prefix },
          },
        }));
        const expected: string[] = [];
        for (const [i, l] of leases.entries()) {
          const e = entries[i]!;
          const ip = l.subnet.ipv4.ip;
          const inside =
            ip % 2 ** (32 - r4.subnetLen) === 0 &&
            ip >= r4.min &&
            ip <= r4.max &&
            Math.floor(ip / 2 ** 16) === Math.floor(r4.network.ip / 2 ** 16);
          if (l.subnet.ipv4.prefix !== r4.subnetLen) expected.push(`wrong-length ${l.key}`);
          else if (!inside) expected.push(`out-of-range ${l.key}`);
          const actual = (e.type ?? "").toLowerCase();
          if (actual !== config.backendType) expected.push(`backend-mismatch ${l.key}`);
          else if (e.type === "vxlan" && config.vni !== undefined && e.vni !== config.vni) {
            expected.push(`vni-mismatch ${l.key}`);
          }
        }
        const judged = new Set(["wrong-length", "out-of-range", "backend-mismatch", "vni-mismatch"]);
        const found = checkLeases({ listing: listing(leases), network: net, config })
          .filter((f) => judged.has(f.kind))
          .map((f) => `${f.kind} ${f.key}`);
        expect(found.sort()).toEqual(expected.sort());
      }),
    );
  });

  it("treats udp leases without BackendType as matching a udp config", () => {
    const l = listing([lease("10.5.1.0-24", "192.0.2.1", { type: null })]);
    expect(
      checkLeases({ listing: l, network: NET, config: { valid: true, errors: [], backendType: "udp" } }),
    ).toEqual([]);
  });

  it("does not call a vxlan reservation without backend data a VNI mismatch", () => {
    const bare = lease("10.5.1.0-24", "192.0.2.1", { etcdLease: "0" });
    const reservation = { ...bare, attrs: { publicIP: "192.0.2.1", publicIPv6: null, backendType: "vxlan" } };
    const found = checkLeases({ listing: listing([reservation]), network: NET, config: VXLAN });
    // Only a warning that it has no VtepMAC yet: no VNI mismatch.
    expect(found.map((f) => [f.kind, f.severity])).toEqual([["bad-backend-data", "warning"]]);
  });

  it("flags vxlan leases whose VtepMAC is missing or malformed, whatever the config", () => {
    const attrs = (backendData?: string) => ({
      publicIP: "192.0.2.1",
      publicIPv6: null,
      backendType: "vxlan",
      ...(backendData !== undefined && { backendData }),
    });
    const good = {
      ...lease("10.5.1.0-24", "192.0.2.1"),
      attrs: attrs('{"vni":1,"vtepmac":"C6:D2:32:6F:8F:44"}'),
    };
    const none = {
      ...lease("10.5.2.0-24", "192.0.2.2"),
      attrs: { ...attrs('{"VNI":1}'), publicIP: "192.0.2.2" },
    };
    const bad = {
      ...lease("10.5.3.0-24", "192.0.2.3"),
      attrs: { ...attrs('{"VNI":1,"VtepMAC":"zz"}'), publicIP: "192.0.2.3" },
    };
    const found = checkLeases({ listing: listing([good, none, bad]) });
    expect(found.map((f) => [f.kind, f.severity, f.key?.slice(-11)])).toEqual([
      ["bad-backend-data", "error", "10.5.2.0-24"],
      ["bad-backend-data", "error", "10.5.3.0-24"],
    ]);
    expect(found[0]?.message).toMatch(/no usable VtepMAC \(its BackendData has no VtepMAC\)/);
  });

  it("reports a missing or invalid config", () => {
    expect(
      kinds(checkLeases({ listing: listing([]), configMissing: true, configKey: `${P}/config` })),
    ).toEqual(["config-missing"]);
    const fs = checkLeases({
      listing: listing([]),
      config: { valid: false, errors: [{ path: "/Network", message: "bad" }] },
    });
    expect(fs[0]?.kind).toBe("config-invalid");
    expect(fs[0]?.message).toContain("/Network: bad");
  });

  it("finds the one duplicate PublicIP among 65,000 leases and nothing else", () => {
    const big: Lease[] = [];
    for (let i = 0; i < 65_000; i++) {
      const ip = (10 << 24) + i * 256;
      const name = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.0-24`;
      big.push(lease(name, `172.16.${(i >>> 8) & 255}.${i & 255}`));
    }
    const net = network4("10.0.0.0/8", 24, "10.0.0.0", "10.255.255.0");
    expect(checkLeases({ listing: listing(big), network: net, config: VXLAN })).toEqual([]);
    // Its speed is the benchmark's to show; here, that nothing is missed at this size.
    const twin = lease("10.253.232.0-24", "172.16.0.0");
    const fs = checkLeases({ listing: listing([...big, twin]), network: net, config: VXLAN });
    expect(fs.map((f) => f.kind)).toEqual(["duplicate-public-ip"]);
    expect(fs[0]?.keys).toContain(twin.key);
  });
});

describe("reports and release plans", () => {
  const report = (findings: Finding[]): Report => ({
    version: 2,
    prefix: P,
    revision: 100,
    generatedAt: "2024-01-01T00:00:00Z",
    findings,
  });

  it("names overlap losers, extras, out-of-range, foreign and damaged keys, never config findings", () => {
    const f = (kind: Finding["kind"], key?: string): Finding => ({
      kind,
      severity: "error",
      ...(key !== undefined && { key: `${P}/subnets/${key}`, modRevision: 7 }),
      message: kind,
    });
    const plan = releasePlan(
      report([
        f("config-invalid", undefined),
        f("overlap", "a"),
        f("overlap", "a"),
        f("duplicate-public-ip", "b"),
        f("out-of-range", "c"),
        f("wrong-length", "d"),
        f("foreign-key", "e"),
        f("damaged-value", "f"),
        f("backend-mismatch", "g"),
        f("vni-mismatch", "h"),
      ]),
    );
    expect(plan.map((t) => t.key.slice(-1))).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(plan.every((t) => t.modRevision === 7)).toBe(true);
  });

  it("round-trips a report and rejects malformed ones in one sentence", () => {
    const r = report([
      {
        kind: "foreign-key",
        severity: "warning",
        key: `${P}/subnets/x`,
        modRevision: 3,
        etcdLease: "0",
        message: "m",
      },
    ]);
    expect(parseReport(JSON.stringify(r))).toEqual(r);
    for (const bad of [
      "{",
      "[]",
      '{"version":2}',
      JSON.stringify({ ...r, version: 1 }),
      JSON.stringify({ ...r, findings: [{ kind: "overlap", key: `${P}/subnets/x`, modRevision: 1 }] }),
      JSON.stringify({ ...r, findings: [{ kind: "overlap", key: "/elsewhere/x", modRevision: 1 }] }),
    ]) {
      try {
        parseReport(bad, "r.json");
        expect.unreachable();
      } catch (err) {
        expect(isPodnetError(err, "usage")).toBe(true);
        expect((err as Error).message).toMatch(/^r\.json is not a podnet ipam report: /);
      }
    }
  });
});

describe("addressMap", () => {
  it("draws one cell per subnet for small ranges", () => {
    const l = listing(
      [
        lease("10.5.1.0-24", "192.0.2.1", { etcdLease: "1" }),
        lease("10.5.2.0-24", "192.0.2.2", { etcdLease: "0" }),
        lease("10.5.3.0-24", "192.0.2.3", { etcdLease: "3" }),
      ],
      { damaged: [damaged("10.5.4.0-24")] },
    );
    const m = addressMap(l, NET, 4, {
      ttls: new Map([
        ["1", 80_000],
        ["3", 10],
      ]),
    })!;
    expect(m.blockSize).toBe(1n);
    expect(m.cells).toHaveLength(255);
    expect(m.cells.slice(0, 5).map((c) => c.state)).toEqual([
      "leased",
      "reserved",
      "expiring",
      "problem",
      "free",
    ]);
    expect(m.cells[0]?.start).toBe("10.5.1.0");
    expect(addressMap(l, NET, 6)).toBeNull();
  });

  it("groups subnets into blocks for large ranges", () => {
    const net = network4("10.0.0.0/8", 24, "10.0.0.0", "10.255.255.0");
    const wide = lease("10.0.0.0-16", "192.0.2.1", { etcdLease: "0" }); // a /16 reservation covers 256 subnets
    const one = lease("10.1.0.0-24", "192.0.2.2");
    const m = addressMap(listing([wide, one]), net, 4, { maxCells: 2048 })!;
    expect(m.blockSize).toBe(32n);
    expect(m.cells).toHaveLength(2048);
    // the /16 is the wrong length: a problem in each of its 8 blocks
    expect(m.cells.slice(0, 9).map((c) => c.state)).toEqual([...Array(8).fill("problem"), "partial"]);
    expect(m.cells[9]?.state).toBe("free");
  });
});
