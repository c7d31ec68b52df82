import { describe, expect, it } from "vitest";
import { type ValidateOptions, validateConfig } from "./validate.js";

const VXLAN = { Type: "vxlan" };

function check(doc: Record<string, unknown>, opts: ValidateOptions = {}) {
  return validateConfig({ Backend: VXLAN, ...doc }, opts);
}

describe("podnet's stricter network checks", () => {
  it("rejects SubnetMin above SubnetMax but still resolves", () => {
    const r = check({ Network: "10.3.0.0/16", SubnetMin: "10.3.9.0", SubnetMax: "10.3.8.0" });
    expect(r.errors).toEqual([
      {
        severity: "error",
        path: "/SubnetMin",
        message: "SubnetMin 10.3.9.0 is above SubnetMax 10.3.8.0, so no subnet can be leased",
      },
    ]);
    expect(r.resolved?.SubnetMin).toBe("10.3.9.0");
  });

  it("rejects IPv6SubnetMin above IPv6SubnetMax", () => {
    const r = check({
      Network: "10.3.0.0/16",
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      IPv6SubnetMin: "fc00:0:0:9::",
      IPv6SubnetMax: "fc00:0:0:8::",
    });
    expect(r.errors.map((e) => [e.path, e.message])).toEqual([
      [
        "/IPv6SubnetMin",
        "IPv6SubnetMin fc00:0:0:9:: is above IPv6SubnetMax fc00:0:0:8::, so no subnet can be leased",
      ],
    ]);
  });

  it("rejects both families disabled", () => {
    const r = check({ EnableIPv4: false });
    expect(r.errors.map((e) => [e.path, e.message])).toEqual([
      ["", "EnableIPv4 and EnableIPv6 are both false; enable at least one address family"],
    ]);
  });

  it("rejects IPv6-only, which flannel's etcd lease code cannot store", () => {
    const r = check({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/48" });
    expect(r.errors.map((e) => [e.path, e.message])).toEqual([
      [
        "/EnableIPv4",
        "IPv6-only networks do not work with etcd: flannel's etcd lease code always needs an IPv4 part; set EnableIPv4 to true and give a Network",
      ],
    ]);
  });

  it("warns when a disabled family's network is set", () => {
    const r = check({ Network: "10.3.0.0/16", IPv6Network: "fc00::/48" });
    expect(r.valid).toBe(true);
    expect(r.warnings.map((w) => [w.path, w.message])).toEqual([
      [
        "/IPv6Network",
        'IPv6Network is set but EnableIPv6 is false, so flannel ignores it; add "EnableIPv6": true',
      ],
    ]);
  });

  describe("capacity against --nodes", () => {
    it("accepts a range that holds the nodes exactly", () => {
      expect(check({ Network: "10.3.0.0/16" }, { nodes: 255 }).errors).toEqual([]);
    });
    it("says how many the range holds and which SubnetLen would fit", () => {
      const r = check({ Network: "10.3.0.0/16" }, { nodes: 256 });
      expect(r.errors.map((e) => [e.path, e.message])).toEqual([
        [
          "/Network",
          "the subnet range 10.3.1.0 … 10.3.255.0 holds 255 subnets of /24, fewer than the 256 nodes planned; SubnetLen 25 would hold 511 with the default range",
        ],
      ]);
      expect(r.resolved).toBeDefined();
    });
    it("counts a custom SubnetMin..SubnetMax range inclusively", () => {
      const r = check(
        { Network: "10.3.0.0/16", SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0", SubnetLen: 28 },
        { nodes: 50 },
      );
      expect(r.errors[0]?.message).toBe(
        "the subnet range 10.3.5.0 … 10.3.8.0 holds 49 subnets of /28, fewer than the 50 nodes planned; SubnetLen 22 would hold 63 with the default range",
      );
    });
    it("says when no SubnetLen fits", () => {
      const r = check({ Network: "10.0.0.0/28" }, { nodes: 4 });
      expect(r.errors[0]?.message).toBe(
        "the subnet range 10.0.0.4 … 10.0.0.12 holds 3 subnets of /30, fewer than the 4 nodes planned; no SubnetLen up to 30 holds 4 subnets in 10.0.0.0/28; use a larger network",
      );
    });
    it("checks the IPv6 range too", () => {
      const r = check({ Network: "10.0.0.0/8", EnableIPv6: true, IPv6Network: "fc00::/124" }, { nodes: 5 });
      expect(r.errors.map((e) => [e.path, e.message])).toEqual([
        [
          "/IPv6Network",
          "the IPv6 subnet range fc00::4 … fc00::c holds 3 subnets of /126, fewer than the 5 nodes planned; no IPv6SubnetLen up to 126 holds 5 subnets in fc00::/124; use a larger network",
        ],
      ]);
    });
    it("rejects a node count that is no positive integer", () => {
      expect(check({ Network: "10.3.0.0/16" }, { nodes: 0 }).errors.map((e) => e.message)).toEqual([
        "the node count must be a positive integer, not the number 0",
      ]);
      expect(check({ Network: "10.3.0.0/16" }, { nodes: 2.5 }).valid).toBe(false);
    });
  });

  describe("overlap with --underlay", () => {
    it("names both networks", () => {
      const r = check({ Network: "10.3.0.0/16" }, { underlay: ["192.168.0.0/24", "10.3.7.9/24"] });
      expect(r.errors.map((e) => [e.path, e.message])).toEqual([
        [
          "/Network",
          "Network 10.3.0.0/16 overlaps the underlay network 10.3.7.0/24; pod routes would hijack traffic between hosts",
        ],
      ]);
    });
    it("catches an underlay that contains the whole pod network", () => {
      expect(check({ Network: "10.3.0.0/16" }, { underlay: ["10.0.0.0/8"] }).valid).toBe(false);
    });
    it("checks IPv6 against IPv6Network", () => {
      const r = check(
        { Network: "10.3.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" },
        { underlay: ["fc00:0:0:5::/64", "2001:db8::/32"] },
      );
      expect(r.errors.map((e) => [e.path, e.message])).toEqual([
        [
          "/IPv6Network",
          "IPv6Network fc00::/48 overlaps the underlay network fc00:0:0:5::/64; pod routes would hijack traffic between hosts",
        ],
      ]);
    });
    it("rejects an underlay that is no CIDR", () => {
      expect(check({ Network: "10.3.0.0/16" }, { underlay: ["eth0"] }).errors.map((e) => e.message)).toEqual([
        'underlay: "eth0" is not a CIDR such as 10.5.0.0/16',
      ]);
    });
  });
});
