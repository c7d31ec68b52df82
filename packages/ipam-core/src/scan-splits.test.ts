import { describe, expect, it } from "vitest";
import { formatIPv4Cidr, formatIPv6, parseIPv4, parseIPv4Cidr, parseIPv6, parseIPv6Cidr } from "./address.js";
import { formatLeaseKey } from "./lease-codec.js";
import { leaseKeySplits } from "./scan-splits.js";
import { rangeSize, type SubnetRange4, type SubnetRange6, subnetAt } from "./subnet-range.js";

const slash8: SubnetRange4 = {
  network: parseIPv4Cidr("10.0.0.0/8")!,
  subnetLen: 24,
  min: parseIPv4("10.0.1.0")!,
  max: parseIPv4("10.255.255.0")!,
};
const v6: SubnetRange6 = {
  network: parseIPv6Cidr("fc00::/48")!,
  subnetLen: 64,
  min: parseIPv6("fc00:0:0:1::")!,
  max: parseIPv6("fc00:0:0:ffff::")!,
};

/** A fixed pseudo-random sequence in [0, 1), so a failure reproduces. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // mulberry32: exact in 32-bit integer arithmetic.
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** How many of `keys` fall in each sub-range that `cuts` makes. */
function perPart(keys: readonly string[], cuts: readonly string[]): number[] {
  const counts = new Array<number>(cuts.length + 1).fill(0);
  for (const k of keys) {
    let i = 0;
    while (i < cuts.length && k >= (cuts[i] as string)) i++;
    counts[i] = (counts[i] as number) + 1;
  }
  return counts;
}

describe("where a lease listing is cut", () => {
  it("cuts randomly allocated IPv4 leases into parts of about the same size, sorted, under the directory", () => {
    const random = lcg(15);
    const size = rangeSize(slash8);
    for (const leases of [2000, 30_000]) {
      const taken = new Set<number>();
      while (taken.size < leases) taken.add(Math.floor(random() * size));
      const keys = [...taken].map(
        (i) => `/coreos.com/network/subnets/${formatLeaseKey({ ipv4: subnetAt(slash8, i)! })}`,
      );
      for (const parts of [2, 3, 4, 8]) {
        const cuts = leaseKeySplits("/coreos.com/network", { ipv4: slash8 }, parts);
        expect(cuts).toHaveLength(parts - 1);
        expect([...cuts].sort()).toEqual(cuts);
        for (const c of cuts) expect(c.startsWith("/coreos.com/network/subnets/10.")).toBe(true);
        for (const n of perPart(keys, cuts)) {
          expect(Math.abs(n - leases / parts)).toBeLessThan((leases / parts) * 0.2);
        }
      }
    }
  });

  it("cuts an IPv6-only network's keys, which start with flannel's zero IPv4 network", () => {
    const random = lcg(6);
    const keys: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const net = subnetAt(v6, BigInt(Math.floor(random() * Number(rangeSize(v6)))))!;
      keys.push(`/p/subnets/0.0.0.0-0&${formatIPv6(net.ip)}-64`);
    }
    const cuts = leaseKeySplits("/p", { ipv6: v6 }, 4);
    expect(cuts).toHaveLength(3);
    for (const c of cuts) expect(c).toMatch(/^\/p\/subnets\/0\.0\.0\.0-0&fc00:0:0:[0-9a-f]+::-64$/);
    for (const n of perPart(keys, cuts)) expect(Math.abs(n - 1250)).toBeLessThan(250);
  });

  it("dual stack cuts by the IPv4 part the keys start with; a small network or one part is not cut", () => {
    const dual = leaseKeySplits("/p", { ipv4: slash8, ipv6: v6 }, 4);
    expect(dual).toEqual(leaseKeySplits("/p", { ipv4: slash8 }, 4));
    const small: SubnetRange4 = {
      ...slash8,
      network: parseIPv4Cidr("10.3.0.0/16")!,
      min: parseIPv4("10.3.1.0")!,
      max: parseIPv4("10.3.255.0")!,
    };
    expect(formatIPv4Cidr(small.network)).toBe("10.3.0.0/16");
    expect(leaseKeySplits("/p", { ipv4: small }, 4)).toEqual([]);
    expect(leaseKeySplits("/p", { ipv4: slash8 }, 1)).toEqual([]);
    expect(leaseKeySplits("/p", {}, 4)).toEqual([]);
  });
});
