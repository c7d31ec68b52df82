import type { Lease } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import {
  formatLeaseTable,
  formatTtl,
  leaseData,
  leaseRow,
  listingWarnings,
  simpleTtl,
  vtepMacOf,
} from "./lease.js";
import { listingOf } from "./listing.fixture.js";

const VXLAN =
  '{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const LOWER =
  '{"PublicIP":"192.0.2.8","BackendType":"vxlan","BackendData":{"vni":1,"vtepmac":"C6:D2:32:6F:8F:45"}}';
const HOSTGW = '{"PublicIP":"192.0.2.9","BackendType":"host-gw"}';

const listing = listingOf({
  "10.5.52.0-24": { value: VXLAN, lease: "7587899280097226783" },
  "10.5.7.0-24": { value: HOSTGW },
  "10.5.8.0-24": { value: LOWER, lease: "12" },
  "10.5.9.0-24": { value: "{bad" },
});
const byKey = (name: string): Lease => {
  const lease = listing.leases.find((l) => l.key.endsWith(name));
  if (lease === undefined) throw new Error(name);
  return lease;
};

describe("TTLs", () => {
  it("reads as a duration for people and as seconds for scripts", () => {
    expect([
      formatTtl(5399),
      formatTtl(90),
      formatTtl(7),
      formatTtl(null),
      formatTtl(-1),
      formatTtl(undefined),
    ]).toEqual(["1h29m", "1m30s", "7s", "reserved", "expired", "-"]);
    expect([simpleTtl(5399), simpleTtl(0), simpleTtl(null), simpleTtl(-5), simpleTtl(undefined)]).toEqual([
      "5399",
      "0",
      "reserved",
      "-1",
      "-",
    ]);
  });
});

describe("leases", () => {
  it("take the VtepMAC by ipam-core's rule: any key case, normalised; '-' when not vxlan", () => {
    expect(vtepMacOf(byKey("10.5.52.0-24"))).toBe("c6:d2:32:6f:8f:44");
    expect(vtepMacOf(byKey("10.5.8.0-24"))).toBe("c6:d2:32:6f:8f:45");
    expect(vtepMacOf(byKey("10.5.7.0-24"))).toBe("-");
  });

  it("-o simple rows carry the TTL in seconds; the table a duration", () => {
    const view = { lease: byKey("10.5.52.0-24"), ttlSeconds: 5399 };
    expect(leaseRow(view)).toEqual(["10.5.52.0/24", "192.0.2.7", "vxlan", "c6:d2:32:6f:8f:44", "5399"]);
    const table = formatLeaseTable([view, { lease: byKey("10.5.7.0-24"), ttlSeconds: null }], listing);
    expect(table.split("\n")).toEqual([
      "SUBNET        PUBLIC-IP  BACKEND  VTEP-MAC           TTL",
      "10.5.52.0/24  192.0.2.7  vxlan    c6:d2:32:6f:8f:44  1h29m",
      "10.5.7.0/24   192.0.2.9  host-gw  -                  reserved",
      "",
      "1 lease, 1 reservation at revision 42; 1 entry skipped: 1 damaged, 0 foreign (see the warnings)",
    ]);
  });

  it("the JSON form keeps backend data as parsed JSON and names reservations", () => {
    expect(leaseData({ lease: byKey("10.5.7.0-24"), ttlSeconds: null })).toMatchObject({
      subnet: "10.5.7.0/24",
      backendType: "host-gw",
      backendData: null,
      reservation: true,
      ttlSeconds: null,
    });
    expect(leaseData({ lease: byKey("10.5.52.0-24"), ttlSeconds: 10 }).backendData).toEqual({
      VNI: 1,
      VtepMAC: "c6:d2:32:6f:8f:44",
    });
  });

  it("warn about each damaged entry by key", () => {
    expect(listingWarnings(listing)).toEqual([
      expect.stringMatching(/^\/coreos\.com\/network\/subnets\/10\.5\.9\.0-24: damaged lease \(/),
    ]);
  });
});
