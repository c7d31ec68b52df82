import { isPodnetError, parseIPv4, parseIPv6 } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { leaseAttrsFrom, leaseTargetFrom, subnetArg, targetArg, ttlFlag } from "./flags.js";

const VXLAN = { Type: "vxlan", VNI: 7, Port: 0, GBP: false, Learning: false, DirectRouting: false } as const;

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPodnetError(err, "usage")) return err.message;
    throw err;
  }
  throw new Error("no usage error");
}

describe("subnetArg", () => {
  it("reads CIDRs, flannel's key names and full keys alike", () => {
    const want = { ipv4: { ip: parseIPv4("10.5.52.0"), prefix: 24 } };
    expect(subnetArg("10.5.52.0/24")).toEqual(want);
    expect(subnetArg("10.5.52.0-24")).toEqual(want);
    expect(subnetArg("/coreos.com/network/subnets/10.5.52.0-24")).toEqual(want);
  });

  it("reads dual-stack and IPv6-only subnets", () => {
    const v6 = { ip: parseIPv6("fc00:0:0:34::"), prefix: 64 };
    expect(subnetArg("10.5.52.0-24&fc00:0:0:34::-64")).toEqual({
      ipv4: { ip: parseIPv4("10.5.52.0"), prefix: 24 },
      ipv6: v6,
    });
    expect(subnetArg("fc00:0:0:34::/64")).toEqual({ ipv4: { ip: 0, prefix: 0 }, ipv6: v6 });
  });

  it("refuses host bits with the subnet meant, and garbage with an example", () => {
    expect(usage(() => subnetArg("10.5.52.1/24"))).toMatch(/did you mean 10.5.52.0\/24\?/);
    expect(usage(() => subnetArg("10.5/24"))).toBe(
      '"10.5/24" is not a subnet: "10.5" is not an IP address; give it like 10.5.52.0/24 or as flannel\'s key name 10.5.52.0-24',
    );
    expect(usage(() => subnetArg("10.5.52.0/33"))).toMatch(
      /^"10\.5\.52\.0\/33" is not a subnet: it has a prefix length "33" that is not a number from 0 to 32; give it like/,
    );
  });
});

describe("targets", () => {
  it("tells addresses from subnets", () => {
    expect(targetArg("10.5.52.7")).toMatchObject({ kind: "ip", ipv4: parseIPv4("10.5.52.7") });
    expect(targetArg("fc00::7")).toMatchObject({ kind: "ip", ipv6: parseIPv6("fc00::7") });
    expect(targetArg("10.5.52.0-24").kind).toBe("subnet");
  });

  it("wants exactly one of SUBNET and --public-ip", () => {
    expect(usage(() => leaseTargetFrom(undefined, undefined))).toMatch(/either a SUBNET or --public-ip/);
    expect(usage(() => leaseTargetFrom("10.5.52.0/24", "192.0.2.7"))).toMatch(/either/);
    expect(leaseTargetFrom(undefined, "192.0.2.7")).toMatchObject({ kind: "owner", publicIP: "192.0.2.7" });
  });
});

describe("leaseAttrsFrom", () => {
  it("builds vxlan's BackendData from --vtep-mac with the config's VNI", () => {
    expect(leaseAttrsFrom({ publicIp: "192.0.2.7", vtepMac: "C6-D2-32-6F-8F-44" })(VXLAN)).toEqual({
      publicIP: "192.0.2.7",
      publicIPv6: null,
      backendType: "vxlan",
      backendData: '{"VNI":7,"VtepMAC":"c6:d2:32:6f:8f:44"}',
    });
  });

  it("writes no BackendType for udp and alloc, the config's otherwise", () => {
    expect(
      leaseAttrsFrom({ publicIp: "192.0.2.7" })({ Type: "udp", Port: 8285 }).backendType,
    ).toBeUndefined();
    expect(leaseAttrsFrom({ publicIp: "192.0.2.7" })({ Type: "host-gw" }).backendType).toBe("host-gw");
  });

  it("refuses bad addresses, MACs and JSON as usage errors", () => {
    expect(usage(() => leaseAttrsFrom({ publicIp: "192.0.2" })(VXLAN))).toMatch(/--public-ip/);
    expect(usage(() => leaseAttrsFrom({ publicIp: "192.0.2.7", publicIpv6: "fc00::g" })(VXLAN))).toMatch(
      /--public-ipv6/,
    );
    expect(usage(() => leaseAttrsFrom({ publicIp: "192.0.2.7", vtepMac: "c6:d2" })(VXLAN))).toMatch(
      /--vtep-mac/,
    );
    expect(usage(() => leaseAttrsFrom({ publicIp: "192.0.2.7", backendData: "[1]" })(VXLAN))).toMatch(
      /JSON object/,
    );
  });
});

describe("ttlFlag", () => {
  it("takes Go-style durations in whole seconds", () => {
    expect(ttlFlag("24h")).toBe(86_400);
    expect(ttlFlag("1.5s")).toBe(2);
    expect(usage(() => ttlFlag("0s"))).toMatch(/--ttl/);
  });
});
