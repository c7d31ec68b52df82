import { describe, expect, it } from "vitest";
import { parseIPv4, parseIPv6 } from "./address.js";
import type { Lease } from "./lease.js";
import { encodeLeaseValue, type LeaseAttrs, parseLeaseKey } from "./lease-codec.js";
import { findLeases } from "./lease-lookup.js";

function lease(name: string, attrs: Partial<LeaseAttrs> & { publicIP: string }): Lease {
  const full: LeaseAttrs = { publicIPv6: null, ...attrs };
  return {
    key: `/p/subnets/${name}`,
    subnet: parseLeaseKey(name)!,
    attrs: full,
    value: encodeLeaseValue(full),
    etcdLease: "7",
    modRevision: 1,
    createRevision: 1,
  };
}

describe("findLeases", () => {
  const a = lease("10.5.1.0-24&fc00:0:0:1::-64", { publicIP: "192.0.2.1", publicIPv6: "fc00::1" });
  const b = lease("10.5.2.0-24", { publicIP: "10.5.1.9" });
  const listing = { revision: 1, leases: [a, b], foreign: [], damaged: [] };

  it("by subnet, an IPv4 part alone naming the dual-stack lease", () => {
    expect(findLeases(listing, { kind: "subnet", subnet: parseLeaseKey("10.5.1.0-24")!, text: "" })).toEqual([
      a,
    ]);
  });
  it("by owner", () => {
    expect(findLeases(listing, { kind: "owner", publicIP: "10.5.1.9", text: "" })).toEqual([b]);
  });
  it("by address: the lease containing it first, then the leases it owns", () => {
    expect(findLeases(listing, { kind: "ip", ipv4: parseIPv4("10.5.1.9")!, text: "10.5.1.9" })).toEqual([
      a,
      b,
    ]);
    expect(findLeases(listing, { kind: "ip", ipv6: parseIPv6("fc00::1")!, text: "fc00::1" })).toEqual([a]);
  });
});
