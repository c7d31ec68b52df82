import {
  encodeLeaseValue,
  findHostLease,
  type Lease,
  type LeaseAttrs,
  type LeaseListing,
  parseLeaseKey,
} from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { leaseNetworkOf } from "../config/lease-network.js";
import { validateConfigText } from "../config/validate.js";
import type { LinkInfo } from "../host/link.js";
import { parseSubnetFile } from "../host/subnet-file.js";
import type { NetworkState } from "../store/network-loader.js";
import { doctorPassed } from "./check.js";
import { endpointChecks } from "./etcd-checks.js";
import { deviceChecks, hostLeaseCheck, kernelTableChecks } from "./host-checks.js";
import { configChecks, leaseChecks } from "./network-checks.js";

const MAC = "c6:d2:32:6f:8f:44";
function lease(name: string, attrs: Partial<LeaseAttrs>, etcdLease = "7"): Lease {
  const full: LeaseAttrs = { publicIP: "192.0.2.7", publicIPv6: null, ...attrs };
  return {
    key: `/p/subnets/${name}`,
    subnet: parseLeaseKey(name)!,
    attrs: full,
    value: encodeLeaseValue(full),
    etcdLease,
    modRevision: 3,
    createRevision: 3,
  };
}
const listing = (...leases: Lease[]): LeaseListing => ({ revision: 9, leases, foreign: [], damaged: [] });
const stored = (text: string) => ({ key: "/p/config", text, modRevision: 2, createRevision: 2, version: 1 });
function valid(text: string): NetworkState {
  const validation = validateConfigText(text);
  if (validation.resolved === undefined) throw new Error("invalid");
  return {
    state: "valid",
    key: "/p/config",
    revision: 9,
    config: stored(text),
    resolved: validation.resolved,
    network: leaseNetworkOf(validation.resolved),
    validation,
  };
}
const status = (endpoint: string, memberId: string, leaderId: string) => ({
  endpoint,
  status: { endpoint, version: "3.4.30", memberId, leaderId, dbSize: 20_480, revision: 5, raftTerm: 2 },
});

describe("endpointChecks", () => {
  it("names each endpoint's role, then the leader", () => {
    const { checks, answered } = endpointChecks([
      status("http://a", "1", "1"),
      status("http://b", "2", "1"),
      { endpoint: "http://c", error: new Error("connect ECONNREFUSED\nmore") },
    ]);
    expect(answered).toBe(true);
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ["http://a", "ok"],
      ["http://b", "ok"],
      ["http://c", "fail"],
      ["leader", "ok"],
    ]);
    expect(checks[0]?.detail).toMatch(/member 1 \(leader\).*db 20 kB/);
    expect(checks[2]?.detail).toBe("unreachable: connect ECONNREFUSED");
  });
  it("fails a cluster that knows no leader, and answers false when nobody answered", () => {
    expect(endpointChecks([status("http://a", "1", "0")]).checks.at(-1)).toMatchObject({
      name: "leader",
      status: "fail",
    });
    expect(endpointChecks([{ endpoint: "http://a", error: "down" }]).answered).toBe(false);
  });
});

describe("configChecks and leaseChecks", () => {
  it("report a missing config in flannel's words and an invalid one per error", () => {
    expect(configChecks({ state: "missing", key: "/p/config", revision: 1 })[0]?.detail).toMatch(
      /^flannel config not found in etcd store at \/p\/config/,
    );
    const text = '{"Network":"10.5.0.0/16","SubnetLen":31}';
    const validation = validateConfigText(text);
    const invalid: NetworkState = {
      state: "invalid",
      key: "/p/config",
      revision: 1,
      config: stored(text),
      validation,
      problem: "x",
    };
    expect(
      configChecks(invalid)
        .filter((c) => c.status === "fail")
        .map((c) => c.detail),
    ).toEqual(["/SubnetLen: SubnetLen must be less than /31"]);
  });
  it("summarise ipam check's findings by kind", () => {
    const state = valid('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    const checks = leaseChecks(listing(lease("10.5.1.0-24", { backendType: "vxlan" })), state, undefined);
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ["leases", "ok"],
      ["bad-backend-data", "fail"],
      ["utilisation", "ok"],
    ]);
  });
});

describe("host checks", () => {
  const own = lease("10.5.52.0-24", { backendType: "vxlan", backendData: `{"VNI":1,"VtepMAC":"${MAC}"}` });
  const link: LinkInfo = {
    name: "flannel.1",
    kind: "vxlan",
    vni: 1,
    dev: "eth0",
    mtu: 1450,
    mac: MAC,
    up: true,
    addresses: ["10.5.52.0/32"],
  };
  const backend = valid('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
  const vxlan = backend.state === "valid" ? backend.resolved.Backend : undefined;

  it("fails a subnet file that names another lease than the host's", () => {
    const other = lease("10.5.9.0-24", { publicIP: "192.0.2.9" });
    const contents = parseSubnetFile("FLANNEL_SUBNET=10.5.9.1/24\n", "f");
    const match = findHostLease(listing(own, other), { publicIp: "192.0.2.7" });
    const check = hostLeaseCheck(
      match,
      { publicIp: "192.0.2.7", subnetFile: { path: "f", contents } },
      80_000,
    );
    expect(check.status).toBe("fail");
    expect(check.detail).toMatch(/f names 10\.5\.9\.0\/24, not this host's lease/);
    expect(hostLeaseCheck(match, {}, 120).status).toBe("warn");
    expect(hostLeaseCheck(match, {}, null).detail).toMatch(/TTL reserved/);
  });

  it("expects the underlay's MTU minus 50 and the lease's VtepMAC on the device", () => {
    if (vxlan === undefined) throw new Error("no backend");
    const ok = deviceChecks({ name: "flannel.1", link, own, backend: vxlan, underlayMtu: 1500 });
    expect(doctorPassed(ok, true)).toBe(true);
    const bad = deviceChecks({
      name: "flannel.1",
      link: { ...link, mtu: 1400, mac: "02:00:00:00:00:01" },
      own,
      backend: vxlan,
      underlayMtu: 1500,
    });
    expect(bad.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["mac", "mtu"]);
    expect(bad.find((c) => c.name === "mtu")?.detail).toBe("flannel.1 has MTU 1400, eth0's MTU - 50 is 1450");
  });

  it("counts missing, wrong and stale kernel entries per table", () => {
    const checks = kernelTableChecks([
      { kind: "route", entry: "a", status: "ok" },
      { kind: "route", entry: "b", status: "missing" },
      { kind: "fdb", entry: "c", status: "stale" },
    ]);
    expect(checks.map((c) => [c.name, c.status, c.detail])).toEqual([
      ["neighbours", "ok", "0 of 0 as the leases say"],
      ["fdb", "warn", "0 of 0 as the leases say; 1 stale ('podnet route --kernel' lists them)"],
      ["routes", "fail", "1 of 2 as the leases say; 1 missing ('podnet route --kernel' lists them)"],
    ]);
  });
});
