import { addressMap, checkLeases, connect, LeaseRegistry, type Store, utilisation } from "@podnet/ipam-core";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NET_10_5, range4 } from "../packages/ipam-core/src/lease-network.fixture.js";

const PREFIX = "/table/network";
const DIR = `${PREFIX}/subnets/`;
const MAC = "c6:d2:32:6f:8f:44";
const NET = NET_10_5;

describe("a LeaseTable scanned from a real etcd", () => {
  const etcd = useEtcd();
  const stores: Store[] = [];
  const open = async (opts: { listPageSize?: number; fastDecode?: boolean }) => {
    const s = await connect({
      endpoints: etcd().endpoints,
      dialTimeoutMs: 2000,
      commandTimeoutMs: 10_000,
      ...opts,
    });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    const s = await open({});
    const lease = await s.grant(3600);
    const ops = [];
    for (let i = 1; i <= 250; i++) {
      const value = `{"PublicIP":"192.0.2.${i}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`;
      ops.push({ put: `${DIR}10.5.${i}.0-24`, value, ...(i % 3 === 0 ? {} : { lease }) });
    }
    // Every kind the codec tells apart, between the plain leases in key order.
    ops.push({ put: `${DIR}10.5.78.0-23`, value: `{"PublicIP":"192.0.2.1","PublicIPv6":null}`, lease });
    ops.push({ put: `${DIR}10.5.251.0-24`, value: "{oops" });
    ops.push({ put: `${DIR}10.5.252.0-24`, value: Buffer.from([0xff, 0xfe]) });
    ops.push({
      put: `${DIR}10.5.3.0-24&fc00:0:0:3::-64`,
      value: `{ "PublicIP" : "192.0.2.253", "PublicIPv6": "fc00::3" }`,
    });
    ops.push({ put: `${DIR}not-a-subnet`, value: "x" });
    for (let i = 0; i < ops.length; i += 100) await s.txn([], ops.slice(i, i + 100));
  });
  afterAll(() => {
    for (const s of stores) s.close();
  });

  for (const [what, opts] of [
    ["pages of 7 keys", { listPageSize: 7 }],
    ["one page", {}],
    ["protobufjs decoding, pages of 64", { listPageSize: 64, fastDecode: false }],
  ] as const) {
    it(`decodes into what the listing holds, and the checks agree (${what})`, async () => {
      const registry = new LeaseRegistry(await open(opts), { prefix: PREFIX });
      const listing = await registry.list();
      const table = await registry.table();
      expect(table.revision).toBe(listing.revision);
      expect(table.listing()).toEqual(listing);
      expect(listing.damaged).toHaveLength(2);
      expect(listing.foreign).toHaveLength(1);
      const config = { valid: true, errors: [], backendType: "vxlan", vni: 1 };
      const findings = checkLeases({ listing: table, network: NET, config });
      expect(findings).toEqual(checkLeases({ listing, network: NET, config }));
      expect(findings.length).toBeGreaterThan(4);
      expect(utilisation(table, NET)).toEqual(utilisation(listing, NET));
      const counts = await registry.table({ rows: false });
      expect(addressMap(counts, NET, 4)).toEqual(addressMap(listing, NET, 4));
    });
  }

  let calls0 = 0;
  for (const [what, opts] of [
    ["cut into sub-ranges, pages of 7 keys", { listPageSize: 7 }],
    ["cut into sub-ranges, one page each", {}],
  ] as const) {
    it(`hands out each page's new etcd lease ids as the listing comes in (${what})`, async () => {
      const store = await open(opts);
      const prefix = `/table-ids-${calls0++}/network`;
      // 12 etcd leases over 240 keys spread across the range, reservations among them, and a
      // damaged entry on a lease of its own.
      const ids = await Promise.all(Array.from({ length: 13 }, () => store.grant(3600)));
      const ops = [];
      for (let i = 0; i < 240; i++) {
        const value = `{"PublicIP":"192.0.2.${i % 250}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`;
        const lease = i % 5 === 0 ? undefined : ids[i % 12];
        ops.push({ put: `${prefix}/subnets/10.5.${i}.16-28`, value, ...(lease !== undefined && { lease }) });
      }
      ops.push({ put: `${prefix}/subnets/10.5.250.16-28`, value: "{oops", lease: ids[12] as string });
      for (let i = 0; i < ops.length; i += 100) await store.txn([], ops.slice(i, i + 100));
      const registry = new LeaseRegistry(store, { prefix });
      // 4,096 subnets of /28: enough for the listing to be cut into sub-ranges (scan-splits.ts).
      const network = { ipv4: range4("10.5.0.0/16", 28, "10.5.0.16", "10.5.255.240") };
      const calls: { ids: readonly string[]; share: number | undefined }[] = [];
      const table = await registry.table({
        network,
        rows: false,
        onEtcdLeases: (ids, share) => calls.push({ ids, share }),
      });
      const handed = calls.flatMap((c) => c.ids);
      // Every id of the leases and of the damaged entry, each once; none for a reservation.
      expect(new Set(handed)).toEqual(new Set(ids));
      expect(new Set(handed)).toEqual(table.etcdLeaseIds());
      expect(handed).toHaveLength(13);
      expect(table.damaged).toHaveLength(1);
      // Ids came before the listing's end, with the part read so far.
      expect(calls.some((c) => c.share !== undefined && c.share < 1)).toBe(true);
      const shares = calls.map((c) => c.share);
      for (const [i, share] of shares.entries()) {
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThanOrEqual(1);
        if (i > 0) expect(share).toBeGreaterThanOrEqual(shares[i - 1] as number);
      }
    });
  }
});
