import { describe, expect, it } from "vitest";
import { parseLink } from "./link.js";

// Captured from iproute2 6.1 (`ip -json -d -s link show dev flannel.1`, `ip -json addr show dev flannel.1`).
const LINK = JSON.parse(
  '[{"ifindex":4,"ifname":"flannel.1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"c6:d2:32:6f:8f:44","broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo":{"info_kind":"vxlan","info_data":{"id":1,"local":"192.0.2.7","link":"veth0","port_range":{"low":0,"high":0},"port":8472,"learning":false,"ttl":0,"df":"unset","ageing":300,"udp_csum":true,"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false}},"inet6_addr_gen_mode":"eui64","num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":524280,"tso_max_segs":65535,"gro_max_size":65536,"stats64":{"rx":{"bytes":840,"packets":10,"errors":0,"dropped":2,"over_errors":0,"multicast":0},"tx":{"bytes":1200,"packets":12,"errors":1,"dropped":3,"carrier_errors":0,"collisions":0}}}]',
) as unknown;
const ADDR = JSON.parse(
  '[{"ifindex":4,"ifname":"flannel.1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"ether","address":"c6:d2:32:6f:8f:44","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"10.5.52.0","prefixlen":32,"scope":"global","label":"flannel.1","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::c4d2:32ff:fe6f:8f44","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]}]',
) as unknown;

describe("parseLink", () => {
  it("reads a vxlan device with its addresses and counters", () => {
    expect(parseLink(LINK, ADDR)).toEqual({
      name: "flannel.1",
      kind: "vxlan",
      vni: 1,
      port: 8472,
      local: "192.0.2.7",
      dev: "veth0",
      learning: false,
      gbp: false,
      mtu: 1450,
      mac: "c6:d2:32:6f:8f:44",
      up: true,
      addresses: ["10.5.52.0/32", "fe80::c4d2:32ff:fe6f:8f44/64"],
      stats: {
        rxBytes: 840,
        rxPackets: 10,
        rxErrors: 0,
        rxDropped: 2,
        txBytes: 1200,
        txPackets: 12,
        txErrors: 1,
        txDropped: 3,
      },
    });
  });

  it("reads older iproute2's `stats`, a device without linkinfo, and a down device", () => {
    const link = [
      {
        ifname: "eth0",
        flags: ["BROADCAST", "MULTICAST"],
        mtu: 1500,
        address: "52:54:00:12:34:56",
        stats: { rx: { bytes: 1, packets: 2, errors: 3, dropped: 4 }, tx: { bytes: 5, packets: 6 } },
      },
    ];
    expect(parseLink(link, [])).toEqual({
      name: "eth0",
      kind: "device",
      mtu: 1500,
      mac: "52:54:00:12:34:56",
      up: false,
      addresses: [],
      stats: {
        rxBytes: 1,
        rxPackets: 2,
        rxErrors: 3,
        rxDropped: 4,
        txBytes: 5,
        txPackets: 6,
        txErrors: 0,
        txDropped: 0,
      },
    });
  });

  it("returns undefined for an empty answer or garbage", () => {
    expect(parseLink([], [])).toBeUndefined();
    expect(parseLink({ not: "a list" }, [])).toBeUndefined();
    expect(parseLink([42], [])).toBeUndefined();
  });
});
