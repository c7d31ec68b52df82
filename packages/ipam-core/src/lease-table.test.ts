import { describe, expect, it } from "vitest";
import { parseIPv4, parseIPv6 } from "./address.js";
import { addressMap, checkLeases, FINDING_KINDS, utilisation } from "./analysis.js";
import type { KeyValue, KeyValueCursor } from "./etcd/store.js";
import { decodeListing, type LeaseNetwork } from "./lease.js";
import { LeaseTable, LeaseTableBuilder } from "./lease-table.js";

const P = "/coreos.com/network";
const DIR = `${P}/subnets/`;
const MAC = "c6:d2:32:6f:8f:44";

/** A cursor over one KeyValue, as a store's scan hands it to the visit. */
function cursorOf(kv: KeyValue): KeyValueCursor {
  const key = Buffer.from(kv.key);
  // Bytes between and around key and value, as in a real reply (revisions, tags).
  const pad = Buffer.from("xyz");
  const buf = Buffer.concat([pad, key, pad, kv.value, pad]);
  return {
    buf,
    keyStart: 3,
    keyEnd: 3 + key.length,
    valueStart: 6 + key.length,
    valueEnd: 6 + key.length + kv.value.length,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    hasLease: kv.lease !== "0",
    lease: () => kv.lease,
  };
}

const vxlan = (ip: string, vni = 1, mac = MAC) =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;

/** Every kind of entry the codec tells apart, in etcd's key order (not address order). */
const ENTRIES: [string, string, string][] = [
  ["10.5.1.0-24", vxlan("192.0.2.1"), "7"],
  ["10.5.10.0-24", vxlan("192.0.2.10", 2), "7"],
  ["10.5.100.0-24", vxlan("192.0.2.1"), "8"], // duplicate PublicIP
  ["10.5.2.0-23", vxlan("192.0.2.2"), "8"], // wrong length, overlaps 10.5.3.0/24
  ["10.5.3.0-24", `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan"}`, "0"], // reservation, no data
  ["10.5.4.0-24", vxlan("192.0.2.4", 1, "01:00:5e:00:00:01"), "7"], // multicast VtepMAC
  ["10.5.5.0-24", `{ "PublicIP": "192.0.2.5", "BackendType": "host-gw" }`, "9"], // non-canonical spelling
  ["10.5.6.0-24", "{oops", "9"], // damaged
  ["10.5.8.0-24", `{"PublicIP":"192.0.2.8","BackendType":"host-gw","BackendData":{"Note":"grüße"}}`, "9"], // not ASCII
  ["10.5.9.0-24", `\uFEFF{"PublicIP":"192.0.2.9"}`, "9"], // a byte order mark
  [
    "10.5.7.0-24&fc00:0:0:7::-64",
    `{"PublicIP":"192.0.2.7","PublicIPv6":"fc00::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    "7",
  ],
  [
    "0.0.0.0-0&fc00:0:0:8::-64",
    `{"PublicIP":"192.0.2.8","PublicIPv6":"fc00::8","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    "7",
  ],
  ["10.99.0.0-24", vxlan("192.0.2.99"), "7"], // out of range
  ["not-a-subnet", "x", "0"], // foreign
];

const kvs: KeyValue[] = ENTRIES.map(([name, value, lease], i) => ({
  key: DIR + name,
  value: Buffer.from(value),
  createRevision: 10 + (i % 3), // ties, so that the key decides which is newer
  modRevision: 20 + i,
  version: 1,
  lease,
}));

const NET: LeaseNetwork = {
  ipv4: {
    network: { ip: parseIPv4("10.5.0.0")!, prefix: 16 },
    subnetLen: 24,
    min: parseIPv4("10.5.1.0")!,
    max: parseIPv4("10.5.255.0")!,
  },
  ipv6: {
    network: { ip: parseIPv6("fc00::")!, prefix: 48 },
    subnetLen: 64,
    min: parseIPv6("fc00:0:0:1::")!,
    max: parseIPv6("fc00:0:0:ffff::")!,
  },
};

function scanned(): LeaseTable {
  const b = new LeaseTableBuilder(P);
  for (const kv of kvs) b.add(cursorOf(kv));
  return b.finish(50);
}

describe("LeaseTable", () => {
  it("decodes back into exactly the listing decodeListing makes, in address order", () => {
    const listing = decodeListing(P, kvs, 50);
    const t = scanned();
    expect(t.listing()).toEqual(listing);
    expect(t.size).toBe(listing.leases.length);
    expect(t.reservations).toBe(1);
    expect([...t.etcdLeaseIds()].sort()).toEqual(["7", "8", "9"]);
  });

  it("gives the analysis the same answers as the listing it stands for", () => {
    const listing = decodeListing(P, kvs, 50);
    const t = scanned();
    const ttls = new Map([
      ["7", 30],
      ["8", 86_000],
    ]);
    expect(utilisation(t, NET, ttls)).toEqual(utilisation(listing, NET, ttls));
    const config = { valid: true, errors: [], backendType: "vxlan", vni: 1 };
    const findings = checkLeases({ listing: t, network: NET, config });
    expect(findings).toEqual(checkLeases({ listing, network: NET, config }));
    // Every kind but the config's own is in the fixture.
    expect(new Set(findings.map((f) => f.kind))).toEqual(
      new Set(FINDING_KINDS.filter((k) => !k.startsWith("config-"))),
    );
    for (const family of [4, 6] as const) {
      expect(addressMap(t, NET, family, { ttls, maxCells: 64 })).toEqual(
        addressMap(listing, NET, family, { ttls, maxCells: 64 }),
      );
    }
  });

  it("grows past its first columns and byte chunks without losing a row", () => {
    const many: KeyValue[] = [];
    for (let i = 0; i < 20_000; i++) {
      const name = `10.${(i >> 8) & 255}.${i & 255}.0-24`;
      many.push({
        key: DIR + name,
        value: Buffer.from(vxlan(`172.16.${(i >> 8) & 255}.${i & 255}`, 1)),
        createRevision: i + 2,
        modRevision: i + 2,
        version: 1,
        lease: String(1000 + (i % 5)),
      });
    }
    const b = new LeaseTableBuilder(P);
    for (const kv of many) b.add(cursorOf(kv));
    expect(b.finish(9).listing()).toEqual(decodeListing(P, many, 9));
  });

  it("made without rows, counts the same and refuses to decode a lease", () => {
    const b = new LeaseTableBuilder(P, { rows: false });
    for (const kv of kvs) b.add(cursorOf(kv));
    const t = b.finish(50);
    expect(utilisation(t, NET)).toEqual(utilisation(decodeListing(P, kvs, 50), NET));
    expect(() => t.lease(0)).toThrow(/without its rows/);
  });

  it("keeps a listing's own order and objects when made from one", () => {
    const listing = decodeListing(P, kvs, 50);
    const reversed = { ...listing, leases: [...listing.leases].reverse() };
    const t = LeaseTable.of(reversed, P);
    expect([...t.leases()]).toEqual(reversed.leases);
    expect(t.lease(0)).toBe(reversed.leases[0]);
  });
});
