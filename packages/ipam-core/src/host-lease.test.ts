import { describe, expect, it } from "vitest";
import { findHostLease, pickHostLease, sameSubnet } from "./host-lease.js";
import type { Lease, LeaseListing } from "./lease.js";
import { encodeLeaseValue, type LeaseAttrs, parseLeaseKey } from "./lease-codec.js";

function lease(name: string, attrs: Partial<LeaseAttrs> & { publicIP: string }, etcdLease = "7"): Lease {
  const subnet = parseLeaseKey(name);
  if (subnet === null) throw new Error(name);
  const full: LeaseAttrs = { publicIPv6: null, ...attrs };
  return {
    key: `/coreos.com/network/subnets/${name}`,
    subnet,
    attrs: full,
    value: encodeLeaseValue(full),
    etcdLease,
    modRevision: 2,
    createRevision: 2,
  };
}
const listing = (...leases: Lease[]): LeaseListing => ({ revision: 9, leases, foreign: [], damaged: [] });

describe("sameSubnet", () => {
  it("matches a dual-stack lease by its IPv4 part alone, not the other way round", () => {
    const dual = parseLeaseKey("10.5.1.0-24&fc00:0:0:1::-64")!;
    const v4 = parseLeaseKey("10.5.1.0-24")!;
    expect(sameSubnet(dual, v4)).toBe(true);
    expect(sameSubnet(v4, dual)).toBe(false);
    expect(sameSubnet(v4, parseLeaseKey("10.5.2.0-24")!)).toBe(false);
  });
});

describe("findHostLease", () => {
  const a = lease("10.5.1.0-24", { publicIP: "192.0.2.1" });
  const reserved = lease("10.5.9.0-24", { publicIP: "192.0.2.1" }, "0");
  const b = lease("10.5.2.0-24&fc00:0:0:2::-64", { publicIP: "192.0.2.2", publicIPv6: "fc00::2" });

  it("by PublicIP, a reservation first, as the allocator reuses", () => {
    const found = findHostLease(listing(a, reserved, b), { publicIp: "192.0.2.1" });
    expect(found.lease).toBe(reserved);
    expect(found.lease && found.others).toEqual([a]);
    expect(pickHostLease([a, reserved])).toBe(reserved);
  });

  it("by PublicIPv6 too, in any spelling", () => {
    expect(findHostLease(listing(a, b), { publicIp: "fc00:0::2" }).lease).toBe(b);
  });

  it("the public address wins over the subnet file, which wins over the device", () => {
    const hints = {
      publicIp: "192.0.2.2",
      subnetFileSubnet: a.subnet,
      deviceAddresses: ["10.5.1.0/32"],
    };
    expect(findHostLease(listing(a, b), hints).lease).toBe(b);
    const { publicIp: _, ...noIp } = hints;
    const byFile = findHostLease(listing(a, b), { ...noIp, subnetFileSubnet: b.subnet });
    expect(byFile.lease === b && byFile.foundBy).toBe("subnet-file");
    const byDevice = findHostLease(listing(a, b), { deviceAddresses: ["10.5.2.0/32"], device: "flannel.1" });
    expect(byDevice.lease === b && byDevice.foundBy).toBe("device");
  });

  it("says what it looked at when nothing matches", () => {
    const none = findHostLease(listing(a), {
      subnetFileSubnet: b.subnet,
      subnetFile: "/run/flannel/subnet.env",
      deviceAddresses: ["10.5.7.0/32"],
      device: "flannel.1",
    });
    expect(none.lease).toBeUndefined();
    expect(!none.lease && none.why).toBe(
      "/run/flannel/subnet.env names 10.5.2.0/24 + fc00:0:0:2::/64, but no lease holds it (this host has lost its lease); no lease matches flannel.1's address; give --public-ip to find it by owner",
    );
    expect(findHostLease(listing(a), { publicIp: "192.0.2.9" })).toEqual({
      lease: undefined,
      why: "192.0.2.9 holds no lease",
    });
  });
});
