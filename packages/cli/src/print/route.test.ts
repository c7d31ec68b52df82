import { describe, expect, it } from "vitest";
import { listingOf } from "./listing.fixture.js";
import { routeData, routeEntries, routeFlags, routeSimpleRow } from "./route.js";

const listing = listingOf({
  "10.5.52.0-24": {
    value:
      '{"PublicIP":"192.0.2.7","BackendType":"vxlan","BackendData":{"VNI":7,"vtepmac":"C6:D2:32:6F:8F:44"}}',
    lease: "99",
  },
  "10.5.7.0-24": { value: '{"PublicIP":"192.0.2.9","BackendType":"host-gw"}' },
  "10.5.8.0-24": {
    value: '{"PublicIP":"192.0.2.8","BackendType":"vxlan","BackendData":{"VNI":1}}',
    lease: "98",
  },
});

describe("routes", () => {
  const views = listing.leases.map((lease) => ({ lease, ttlSeconds: lease.etcdLease === "0" ? null : 3600 }));
  const [hostGw, noMac, vxlan] = routeEntries(views, 1);

  it("read VNI and VtepMAC through ipam-core (any key case); the config's VNI when the data has none", () => {
    expect(vxlan).toMatchObject({
      dst: "10.5.52.0/24",
      dev: "flannel.7",
      gateway: "10.5.52.0",
      vtepMAC: "c6:d2:32:6f:8f:44",
    });
    expect(noMac).toMatchObject({ dev: "flannel.1", vtepMAC: null });
    expect(hostGw).toMatchObject({ dev: "host-gw", gateway: "192.0.2.9", vtepMAC: null, reservation: true });
  });

  it("flags, JSON in iproute2's names, and -o simple rows with the TTL in seconds", () => {
    expect([routeFlags(hostGw ?? ({} as never)), routeFlags(vxlan ?? ({} as never))]).toEqual(["UGS", "UG"]);
    expect(routeData(vxlan ?? ({} as never))).toMatchObject({
      dst: "10.5.52.0/24",
      flags: ["onlink"],
      ttlSeconds: 3600,
    });
    expect(routeSimpleRow(vxlan ?? ({} as never))).toEqual([
      "10.5.52.0/24",
      "10.5.52.0",
      "255.255.255.0",
      "UG",
      "flannel.7",
      "192.0.2.7",
      "c6:d2:32:6f:8f:44",
      "3600",
      "no",
    ]);
  });
});
