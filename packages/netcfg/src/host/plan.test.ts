import {
  encodeLeaseValue,
  isPodnetError,
  type Lease,
  type LeaseAttrs,
  normaliseMac,
  parseIPv4Cidr,
} from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import type { ResolvedConfig } from "../config/schema.js";
import { validateConfig } from "../config/validate.js";
import { planDataPlane, vtepMacFor } from "./plan.js";

function config(backend: Record<string, unknown> = {}): ResolvedConfig {
  const result = validateConfig({ Network: "10.5.0.0/16", Backend: { Type: "vxlan", ...backend } });
  return result.resolved ?? expect.fail(JSON.stringify(result.errors));
}

function lease(subnet: string, publicIP: string, extra: Partial<LeaseAttrs> = {}): Lease {
  const ipv4 = parseIPv4Cidr(subnet) ?? expect.fail(subnet);
  const attrs: LeaseAttrs = { publicIP, publicIPv6: null, ...extra };
  return {
    key: `/coreos.com/network/subnets/${subnet.replace("/", "-")}`,
    subnet: { ipv4 },
    attrs,
    value: encodeLeaseValue(attrs),
    etcdLease: "7",
    modRevision: 1,
    createRevision: 1,
  };
}

const vxlan = (subnet: string, publicIP: string, mac: string, vni = 1) =>
  lease(subnet, publicIP, { backendType: "vxlan", backendData: JSON.stringify({ VNI: vni, VtepMAC: mac }) });

const OWN = vxlan("10.5.1.0/24", "192.0.2.1", "0e:00:00:00:00:01");
const UNDERLAY = { dev: "eth0", ip: "192.0.2.1", mtu: 1500 };

describe("planDataPlane", () => {
  it("plans the device as spec section 9 says", () => {
    const plan = planDataPlane({ config: config(), own: OWN, peers: [], underlay: UNDERLAY });
    expect(plan.device).toEqual({
      name: "flannel.1",
      vni: 1,
      local: "192.0.2.1",
      dev: "eth0",
      learning: false,
      gbp: false,
      mtu: 1450,
      mac: "0e:00:00:00:00:01",
      address: "10.5.1.0/32",
      family: 4,
    });
    expect(plan.network).toBe("10.5.0.0/16");
    expect(plan).toMatchObject({ neighbours: [], fdb: [], routes: [], skipped: [] });
  });

  it("takes port, GBP, Learning and MTU from the backend", () => {
    const own = vxlan("10.5.1.0/24", "192.0.2.1", "0e:00:00:00:00:01", 7);
    const plan = planDataPlane({
      config: config({ VNI: 7, Port: 4789, GBP: true, Learning: true, MTU: 9000 }),
      own,
      peers: [],
      underlay: UNDERLAY,
    });
    expect(plan.device).toMatchObject({
      name: "flannel.7",
      vni: 7,
      port: 4789,
      gbp: true,
      learning: true,
      mtu: 8950,
    });
  });

  it("gives every other vxlan host a neighbour, an fdb entry and an onlink route, own lease excluded", () => {
    const peers = [
      OWN,
      vxlan("10.5.2.0/24", "192.0.2.2", "0E:00:00:00:00:02"),
      vxlan("10.5.3.0/24", "192.0.2.3", "0e:00:00:00:00:03"),
    ];
    const plan = planDataPlane({ config: config(), own: OWN, peers, underlay: UNDERLAY });
    expect(plan.neighbours).toEqual([
      { ip: "10.5.2.0", mac: "0e:00:00:00:00:02" },
      { ip: "10.5.3.0", mac: "0e:00:00:00:00:03" },
    ]);
    expect(plan.fdb).toEqual([
      { mac: "0e:00:00:00:00:02", dst: "192.0.2.2" },
      { mac: "0e:00:00:00:00:03", dst: "192.0.2.3" },
    ]);
    expect(plan.routes).toEqual([
      { dst: "10.5.2.0/24", via: "10.5.2.0", dev: "flannel.1", onlink: true },
      { dst: "10.5.3.0/24", via: "10.5.3.0", dev: "flannel.1", onlink: true },
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it("with DirectRouting, routes peers on the same segment via their PublicIP only", () => {
    const peers = [
      vxlan("10.5.2.0/24", "192.0.2.2", "0e:00:00:00:00:02"),
      vxlan("10.5.3.0/24", "198.18.0.3", "0e:00:00:00:00:03"),
    ];
    const plan = planDataPlane({
      config: config({ DirectRouting: true }),
      own: OWN,
      peers,
      underlay: { ...UNDERLAY, directNets: ["192.0.2.0/24"] },
    });
    expect(plan.routes).toEqual([
      { dst: "10.5.2.0/24", via: "192.0.2.2", dev: "eth0", onlink: false },
      { dst: "10.5.3.0/24", via: "10.5.3.0", dev: "flannel.1", onlink: true },
    ]);
    expect(plan.neighbours).toEqual([{ ip: "10.5.3.0", mac: "0e:00:00:00:00:03" }]);
    expect(plan.fdb).toEqual([{ mac: "0e:00:00:00:00:03", dst: "198.18.0.3" }]);
  });

  it("ignores directNets when DirectRouting is off", () => {
    const plan = planDataPlane({
      config: config(),
      own: OWN,
      peers: [vxlan("10.5.2.0/24", "192.0.2.2", "0e:00:00:00:00:02")],
      underlay: { ...UNDERLAY, directNets: ["192.0.2.0/24"] },
    });
    expect(plan.routes[0]?.onlink).toBe(true);
  });

  it("skips other backends, damaged data, another VNI, our own PublicIP and duplicate MACs, with reasons", () => {
    const hostGw = lease("10.5.4.0/24", "192.0.2.4", { backendType: "host-gw" });
    const udp = lease("10.5.5.0/24", "192.0.2.5");
    const broken = lease("10.5.6.0/24", "192.0.2.6", { backendType: "vxlan", backendData: '{"VNI":1}' });
    const otherVni = vxlan("10.5.7.0/24", "192.0.2.7", "0e:00:00:00:00:07", 2);
    const ghost = vxlan("10.5.8.0/24", "192.0.2.1", "0e:00:00:00:00:08");
    const dupMac = vxlan("10.5.9.0/24", "192.0.2.9", "0e:00:00:00:00:01");
    const good = vxlan("10.5.2.0/24", "192.0.2.2", "0e:00:00:00:00:02");
    const plan = planDataPlane({
      config: config(),
      own: OWN,
      peers: [hostGw, udp, broken, otherVni, ghost, dupMac, good],
      underlay: UNDERLAY,
    });
    expect(plan.routes.map((r) => r.dst)).toEqual(["10.5.2.0/24"]);
    const reasons = Object.fromEntries(plan.skipped.map((s) => [s.key.split("/").pop(), s.reason]));
    expect(reasons).toEqual({
      "10.5.4.0-24": "its backend is host-gw, not vxlan",
      "10.5.5.0-24": "its backend is not set (udp or alloc), not vxlan",
      "10.5.6.0-24": "its BackendData has no VtepMAC",
      "10.5.7.0-24": "its VNI is 2, not 1",
      "10.5.8.0-24": "its PublicIP is this host's own",
      "10.5.9.0-24": `its VtepMAC 0e:00:00:00:00:01 is already used by ${OWN.key}`,
    });
  });

  it("skips a peer whose subnet overlaps this host's own, which would route our own pods away", () => {
    const wider = vxlan("10.5.0.0/23", "192.0.2.20", "0e:00:00:00:00:20");
    const inside = vxlan("10.5.1.128/25", "192.0.2.21", "0e:00:00:00:00:21");
    const beside = vxlan("10.5.2.0/24", "192.0.2.2", "0e:00:00:00:00:02");
    const plan = planDataPlane({
      config: config(),
      own: OWN,
      peers: [wider, inside, beside],
      underlay: UNDERLAY,
    });
    expect(plan.routes.map((r) => r.dst)).toEqual(["10.5.2.0/24"]);
    expect(Object.fromEntries(plan.skipped.map((s) => [s.key.split("/").pop(), s.reason]))).toEqual({
      "10.5.0.0-23": "its subnet 10.5.0.0/23 overlaps this host's own 10.5.1.0/24",
      "10.5.1.128-25": "its subnet 10.5.1.128/25 overlaps this host's own 10.5.1.0/24",
    });
  });

  it("refuses a non-vxlan config and an own lease without a VtepMAC", () => {
    const hostGw = validateConfig({ Network: "10.5.0.0/16", Backend: { Type: "host-gw" } }).resolved;
    expect(hostGw).toBeDefined();
    if (hostGw === undefined) return;
    const attempt = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err;
      }
      return expect.fail("no error");
    };
    const e1 = attempt(() => planDataPlane({ config: hostGw, own: OWN, peers: [], underlay: UNDERLAY }));
    expect(isPodnetError(e1, "invalid")).toBe(true);
    const bare = lease("10.5.1.0/24", "192.0.2.1", { backendType: "vxlan" });
    const e2 = attempt(() => planDataPlane({ config: config(), own: bare, peers: [], underlay: UNDERLAY }));
    expect(isPodnetError(e2, "invalid") && e2.message).toMatch(/BackendData is empty/);
  });
});

describe("VTEP MACs", () => {
  it("derives a stable, locally administered unicast MAC from a seed", () => {
    const a = vtepMacFor("10.5.1.0/24 192.0.2.1");
    expect(a).toBe(vtepMacFor("10.5.1.0/24 192.0.2.1"));
    expect(a).not.toBe(vtepMacFor("10.5.2.0/24 192.0.2.2"));
    expect(normaliseMac(a)).toBe(a);
    expect(Number.parseInt(a.slice(0, 2), 16) & 0x03).toBe(0x02);
  });
});
