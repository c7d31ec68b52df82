import { describe, expect, it } from "vitest";
import { validateConfig } from "./validate.js";

const VXLAN = { Type: "vxlan" };

/** The errors of a document with a vxlan backend (so no backend warning interferes). */
function errorsOf(doc: Record<string, unknown>) {
  return validateConfig({ Backend: VXLAN, ...doc }).errors.map((e) => [e.path, e.message]);
}

function resolvedOf(doc: Record<string, unknown>) {
  const r = validateConfig({ Backend: VXLAN, ...doc });
  expect(r.errors).toEqual([]);
  return r.resolved;
}

describe("flannel's config tests (pkg/subnet/config_test.go)", () => {
  it("TestConfigDefaults", () => {
    expect(resolvedOf({ network: "10.3.0.0/16" })).toMatchObject({
      Network: "10.3.0.0/16",
      SubnetLen: 24,
      SubnetMin: "10.3.1.0",
      SubnetMax: "10.3.255.0",
    });
  });

  it("TestConfigOverrides", () => {
    expect(
      resolvedOf({ Network: "10.3.0.0/16", SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0", SubnetLen: 28 }),
    ).toMatchObject({ Network: "10.3.0.0/16", SubnetLen: 28, SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0" });
  });

  // flannel's IPv6 tests disable IPv4, which podnet rejects for etcd; the resolution still comes out.
  it("TestIPv6ConfigDefaults", () => {
    const r = validateConfig({
      enableIPv6: true,
      ipv6Network: "fc00::/48",
      enableIPv4: false,
      Backend: VXLAN,
    });
    expect(r.resolved).toMatchObject({
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 64,
      IPv6SubnetMin: "fc00:0:0:1::",
      IPv6SubnetMax: "fc00:0:0:ffff::",
    });
    expect(r.errors.map((e) => e.path)).toEqual(["/enableIPv4"]);
  });

  it("TestIPv6ConfigOverrides", () => {
    const r = validateConfig({
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      IPv6SubnetMin: "fc00:0:0:1::",
      IPv6SubnetMax: "fc00:0:0:f::",
      IPv6SubnetLen: 124,
      enableIPv4: false,
      Backend: VXLAN,
    });
    expect(r.resolved).toMatchObject({
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 124,
      IPv6SubnetMin: "fc00:0:0:1::",
      IPv6SubnetMax: "fc00:0:0:f::",
    });
  });
});

describe("the spec's worked values", () => {
  it("10.3.0.0/16 gives /24 from 10.3.1.0 to 10.3.255.0", () => {
    expect(resolvedOf({ Network: "10.3.0.0/16" })).toMatchObject({
      SubnetLen: 24,
      SubnetMin: "10.3.1.0",
      SubnetMax: "10.3.255.0",
    });
  });
  it("10.0.0.0/23 gives /25 from 10.0.0.128 to 10.0.1.128", () => {
    expect(resolvedOf({ Network: "10.0.0.0/23" })).toMatchObject({
      SubnetLen: 25,
      SubnetMin: "10.0.0.128",
      SubnetMax: "10.0.1.128",
    });
  });
  it("fc00::/48 gives /64 from fc00:0:0:1:: to fc00:0:0:ffff::", () => {
    expect(
      resolvedOf({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "FC00:0::/48" }),
    ).toMatchObject({
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 64,
      IPv6SubnetMin: "fc00:0:0:1::",
      IPv6SubnetMax: "fc00:0:0:ffff::",
    });
  });
  it("masks host bits: 10.3.5.1/16 means 10.3.0.0/16", () => {
    expect(resolvedOf({ Network: "10.3.5.1/16" })).toMatchObject({
      Network: "10.3.0.0/16",
      SubnetMin: "10.3.1.0",
    });
  });
  it("/28 is the smallest network without SubnetLen (prefix + 2)", () => {
    expect(resolvedOf({ Network: "10.0.0.0/28" })).toMatchObject({
      SubnetLen: 30,
      SubnetMin: "10.0.0.4",
      SubnetMax: "10.0.0.12",
    });
  });
  it("/22 still gets /24", () => {
    expect(resolvedOf({ Network: "10.0.0.0/22" })).toMatchObject({ SubnetLen: 24, SubnetMax: "10.0.3.0" });
  });
  it("IPv6 /63 gets prefix + 2 and /62 gets /64", () => {
    expect(resolvedOf({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/63" })).toMatchObject({
      IPv6SubnetLen: 65,
    });
    expect(resolvedOf({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/62" })).toMatchObject({
      IPv6SubnetLen: 64,
      IPv6SubnetMax: "fc00:0:0:3::",
    });
  });
  it("omits the fields of a disabled family", () => {
    const r = resolvedOf({ Network: "10.5.0.0/16" });
    expect(r).not.toHaveProperty("IPv6Network");
    expect(r).not.toHaveProperty("IPv6SubnetLen");
  });
  it("fills the flags' defaults", () => {
    expect(resolvedOf({ Network: "10.5.0.0/16" })).toMatchObject({
      EnableIPv4: true,
      EnableIPv6: false,
      EnableNFTables: false,
    });
  });
  it("treats null as absent, as Go's encoding/json does", () => {
    expect(resolvedOf({ Network: "10.5.0.0/16", SubnetLen: null, EnableIPv4: null })).toMatchObject({
      SubnetLen: 24,
      EnableIPv4: true,
    });
  });
  it("treats SubnetMin 0.0.0.0 as not given, as flannel does", () => {
    expect(resolvedOf({ Network: "10.5.0.0/16", SubnetMin: "0.0.0.0" })).toMatchObject({
      SubnetMin: "10.5.1.0",
    });
  });
});

describe("flannel's IPv4 rules, verbatim, first failure wins", () => {
  const DEFINE = "please define a correct Network parameter in the flannel config";
  it("1. Network missing, empty, 0.0.0.0/0 or unparsable", () => {
    expect(errorsOf({})).toEqual([["/Network", DEFINE]]);
    expect(errorsOf({ Network: "" })).toEqual([["/Network", DEFINE]]);
    expect(errorsOf({ Network: null })).toEqual([["/Network", DEFINE]]);
    expect(errorsOf({ Network: "0.0.0.0/0" })).toEqual([
      ["/Network", `${DEFINE}: 0.0.0.0/0 is no pod network`],
    ]);
    expect(errorsOf({ Network: "10.0.0.0/0" })).toEqual([
      ["/Network", `${DEFINE}: 0.0.0.0/0 is no pod network`],
    ]);
    expect(errorsOf({ Network: "10.5.0.0" })).toEqual([
      [
        "/Network",
        `${DEFINE}: "10.5.0.0" is an address without a prefix length; write an IPv4 CIDR such as 10.5.0.0/16`,
      ],
    ]);
    expect(errorsOf({ Network: "fc00::/48" })[0]?.[1]).toMatch(/^please define a correct Network parameter/);
  });
  it("2. SubnetLen given", () => {
    expect(errorsOf({ Network: "10.0.0.0/8", SubnetLen: 31 })).toEqual([
      ["/SubnetLen", "SubnetLen must be less than /31"],
    ]);
    expect(errorsOf({ Network: "10.0.0.0/16", SubnetLen: 17 })).toEqual([
      ["/SubnetLen", "network must be able to accommodate at least four subnets"],
    ]);
    expect(errorsOf({ Network: "10.0.0.0/16", SubnetLen: 18 })).toEqual([]);
  });
  it("3. SubnetLen derived: prefix above 28 is too small", () => {
    expect(errorsOf({ Network: "10.0.0.0/29" })).toEqual([
      ["/Network", "network is too small. Minimum useful network prefix is /28"],
    ]);
  });
  it("4, 5. SubnetMin and SubnetMax must lie inside Network", () => {
    expect(errorsOf({ Network: "10.3.0.0/16", SubnetMin: "10.4.0.0" })).toEqual([
      ["/SubnetMin", "SubnetMin is not in the range of the Network"],
    ]);
    expect(errorsOf({ Network: "10.3.0.0/16", SubnetMax: "10.4.0.0" })).toEqual([
      ["/SubnetMax", "SubnetMax is not in the range of the Network"],
    ]);
  });
  it("6, 7. SubnetMin and SubnetMax must be on a SubnetLen boundary", () => {
    expect(errorsOf({ Network: "10.3.0.0/16", SubnetMin: "10.3.1.1" })).toEqual([
      ["/SubnetMin", "SubnetMin is not on a SubnetLen boundary: 10.3.1.1"],
    ]);
    expect(errorsOf({ Network: "10.3.0.0/16", SubnetMax: "10.3.1.128" })).toEqual([
      ["/SubnetMax", "SubnetMax is not on a SubnetLen boundary: 10.3.1.128"],
    ]);
  });
  it("reports only the first failure", () => {
    expect(errorsOf({ Network: "10.3.0.0/16", SubnetMin: "10.4.0.0", SubnetMax: "10.4.0.0" })).toEqual([
      ["/SubnetMin", "SubnetMin is not in the range of the Network"],
    ]);
  });
  it("uses the key as spelled in the document for the path", () => {
    expect(errorsOf({ network: "10.3.0.0/16", subnetlen: 31 })).toEqual([
      ["/subnetlen", "SubnetLen must be less than /31"],
    ]);
  });
  it("skips the IPv4 block when EnableIPv4 is false", () => {
    const r = validateConfig({
      EnableIPv4: false,
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      Backend: VXLAN,
    });
    expect(r.errors.map((e) => e.message)).not.toContain(
      "please define a correct Network parameter in the flannel config",
    );
  });
});

describe("flannel's IPv6 rules, verbatim", () => {
  const v6 = (doc: Record<string, unknown>) => errorsOf({ Network: "10.5.0.0/16", EnableIPv6: true, ...doc });
  it("IPv6Network missing or unparsable", () => {
    expect(v6({})).toEqual([
      ["/IPv6Network", "please define a correct IPv6Network parameter in the flannel config"],
    ]);
    expect(v6({ IPv6Network: "10.0.0.0/8" })).toEqual([
      [
        "/IPv6Network",
        'please define a correct IPv6Network parameter in the flannel config: "10.0.0.0/8" is an IPv4 CIDR; an IPv6 CIDR such as fc00::/48 is needed here',
      ],
    ]);
  });
  it("IPv6SubnetLen given", () => {
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetLen: 127 })).toEqual([
      ["/IPv6SubnetLen", "SubnetLen must be less than /127"],
    ]);
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetLen: 49 })).toEqual([
      ["/IPv6SubnetLen", "network must be able to accommodate at least four subnets"],
    ]);
  });
  it("IPv6Network too small", () => {
    expect(v6({ IPv6Network: "fc00::/125" })).toEqual([
      ["/IPv6Network", "IPv6Network is too small. Minimum useful network prefix is /124"],
    ]);
  });
  it("IPv6SubnetMin and IPv6SubnetMax range and boundary", () => {
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetMin: "fc01::" })).toEqual([
      ["/IPv6SubnetMin", "IPv6SubnetMin is not in the range of the IPv6Network"],
    ]);
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetMax: "fc01::" })).toEqual([
      ["/IPv6SubnetMax", "IPv6SubnetMax is not in the range of the IPv6Network"],
    ]);
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetMin: "FC00:0:0:1::1" })).toEqual([
      ["/IPv6SubnetMin", "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1"],
    ]);
    expect(v6({ IPv6Network: "fc00::/48", IPv6SubnetMax: "fc00:0:0:2:8000::" })).toEqual([
      ["/IPv6SubnetMax", "IPv6SubnetMax is not on a SubnetLen boundary: fc00:0:0:2:8000::"],
    ]);
  });
  it("the IPv4 block fails first", () => {
    expect(errorsOf({ EnableIPv6: true })).toEqual([
      ["/Network", "please define a correct Network parameter in the flannel config"],
    ]);
  });
});
