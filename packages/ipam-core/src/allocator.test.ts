import { describe, expect, it } from "vitest";
import { parseIPv4, parseIPv6 } from "./address.js";
import { decideAllocation, exhaustedError, leaseFits, pickFreeSubnet } from "./allocator.js";
import { isPodnetError } from "./errors.js";
import type { DamagedEntry, Lease, LeaseListing, LeaseNetwork } from "./lease.js";
import {
  encodeLeaseValue,
  formatLeaseKey,
  type LeaseAttrs,
  type LeaseSubnet,
  parseLeaseKey,
} from "./lease-codec.js";
import { NET_10_5, NET_10_8, network4, range4, range6 } from "./lease-network.fixture.js";

const PREFIX = "/coreos.com/network/subnets/";
const ME: LeaseAttrs = { publicIP: "192.168.64.3", publicIPv6: null };

const NET = NET_10_5;
const DUAL: LeaseNetwork = {
  ipv4: range4("10.5.0.0/16", 24, "10.5.1.0", "10.5.3.0"),
  ipv6: range6("fc00::/48", 64, "fc00:0:0:1::", "fc00:0:0:3::"),
};

const subnet = (name: string): LeaseSubnet => {
  const s = parseLeaseKey(name);
  if (s === null) throw new Error(`bad key ${name}`);
  return s;
};

function lease(name: string, publicIP: string, etcdLease = "7587884235463571000"): Lease {
  const attrs = { publicIP, publicIPv6: null };
  return {
    key: PREFIX + name,
    subnet: subnet(name),
    attrs,
    value: encodeLeaseValue(attrs),
    etcdLease,
    modRevision: 10,
    createRevision: 10,
  };
}

function damaged(name: string): DamagedEntry {
  return {
    key: PREFIX + name,
    subnet: subnet(name),
    reason: "value is not valid JSON",
    value: "{",
    etcdLease: "0",
    modRevision: 3,
  };
}

const listing = (leases: Lease[], more: Partial<LeaseListing> = {}): LeaseListing => ({
  revision: 42,
  leases,
  foreign: [],
  damaged: [],
  ...more,
});

const fixed = (x: number) => () => x;
const name = (s: LeaseSubnet): string => formatLeaseKey(s);

describe("decideAllocation", () => {
  it("reuses this host's lease when it still fits", () => {
    const mine = lease("10.5.7.0-24", ME.publicIP);
    const d = decideAllocation({
      listing: listing([lease("10.5.6.0-24", "192.168.64.4"), mine]),
      network: NET,
      attrs: ME,
      previous: subnet("10.5.9.0-24"),
      random: fixed(0),
    });
    expect(d.kind).toBe("reuse");
    expect(d.kind === "reuse" && d.lease).toBe(mine);
    expect(d.stale).toEqual([]);
  });

  it("keeps a reservation a reservation, preferring it over a lease of the same host", () => {
    const live = lease("10.5.8.0-24", ME.publicIP);
    const reserved = lease("10.5.20.0-24", ME.publicIP, "0");
    const d = decideAllocation({
      listing: listing([live, reserved]),
      network: NET,
      attrs: ME,
      random: fixed(0),
    });
    expect(d.kind === "reuse" && d.lease).toBe(reserved);
    expect(d.kind === "reuse" && d.lease.etcdLease).toBe("0");
  });

  it("marks this host's leases that no longer fit for deletion, but never a reservation", () => {
    const outside = lease("10.6.0.0-24", ME.publicIP);
    const wrongLength = lease("10.5.4.0-25", ME.publicIP);
    const reservedOutside = lease("10.7.0.0-24", ME.publicIP, "0");
    const d = decideAllocation({
      listing: listing([outside, wrongLength, reservedOutside]),
      network: NET,
      attrs: ME,
      random: fixed(0),
    });
    expect(d.kind).toBe("new");
    expect(d.stale).toEqual([outside, wrongLength]);
    // The /25 still occupies 10.5.4.0/24 until it is gone.
    expect(d.kind === "new" && name(d.subnet)).toBe("10.5.1.0-24");
  });

  it("takes the previous subnet when nothing overlaps it and it fits", () => {
    const d = decideAllocation({
      listing: listing([lease("10.5.6.0-24", "192.168.64.4")]),
      network: NET,
      attrs: ME,
      previous: subnet("10.5.9.0-24"),
      random: fixed(0),
    });
    expect(d.kind).toBe("previous");
    expect(d.kind === "previous" && name(d.subnet)).toBe("10.5.9.0-24");
  });

  it("does not take the previous subnet when another host holds it (flannel #1289)", () => {
    const d = decideAllocation({
      listing: listing([lease("10.5.9.0-24", "192.168.64.4")]),
      network: NET,
      attrs: ME,
      previous: subnet("10.5.9.0-24"),
      random: fixed(0.03),
    });
    expect(d.kind).toBe("new");
    expect(d.kind === "new" && name(d.subnet)).not.toBe("10.5.9.0-24");
  });

  it("does not take the previous subnet when a wider lease, a damaged entry or the range excludes it", () => {
    const base = { network: NET, attrs: ME, random: fixed(0) };
    const wider = decideAllocation({
      ...base,
      listing: listing([lease("10.5.8.0-23", "192.168.64.4")]),
      previous: subnet("10.5.9.0-24"),
    });
    expect(wider.kind).toBe("new");
    const broken = decideAllocation({
      ...base,
      listing: listing([], { damaged: [damaged("10.5.9.0-24")] }),
      previous: subnet("10.5.9.0-24"),
    });
    expect(broken.kind).toBe("new");
    const outside = decideAllocation({ ...base, listing: listing([]), previous: subnet("10.6.9.0-24") });
    expect(outside.kind === "new" && name(outside.subnet)).toBe("10.5.1.0-24");
    const shape = decideAllocation({ ...base, listing: listing([]), previous: subnet("10.5.9.0-25") });
    expect(shape.kind).toBe("new");
  });

  it("picks uniformly among all free subnets, not just the lowest", () => {
    const small = network4("10.5.0.0/16", 24, "10.5.1.0", "10.5.10.0");
    const taken = listing([lease("10.5.3.0-24", "1.1.1.1"), lease("10.5.6.0-23", "1.1.1.2")]);
    const counts = new Map<string, number>();
    const draws = 800;
    for (let k = 0; k < draws; k++) {
      const d = decideAllocation({
        listing: taken,
        network: small,
        attrs: ME,
        random: fixed((k + 0.5) / draws),
      });
      if (d.kind !== "new") throw new Error("expected a new subnet");
      counts.set(name(d.subnet), (counts.get(name(d.subnet)) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(
      [
        "10.5.1.0-24",
        "10.5.2.0-24",
        "10.5.4.0-24",
        "10.5.5.0-24",
        "10.5.8.0-24",
        "10.5.9.0-24",
        "10.5.10.0-24",
      ].sort(),
    );
    for (const n of counts.values()) expect(Math.abs(n - draws / 7)).toBeLessThanOrEqual(1);

    // Far beyond flannel's "first 100 free": the last subnet of a /16 can be chosen.
    const last = decideAllocation({ listing: listing([]), network: NET, attrs: ME, random: fixed(0.999999) });
    expect(last.kind === "new" && name(last.subnet)).toBe("10.5.255.0-24");
  });

  it("on a large sparse range, draws until a free subnet: never a taken or excluded one, every free one reachable", () => {
    // A /8 cut into /24s (65,535 subnets), as in the benchmarks: the draw path, not the count.
    const wide = NET_10_8;
    const taken = listing([
      lease("10.0.1.0-24", "1.1.1.1"),
      lease("10.0.2.0-24", "1.1.1.2"),
      lease("10.128.0.0-16", "1.1.1.3"), // a foreign length: all 256 /24s inside it are taken
    ]);
    const pick = (draws: number[], exclude: LeaseSubnet[] = []) => {
      const it = draws[Symbol.iterator]();
      const d = decideAllocation({
        listing: taken,
        network: wide,
        attrs: ME,
        exclude,
        random: () => it.next().value ?? expect.fail("more draws than given"),
      });
      return d.kind === "new" ? name(d.subnet) : d.kind;
    };
    const at = (i: number) => (i + 0.5) / 65_535; // the draw that lands on subnet index i
    // Taken (10.0.1.0, 10.0.2.0, inside 10.128.0.0/16) and excluded draws are passed over.
    expect(pick([at(0), at(1), at(2)])).toBe("10.0.3.0-24");
    expect(pick([at(32_767), at(32_768 + 255), at(32_768 + 256)])).toBe("10.129.0.0-24");
    expect(pick([at(2), at(3)], [subnet("10.0.3.0-24")])).toBe("10.0.4.0-24");
    // The first and the last subnet of the range can both be drawn.
    expect(pick([at(0), at(65_534)])).toBe("10.255.255.0-24");
    // Draws that all miss fall back to the exact count and rank (rank 0: the lowest free).
    expect(pick([...Array(24).fill(at(0)), 0])).toBe("10.0.3.0-24");
  });

  it("on a large range nine tenths taken, draws only free subnets, and counts when every draw misses", () => {
    const wide = NET_10_8;
    const nameAt = (i: number) => `10.${((i + 1) >> 8) & 255}.${(i + 1) & 255}.0-24`;
    const leases: Lease[] = [];
    for (let i = 0; i < 65_535; i++) if (i % 10 !== 3) leases.push(lease(nameAt(i), "1.1.1.1"));
    const taken = listing(leases);
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let k = 0; k < 200; k++) {
      const d = decideAllocation({ listing: taken, network: wide, attrs: ME, random });
      expect(d.kind).toBe("new");
      const got = d.kind === "new" ? name(d.subnet) : "";
      const i = ((parseIPv4(got.split("-")[0]!)! - parseIPv4("10.0.1.0")!) / 256) | 0;
      expect(i % 10, got).toBe(3);
    }
    // Every draw on a taken subnet: the exact count and rank decide (rank 0: the lowest free).
    const d = decideAllocation({ listing: taken, network: wide, attrs: ME, random: () => 0 });
    expect(d.kind === "new" && name(d.subnet)).toBe(nameAt(3));
  });

  it("lets overlapping leases of any length occupy, and foreign keys nothing", () => {
    const wide = listing([lease("10.5.0.0-17", "1.1.1.1")], {
      foreign: [{ key: `${PREFIX}garbage`, reason: "not a subnet", etcdLease: "0", modRevision: 1 }],
    });
    const d = decideAllocation({ listing: wide, network: NET, attrs: ME, random: fixed(0) });
    expect(d.kind === "new" && name(d.subnet)).toBe("10.5.128.0-24");
    const all = listing([lease("10.0.0.0-8", "1.1.1.1")]);
    expect(() => decideAllocation({ listing: all, network: NET, attrs: ME, random: fixed(0) })).toThrow(
      /out of subnets/,
    );
  });

  it("fails with an exhausted error naming the range and its size", () => {
    const tiny = network4("10.5.0.0/16", 24, "10.5.1.0", "10.5.2.0");
    const full = listing([lease("10.5.1.0-24", "1.1.1.1")], { damaged: [damaged("10.5.2.0-24")] });
    let caught: unknown;
    try {
      decideAllocation({ listing: full, network: tiny, attrs: ME, random: fixed(0.5) });
    } catch (err) {
      caught = err;
    }
    expect(isPodnetError(caught, "exhausted")).toBe(true);
    expect((caught as Error).message).toContain("10.5.1.0 … 10.5.2.0 (/24)");
    expect((caught as Error).message).toContain("2 in all");
    expect(exhaustedError(NET.ipv4!).message).toContain("10.5.1.0 … 10.5.255.0 (/24), 255 in all");
  });

  it("picks both families on dual stack, and a single-stack lease no longer fits", () => {
    const v4only = lease("10.5.1.0-24", ME.publicIP);
    const other = lease("10.5.2.0-24&fc00:0:0:1::-64", "1.1.1.1");
    const d = decideAllocation({
      listing: listing([v4only, other]),
      network: DUAL,
      attrs: ME,
      random: fixed(0.99),
    });
    expect(d.stale).toEqual([v4only]);
    if (d.kind !== "new") throw new Error("expected a new subnet");
    // 10.5.1.0 (our stale lease) and 10.5.2.0 are occupied, fc00:0:0:1:: too.
    expect(name(d.subnet)).toBe("10.5.3.0-24&fc00:0:0:3::-64");
    expect(leaseFits(DUAL, d.subnet)).toBe(true);
    const reuse = decideAllocation({
      listing: listing([other]),
      network: DUAL,
      attrs: { ...ME, publicIP: "1.1.1.1" },
      random: fixed(0),
    });
    expect(reuse.kind).toBe("reuse");
  });

  it("handles IPv6-only networks with flannel's zero IPv4 part", () => {
    const v6only: LeaseNetwork = { ipv6: DUAL.ipv6! };
    const other = lease("0.0.0.0-0&fc00:0:0:1::-64", "1.1.1.1");
    const d = decideAllocation({ listing: listing([other]), network: v6only, attrs: ME, random: fixed(0) });
    expect(d.kind === "new" && name(d.subnet)).toBe("0.0.0.0-0&fc00:0:0:2::-64");
    // The zero IPv4 part of an IPv6-only lease does not occupy the IPv4 range of a dual-stack network.
    const dual = decideAllocation({ listing: listing([other]), network: DUAL, attrs: ME, random: fixed(0) });
    expect(dual.kind === "new" && name(dual.subnet)).toBe("10.5.1.0-24&fc00:0:0:2::-64");
  });

  it("picks a uniform IPv6 subnet in a huge range without enumerating it", () => {
    const huge: LeaseNetwork = { ipv6: range6("fc00::/16", 64, "fc00::", "fc00:ffff:ffff:ffff::") };
    const hi = pickFreeSubnet(listing([]), huge, fixed(0.9999999999));
    expect(hi.ipv6!.ip > parseIPv6("fc00:ff00::")!).toBe(true);
    expect(leaseFits(huge, hi)).toBe(true);
  });
});

describe("pickFreeSubnet after a lost race", () => {
  it("excludes the subnets already tried", () => {
    const tiny = network4("10.5.0.0/16", 24, "10.5.1.0", "10.5.3.0");
    const tried = [subnet("10.5.1.0-24"), subnet("10.5.3.0-24")];
    expect(name(pickFreeSubnet(listing([]), tiny, fixed(0.7), tried))).toBe("10.5.2.0-24");
    expect(() => pickFreeSubnet(listing([lease("10.5.2.0-24", "1.1.1.1")]), tiny, fixed(0), tried)).toThrow(
      expect.objectContaining({ code: "exhausted" }),
    );
  });

  it("never takes the previous subnet once it was tried", () => {
    const d = decideAllocation({
      listing: listing([]),
      network: NET,
      attrs: ME,
      previous: subnet("10.5.9.0-24"),
      exclude: [subnet("10.5.9.0-24")],
      random: fixed(0),
    });
    expect(d.kind === "new" && name(d.subnet)).toBe("10.5.1.0-24");
  });
});
