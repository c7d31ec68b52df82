import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIPv4Cidr,
  formatIPv6Cidr,
  type IPv4Net,
  type IPv6Net,
  ipv4NetsOverlap,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  parseIPv6Cidr,
} from "./address.js";
import {
  countFree,
  firstFree,
  freeCidrs,
  freeIPv4,
  freeSubnets,
  nthFree,
  rangeContains,
  rangeSize,
  type SubnetRange4,
  type SubnetRange6,
  subnetAt,
  subnetIndexOf,
} from "./subnet-range.js";

const v4 = (cidr: string): IPv4Net => parseIPv4Cidr(cidr)!;
const v6 = (cidr: string): IPv6Net => parseIPv6Cidr(cidr)!;
const ip4 = (text: string): number => parseIPv4(text)!;
const ip6 = (text: string): bigint => parseIPv6(text)!;
const show4 = (nets: readonly IPv4Net[]) => nets.map(formatIPv4Cidr);
const show6 = (nets: readonly IPv6Net[]) => nets.map(formatIPv6Cidr);

// flannel's defaults: SubnetMin skips the first subnet, SubnetMax is the last one
const range16: SubnetRange4 = {
  network: v4("10.3.0.0/16"),
  subnetLen: 24,
  min: ip4("10.3.1.0"),
  max: ip4("10.3.255.0"),
};
const range23: SubnetRange4 = {
  network: v4("10.0.0.0/23"),
  subnetLen: 25,
  min: ip4("10.0.0.128"),
  max: ip4("10.0.1.128"),
};
const range48: SubnetRange6 = {
  network: v6("fc00::/48"),
  subnetLen: 64,
  min: ip6("fc00:0:0:1::"),
  max: ip6("fc00:0:0:ffff::"),
};

describe("range geometry", () => {
  it("counts the spec's worked ranges", () => {
    expect(rangeSize(range16)).toBe(255);
    expect(rangeSize(range23)).toBe(3);
    expect(rangeSize(range48)).toBe(65_535n);
    expect(rangeSize({ ...range16, max: ip4("10.3.0.0") })).toBe(0);
  });

  it("finds subnets by index and indexes by address", () => {
    expect(formatIPv4Cidr(subnetAt(range23, 0)!)).toBe("10.0.0.128/25");
    expect(formatIPv4Cidr(subnetAt(range23, 2)!)).toBe("10.0.1.128/25");
    expect(subnetAt(range23, 3)).toBeNull();
    expect(subnetAt(range23, -1)).toBeNull();
    expect(formatIPv6Cidr(subnetAt(range48, 65_534n)!)).toBe("fc00:0:0:ffff::/64");
    expect(subnetIndexOf(range16, ip4("10.3.7.9"))).toBe(6);
    expect(subnetIndexOf(range16, ip4("10.3.0.9"))).toBeNull();
    expect(subnetIndexOf(range16, ip4("10.4.0.0"))).toBeNull();
    expect(subnetIndexOf(range23, ip4("10.0.1.255"))).toBe(2);
    expect(subnetIndexOf(range48, ip6("fc00:0:0:2::5"))).toBe(1n);
    expect(subnetIndexOf(range48, ip6("fc00:0:1::"))).toBeNull();
  });

  it("tells which networks belong to the range", () => {
    expect(rangeContains(range16, v4("10.3.1.0/24"))).toBe(true);
    expect(rangeContains(range16, v4("10.3.255.0/24"))).toBe(true);
    expect(rangeContains(range16, v4("10.3.0.0/24"))).toBe(false); // below min
    expect(rangeContains(range16, v4("10.3.1.0/25"))).toBe(false); // wrong length
    expect(rangeContains(range16, v4("10.3.1.1/24"))).toBe(false); // host bits
    expect(rangeContains(range16, v4("10.4.1.0/24"))).toBe(false);
    expect(rangeContains(range48, v6("fc00:0:0:5::/64"))).toBe(true);
    expect(rangeContains(range48, v6("fc00:0:0:5::/63"))).toBe(false);
    expect(rangeContains(range48, v6("fc00::/64"))).toBe(false);
  });
});

describe("free subnets", () => {
  it("blocks every subnet a lease of any length overlaps", () => {
    const taken = [v4("10.3.2.0/23"), v4("10.3.10.128/25"), v4("10.3.200.0/21")];
    // 2 + 1 + 8 subnets blocked
    expect(countFree(range16, taken)).toBe(255 - 11);
    expect(show4(firstFree(range16, taken, 3))).toEqual(["10.3.1.0/24", "10.3.4.0/24", "10.3.5.0/24"]);
    expect(show4(firstFree(range16, taken, 9)).includes("10.3.10.0/24")).toBe(false);
    expect(countFree(range16, [v4("10.3.0.0/16")])).toBe(0);
    expect(countFree(range16, [v4("0.0.0.0/0")])).toBe(0);
    expect(countFree(range16, [v4("10.2.0.0/16"), v4("10.4.0.0/24"), v4("10.3.0.0/24")])).toBe(255);
    expect(nthFree(range16, [v4("10.3.0.0/16")], 0)).toBeNull();
  });

  it("masks taken networks given with host bits", () => {
    expect(show4(firstFree(range23, [v4("10.0.0.200/25")], 5))).toEqual(["10.0.1.0/25", "10.0.1.128/25"]);
  });

  it("ranks free subnets so every one has exactly one rank", () => {
    const taken = [v4("10.3.1.0/24"), v4("10.3.3.0/24"), v4("10.3.4.0/23")];
    const free = freeSubnets(range16, taken);
    expect(free.count).toBe(251);
    expect(formatIPv4Cidr(free.nth(0)!)).toBe("10.3.2.0/24");
    expect(formatIPv4Cidr(free.nth(1)!)).toBe("10.3.6.0/24");
    expect(formatIPv4Cidr(free.nth(250)!)).toBe("10.3.255.0/24");
    expect(free.nth(251)).toBeNull();
    expect(free.nth(-1)).toBeNull();
  });

  it("compacts free space into CIDRs", () => {
    expect(show4(freeCidrs(range16, []))).toEqual([
      "10.3.1.0/24",
      "10.3.2.0/23",
      "10.3.4.0/22",
      "10.3.8.0/21",
      "10.3.16.0/20",
      "10.3.32.0/19",
      "10.3.64.0/18",
      "10.3.128.0/17",
    ]);
    expect(show4(freeCidrs(range16, [v4("10.3.0.0/17"), v4("10.3.130.0/24")]))).toEqual([
      "10.3.128.0/23",
      "10.3.131.0/24",
      "10.3.132.0/22",
      "10.3.136.0/21",
      "10.3.144.0/20",
      "10.3.160.0/19",
      "10.3.192.0/18",
    ]);
    expect(show4(freeCidrs(range23, [v4("10.0.1.0/25")]))).toEqual(["10.0.0.128/25", "10.0.1.128/25"]);
    expect(freeCidrs(range16, [v4("10.0.0.0/8")])).toEqual([]);
    expect(show6(freeCidrs(range48, [v6("fc00:0:0:8000::/49")]))).toEqual([
      "fc00:0:0:1::/64",
      "fc00:0:0:2::/63",
      "fc00:0:0:4::/62",
      "fc00:0:0:8::/61",
      "fc00:0:0:10::/60",
      "fc00:0:0:20::/59",
      "fc00:0:0:40::/58",
      "fc00:0:0:80::/57",
      "fc00:0:0:100::/56",
      "fc00:0:0:200::/55",
      "fc00:0:0:400::/54",
      "fc00:0:0:800::/53",
      "fc00:0:0:1000::/52",
      "fc00:0:0:2000::/51",
      "fc00:0:0:4000::/50",
    ]);
  });

  it("handles a huge IPv6 range without enumerating it", () => {
    const range: SubnetRange6 = {
      network: v6("fc00::/16"),
      subnetLen: 64,
      min: ip6("fc00:0:0:1::"),
      max: ip6("fc00:ffff:ffff:ffff::"),
    };
    const size = (1n << 48n) - 1n;
    expect(rangeSize(range)).toBe(size);
    const taken = [v6("fc00:0:0:2::/64"), v6("fc00:1::/32"), v6("fc00:ffff:ffff:ffff::/64"), v6("fd00::/8")];
    const free = freeSubnets(range, taken);
    expect(free.count).toBe(size - 1n - (1n << 32n) - 1n);
    expect(show6(free.first(2))).toEqual(["fc00:0:0:1::/64", "fc00:0:0:3::/64"]);
    expect(formatIPv6Cidr(free.nth(free.count - 1n)!)).toBe("fc00:ffff:ffff:fffe::/64");
    // fc00:0:0:1:: .. fc00:0:ffff:ffff:: less the one taken precede the /32 hole
    const afterHole = (1n << 32n) - 1n - 1n;
    expect(formatIPv6Cidr(free.nth(afterHole - 1n)!)).toBe("fc00:0:ffff:ffff::/64");
    expect(formatIPv6Cidr(free.nth(afterHole)!)).toBe("fc00:2::/64");
    expect(free.cidrs().length).toBeLessThan(200);
  });

  it("counts a /8 cut into /24s with 60,000 random leases taken", () => {
    const range: SubnetRange4 = {
      network: v4("10.0.0.0/8"),
      subnetLen: 24,
      min: ip4("10.0.1.0"),
      max: ip4("10.255.255.0"),
    };
    expect(rangeSize(range)).toBe(65_535);
    let seed = 12345;
    const random = () => {
      // mulberry32: a small deterministic generator
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const chosen = new Set<number>();
    while (chosen.size < 60_000) chosen.add(Math.floor(random() * 65_536)); // may include 10.0.0.0/24, outside
    const taken = [...chosen].map((i) => ({ ip: ip4("10.0.0.0") + i * 256, prefix: 24 }));
    const inside = [...chosen].filter((i) => i !== 0).length;
    const free = freeSubnets(range, taken);
    expect(free.count).toBe(65_535 - inside);
    const all = new Set<number>();
    for (let n = 0; n < free.count; n++) all.add(free.nth(n)!.ip);
    expect(all.size).toBe(free.count);
    for (const ip of all) expect(chosen.has((ip - ip4("10.0.0.0")) / 256)).toBe(false);
  });

  it("agrees with a brute-force reference on small ranges", () => {
    // a /20 network cut into /(20+k) subnets, with arbitrary taken networks around it
    const scenario = fc
      .record({
        k: fc.integer({ min: 0, max: 6 }),
        from: fc.nat(70),
        span: fc.nat(70),
        taken: fc.array(
          fc.record({
            offset: fc.integer({ min: -8192, max: 8192 }),
            prefix: fc.integer({ min: 14, max: 32 }),
          }),
          { maxLength: 12 },
        ),
      })
      .map(({ k, from, span, taken }) => {
        const subnetLen = 20 + k;
        const count = 2 ** k;
        const base = ip4("10.16.0.0");
        const step = 2 ** (32 - subnetLen);
        const first = Math.min(from, count - 1);
        const last = Math.min(first + span, count - 1);
        const range: SubnetRange4 = {
          network: { ip: base, prefix: 20 },
          subnetLen,
          min: base + first * step,
          max: base + last * step,
        };
        return {
          range,
          taken: taken.map(({ offset, prefix }) => ({ ip: (base + offset * 2) >>> 0, prefix })),
        };
      });
    fc.assert(
      fc.property(scenario, ({ range, taken }) => {
        const expected: number[] = [];
        for (let i = 0; i < rangeSize(range); i++) {
          const sn = subnetAt(range, i)!;
          if (!taken.some((t) => ipv4NetsOverlap(t, sn))) expected.push(sn.ip);
        }
        const free = freeSubnets(range, taken);
        expect(free.count).toBe(expected.length);
        const ranked: number[] = [];
        for (let n = 0; n < free.count; n++) ranked.push(free.nth(n)!.ip);
        expect(ranked).toEqual(expected);
        expect(free.nth(free.count)).toBeNull();
        expect(free.first(5).map((s) => s.ip)).toEqual(expected.slice(0, 5));
        // the CIDRs cover exactly the free subnets, without overlap
        const covered: number[] = [];
        for (const c of free.cidrs()) {
          expect(c.prefix).toBeLessThanOrEqual(range.subnetLen);
          expect(c.ip % 2 ** (32 - c.prefix)).toBe(0);
          for (let ip = c.ip; ip < c.ip + 2 ** (32 - c.prefix); ip += 2 ** (32 - range.subnetLen))
            covered.push(ip);
        }
        expect(covered).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with the IPv4 engine on IPv6 ranges of the same shape", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ i: fc.nat(255), len: fc.integer({ min: 0, max: 8 }) }), { maxLength: 10 }),
        fc.nat(100),
        (picks, n) => {
          const r4: SubnetRange4 = {
            network: v4("10.0.0.0/16"),
            subnetLen: 24,
            min: ip4("10.0.1.0"),
            max: ip4("10.0.254.0"),
          };
          const r6: SubnetRange6 = {
            network: v6("fc00::/48"),
            subnetLen: 56,
            min: ip6("fc00:0:0:100::"),
            max: ip6("fc00:0:0:fe00::"),
          };
          const t4 = picks.map(({ i, len }) => ({ ip: ip4("10.0.0.0") + i * 256, prefix: 24 - len }));
          const t6 = picks.map(({ i, len }) => ({
            ip: ip6("fc00::") + (BigInt(i) << 72n),
            prefix: 56 - len,
          }));
          const f4 = freeSubnets(r4, t4);
          const f6 = freeSubnets(r6, t6);
          expect(BigInt(f4.count)).toBe(f6.count);
          const a = f4.nth(n);
          const b = f6.nth(BigInt(n));
          expect(a === null).toBe(b === null);
          if (a && b) expect((b.ip - ip6("fc00::")) >> 72n).toBe(BigInt((a.ip - ip4("10.0.0.0")) / 256));
        },
      ),
    );
  });
});

describe("freeIPv4", () => {
  it("counts and ranks exactly as freeSubnets, with taken networks of any length", () => {
    const range: SubnetRange4 = {
      network: v4("10.0.0.0/16"),
      subnetLen: 24,
      min: ip4("10.0.1.0"),
      max: ip4("10.0.254.0"),
    };
    const net = fc
      .record({ i: fc.integer({ min: 0, max: 260 }), len: fc.integer({ min: 14, max: 30 }) })
      .map(({ i, len }) => ({ ip: (ip4("9.255.0.0") + i * 256 + (i % 7) * 4) >>> 0, prefix: len }));
    fc.assert(
      fc.property(fc.array(net, { maxLength: 60 }), fc.nat(300), (taken, n) => {
        const want = freeSubnets(range, taken);
        const got = freeIPv4(range, (mark) => {
          for (const t of taken) mark(t.ip, t.prefix);
        });
        expect(got.count).toBe(want.count);
        expect(got.nth(n)).toEqual(want.nth(n));
        if (want.count > 0) expect(got.nth(want.count - 1)).toEqual(want.nth(want.count - 1));
      }),
    );
  });

  it("a /8 cut into /24s with 60,000 taken: same count and picks as the gap walk", () => {
    const range: SubnetRange4 = {
      network: v4("10.0.0.0/8"),
      subnetLen: 24,
      min: ip4("10.0.1.0"),
      max: ip4("10.255.255.0"),
    };
    const taken: IPv4Net[] = [];
    for (let i = 0; i < 60_000; i++)
      taken.push({ ip: ip4("10.0.0.0") + ((i * 7919) % 65_536) * 256, prefix: 24 });
    const want = freeSubnets(range, taken);
    const got = freeIPv4(range, (mark) => {
      for (const t of taken) mark(t.ip, t.prefix);
    });
    expect(got.count).toBe(want.count);
    for (const n of [0, 1, 777, want.count - 1]) expect(got.nth(n)).toEqual(want.nth(n));
    expect(got.nth(want.count)).toBeNull();
  });
});
