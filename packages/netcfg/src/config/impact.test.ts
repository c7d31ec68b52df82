import { type Lease, parseLeaseKey } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { configImpact } from "./impact.js";
import { validateConfigText } from "./validate.js";

function resolved(text: string) {
  const r = validateConfigText(text);
  if (r.resolved === undefined) throw new Error(`invalid: ${JSON.stringify(r.errors)}`);
  return r.resolved;
}

function lease(name: string, publicIP: string, etcdLease = "7"): Lease {
  const subnet = parseLeaseKey(name);
  if (subnet === null) throw new Error(name);
  const value = `{"PublicIP":"${publicIP}","PublicIPv6":null}`;
  return {
    key: `/coreos.com/network/subnets/${name}`,
    subnet,
    attrs: { publicIP, publicIPv6: null },
    value,
    etcdLease,
    modRevision: 2,
    createRevision: 2,
  };
}

const OLD = resolved('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":1}}');
const LEASES = [
  lease("10.5.1.0-24", "192.0.2.1"),
  lease("10.5.200.0-24", "192.0.2.2"),
  lease("10.5.201.0-24", "192.0.2.3", "0"),
];

describe("configImpact", () => {
  it("names the leases and reservations a narrower network orphans, by subnet and PublicIP", () => {
    const after = resolved('{"Network":"10.5.0.0/17","Backend":{"Type":"vxlan","VNI":1}}');
    const impact = configImpact(OLD, after, LEASES);
    expect(impact.orphaned.map((o) => [o.subnet, o.publicIP, o.reservation, o.reason])).toEqual([
      ["10.5.200.0/24", "192.0.2.2", false, "outside-range"],
      ["10.5.201.0/24", "192.0.2.3", true, "outside-range"],
    ]);
    expect(impact).toMatchObject({ hosts: 3, unchanged: 1, disruptive: true, dataPlane: [] });
  });

  it("calls a new SubnetLen a wrong length", () => {
    const after = resolved('{"Network":"10.5.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan","VNI":1}}');
    expect(configImpact(OLD, after, LEASES).orphaned.map((o) => o.reason)).toEqual([
      "wrong-length",
      "wrong-length",
      "wrong-length",
    ]);
  });

  it("lets a wider network and an equivalent port through", () => {
    const after = resolved('{"Network":"10.4.0.0/14","Backend":{"Type":"vxlan","VNI":1,"Port":8472}}');
    expect(configImpact(OLD, after, LEASES)).toEqual({
      hosts: 3,
      unchanged: 3,
      orphaned: [],
      dataPlane: [],
      disruptive: false,
    });
  });

  it("names a VNI change as a data-plane change for every host", () => {
    const after = resolved('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":2}}');
    const impact = configImpact(OLD, after, LEASES);
    expect(impact.dataPlane).toEqual([{ setting: "Backend.VNI", from: 1, to: 2 }]);
    expect(impact).toMatchObject({ unchanged: 0, disruptive: true });
    expect(configImpact(OLD, after, []).disruptive).toBe(false); // nobody runs it yet
  });

  it("never shows a secret's values", () => {
    const psk = "a".repeat(100);
    const a = resolved(`{"Network":"10.5.0.0/16","Backend":{"Type":"ipsec","PSK":"${psk}"}}`);
    const b = resolved(`{"Network":"10.5.0.0/16","Backend":{"Type":"ipsec","PSK":"${"b".repeat(100)}"}}`);
    const impact = configImpact(a, b, LEASES);
    expect(impact.dataPlane).toEqual([{ setting: "Backend.PSK", from: "<redacted>", to: "<redacted>" }]);
    expect(JSON.stringify(impact)).not.toContain(psk);
  });
});
