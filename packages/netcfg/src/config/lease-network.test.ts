import { parseIPv4, parseIPv6, rangeSize } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { leaseNetworkOf } from "./lease-network.js";
import { validateConfig } from "./validate.js";

function resolve(doc: Record<string, unknown>) {
  const r = validateConfig({ Backend: { Type: "vxlan" }, ...doc });
  expect(r.errors).toEqual([]);
  if (r.resolved === undefined) throw new Error("not resolved");
  return r.resolved;
}

describe("leaseNetworkOf", () => {
  it("gives the IPv4 range of flannel's defaults", () => {
    const n = leaseNetworkOf(resolve({ Network: "10.5.0.0/16" }));
    expect(n.ipv6).toBeUndefined();
    expect(n.ipv4).toEqual({
      network: { ip: parseIPv4("10.5.0.0"), prefix: 16 },
      subnetLen: 24,
      min: parseIPv4("10.5.1.0"),
      max: parseIPv4("10.5.255.0"),
    });
    expect(n.ipv4 && rangeSize(n.ipv4)).toBe(255);
  });

  it("keeps SubnetMin, SubnetMax and SubnetLen overrides", () => {
    const n = leaseNetworkOf(
      resolve({ Network: "10.3.0.0/16", SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0", SubnetLen: 28 }),
    );
    expect(n.ipv4?.subnetLen).toBe(28);
    expect(n.ipv4?.min).toBe(parseIPv4("10.3.5.0"));
    expect(n.ipv4?.max).toBe(parseIPv4("10.3.8.0"));
  });

  it("gives both families for a dual-stack config", () => {
    const n = leaseNetworkOf(
      resolve({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48", IPv6SubnetLen: 64 }),
    );
    expect(n.ipv4).toBeDefined();
    expect(n.ipv6?.network).toEqual({ ip: parseIPv6("fc00::"), prefix: 48 });
    expect(n.ipv6?.subnetLen).toBe(64);
    expect(typeof n.ipv6?.min).toBe("bigint");
  });

  it("gives only IPv6 when IPv4 is disabled (a resolved form the validator refuses for etcd)", () => {
    const dual = resolve({
      Network: "10.5.0.0/16",
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 64,
    });
    const n = leaseNetworkOf({ ...dual, EnableIPv4: false });
    expect(n.ipv4).toBeUndefined();
    expect(n.ipv6).toBeDefined();
  });

  it("refuses a config with neither family", () => {
    const only4 = resolve({ Network: "10.5.0.0/16" });
    expect(() => leaseNetworkOf({ ...only4, EnableIPv4: false })).toThrow(/neither/);
  });
});
