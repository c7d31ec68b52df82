import { type EtcdCluster, etcdAvailable } from "@podnet/test-harness/etcd";
import { storedEntry, subnetNameOf, vxlanHostAttrs } from "@podnet/test-harness/flannel";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connect } from "./etcd/etcd-store.js";
import type { KeyValue, Store } from "./etcd/store.js";
import { decodeListing } from "./lease.js";
import { LeaseCache, LeaseSnapshot } from "./lease-cache.js";
import { encodeLeaseValue, type LeaseAttrs, leaseKey, parseLeaseKey } from "./lease-codec.js";
import { network4 } from "./lease-network.fixture.js";
import { LeaseRegistry } from "./registry.js";

const PREFIX = "/coreos.com/network";
const DIR = `${PREFIX}/subnets/`;

const kv = (name: string, value: string, lease = "0", rev = 5): KeyValue =>
  storedEntry(DIR, name, value, lease, rev);

describe("LeaseSnapshot", () => {
  const kvs = [
    kv("10.5.1.0-24", '{"PublicIP":"1.2.3.4","PublicIPv6":null}', "7"),
    kv("10.5.2.0-24", '{"PublicIP":"1.2.3.45","PublicIPv6":null}', "7"),
    // escapes spell the address: no byte match, still this host's
    kv("10.5.3.0-24", '{"PublicIP":"1\\u002e2.3.4","PublicIPv6":null}'),
    // the last PublicIP wins, as in JSON.parse
    kv("10.5.4.0-24", '{"PublicIP":"9.9.9.9","PublicIPv6":null,"PublicIP":"1.2.3.4"}', "8"),
    kv("10.5.5.0-24", '{"PublicIP":"1.2.3.4",'), // damaged: occupies, is nobody's
    kv("10.5.6.0-23", '{"PublicIP":"5.6.7.8","PublicIPv6":null}', "8"),
    kv("10.5.8.0-24&fc00:0:0:1::-64", '{"PublicIP":"1.2.3.4","PublicIPv6":"fc00::1"}'),
    // written by hand with spaces: not flannel's compact bytes, still valid JSON and this host's
    kv("10.5.10.0-24", '{ "PublicIP" : "1.2.3.4", "PublicIPv6" : null }'),
    kv("garbage", '{"PublicIP":"1.2.3.4","PublicIPv6":null}'), // foreign: occupies nothing
    kv("010.5.9.0-24", '{"PublicIP":"1.2.3.4","PublicIPv6":null}'), // foreign too
  ];

  it("finds exactly the leases a full decode finds, decoding only candidates", () => {
    const snap = new LeaseSnapshot(PREFIX, kvs, 9);
    const full = decodeListing(PREFIX, kvs, 9);
    for (const ip of ["1.2.3.4", "1.2.3.45", "9.9.9.9", "5.6.7.8", "7.7.7.7"]) {
      expect(snap.leasesOf(ip)).toEqual(full.leases.filter((l) => l.attrs.publicIP === ip));
    }
    expect(snap.leasesOf("1.2.3.4").map((l) => l.key.slice(DIR.length))).toEqual([
      "10.5.1.0-24",
      "10.5.3.0-24",
      "10.5.4.0-24",
      "10.5.8.0-24&fc00:0:0:1::-64",
      "10.5.10.0-24",
    ]);
    expect(snap.listing()).toEqual(full);
  });

  it("occupies the subnets of leases and damaged entries, from the keys alone", () => {
    const occ = new LeaseSnapshot(PREFIX, kvs, 9).occupied();
    const want = decodeListing(PREFIX, kvs, 9);
    const subnets = [...want.leases, ...want.damaged].map((e) => e.subnet);
    expect(occ.ip4.length).toBe(subnets.length);
    for (const s of subnets) expect(occ.overlaps(s)).toBe(true);
    expect(occ.overlaps(parseLeaseKey("10.5.7.0-24")!)).toBe(true); // inside the /23
    expect(occ.overlaps(parseLeaseKey("10.5.9.0-24")!)).toBe(false); // the foreign key's
    expect(occ.v6.length).toBe(1);
  });
});

const TINY = network4("10.6.0.0/16", 24, "10.6.1.0", "10.6.4.0");
const host = (publicIP: string): LeaseAttrs => vxlanHostAttrs(publicIP);
const nameOf = subnetNameOf;

describe.skipIf(!etcdAvailable())("the lease cache against a real etcd", () => {
  const etcd = useEtcd();
  let store: Store;
  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
  });
  afterAll(() => store?.close());

  it("follows leases written, damaged and deleted by other clients", async () => {
    const prefix = "/cache-follow";
    const cluster: EtcdCluster = etcd();
    await cluster.etcdctlOk(["put", `${prefix}/subnets/10.6.1.0-24`, encodeLeaseValue(host("1.1.1.1"))]);
    const cache = await LeaseCache.start(store, prefix);
    try {
      expect(cache.leasesOf("1.1.1.1").map((l) => nameOf(l.key))).toEqual(["10.6.1.0-24"]);
      await cluster.etcdctlOk(["put", `${prefix}/subnets/10.6.2.0-24`, encodeLeaseValue(host("2.2.2.2"))]);
      await cluster.etcdctlOk(["put", `${prefix}/subnets/10.6.3.0-24`, "not json"]);
      await cluster.etcdctlOk(["put", `${prefix}/subnets/whatever`, "x"]);
      await vi.waitFor(() => expect(cache.leasesOf("2.2.2.2")).toHaveLength(1), { timeout: 5000 });
      await vi.waitFor(() => expect(cache.occupied().ip4).toHaveLength(3), { timeout: 5000 });
      await cluster.etcdctlOk(["del", `${prefix}/subnets/10.6.1.0-24`]);
      await vi.waitFor(() => expect(cache.leasesOf("1.1.1.1")).toHaveLength(0), { timeout: 5000 });
      expect(cache.occupied().overlaps(parseLeaseKey("10.6.1.0-24")!)).toBe(false);
      expect(cache.occupied().overlaps(parseLeaseKey("10.6.3.0-24")!)).toBe(true); // damaged still occupies
    } finally {
      await cache.stop();
    }
  });

  it("a cached registry sees another client's lease, and reuses its own", async () => {
    const prefix = "/cache-registry";
    const registry = new LeaseRegistry(store, { prefix, cache: true, ttlSeconds: 600 });
    const other = new LeaseRegistry(store, { prefix, ttlSeconds: 600 });
    try {
      await registry.startCache();
      const before = (await registry.cacheRevision()) ?? 0;
      const taken: string[] = [];
      for (const ip of ["2.0.0.1", "2.0.0.2", "2.0.0.3"]) {
        taken.push(nameOf((await other.acquire({ network: TINY, attrs: host(ip) })).lease.key));
      }
      await vi.waitFor(async () => expect(await registry.cacheRevision()).toBeGreaterThan(before + 2), {
        timeout: 5000,
      });
      const got = await registry.acquire({ network: TINY, attrs: host("1.0.0.1"), random: () => 0 });
      expect(got.attempts).toBe(1); // the cache knew all three: no lost race
      expect(taken).not.toContain(nameOf(got.lease.key));
      const again = await registry.acquire({ network: TINY, attrs: host("1.0.0.1") });
      expect(again.outcome).toBe("reused");
      expect(again.lease.key).toBe(got.lease.key);
      const names = (await other.list()).leases.map((l) => nameOf(l.key)).sort();
      expect(names).toEqual(["10.6.1.0-24", "10.6.2.0-24", "10.6.3.0-24", "10.6.4.0-24"]);
    } finally {
      await registry.stopCache();
    }
  });

  it("a lost race against a lagging cache re-lists and picks another subnet", async () => {
    const prefix = "/cache-race";
    // A cache whose watch never delivers: it keeps believing the network is empty.
    const deaf: Store = Object.create(store, {
      watch: { value: async () => ({ cancel: async () => undefined }) },
    });
    const registry = new LeaseRegistry(deaf, { prefix, cache: true, ttlSeconds: 600 });
    const other = new LeaseRegistry(store, { prefix, ttlSeconds: 600 });
    try {
      await registry.startCache();
      const first = await other.acquire({ network: TINY, attrs: host("2.0.0.1"), random: () => 0 });
      expect(nameOf(first.lease.key)).toBe("10.6.1.0-24");
      const got = await registry.acquire({ network: TINY, attrs: host("1.0.0.1"), random: () => 0 });
      expect(got.attempts).toBe(2);
      expect(nameOf(got.lease.key)).toBe("10.6.2.0-24");
      // The other host's lease is untouched.
      const listing = await other.list();
      expect(listing.leases.find((l) => nameOf(l.key) === "10.6.1.0-24")?.attrs.publicIP).toBe("2.0.0.1");
      expect(listing.leases).toHaveLength(2);
      expect(leaseKey(prefix, got.lease.subnet)).toBe(got.lease.key);
    } finally {
      await registry.stopCache();
    }
  });

  it("concurrent acquires and lists share listings and stay exact", async () => {
    const prefix = "/cache-coalesce";
    const registry = new LeaseRegistry(store, { prefix, ttlSeconds: 600 });
    const lists: number[] = [];
    const counting: Store = Object.create(store, {
      list: {
        value: (p: string, o?: { revision?: number; keysOnly?: boolean }) => {
          lists.push(1);
          return store.list(p, o);
        },
      },
    });
    const shared = new LeaseRegistry(counting, { prefix, ttlSeconds: 600 });
    const got = await Promise.all(
      Array.from({ length: 4 }, (_, i) => shared.acquire({ network: TINY, attrs: host(`3.0.0.${i + 1}`) })),
    );
    expect(new Set(got.map((g) => g.lease.key)).size).toBe(4);
    // The first call lists; the other three came while it was in flight and share the next one.
    const retries = got.reduce((n, g) => n + g.attempts - 1, 0);
    expect(lists.length).toBeLessThanOrEqual(2 + retries);
    // A list() after the acquires sees all of them.
    expect((await shared.list()).leases).toHaveLength(4);
    expect((await registry.list()).leases).toHaveLength(4);
  });

  it("an uncached registry reads the leases once while only it (or anyone elsewhere) writes, and again once another client leased", async () => {
    const prefix = "/patched-listing";
    const reads = { lists: 0, scans: 0, counts: 0 };
    const counting: Store = Object.create(store, {
      list: {
        value: (p: string, o?: { revision?: number; keysOnly?: boolean }) => {
          reads.lists++;
          return store.list(p, o);
        },
      },
      scan: {
        value: (...args: Parameters<Store["scan"]>) => {
          reads.scans++;
          return store.scan(...args);
        },
      },
      count: {
        value: (p: string, o?: { revision?: number }) => {
          reads.counts++;
          return store.count(p, o);
        },
      },
    });
    const registry = new LeaseRegistry(counting, { prefix, ttlSeconds: 600 });
    const other = new LeaseRegistry(store, { prefix, ttlSeconds: 600 });
    // A fresh registry scans for its one host (as `podnet lease acquire`)...
    const first = await registry.acquire({ network: TINY, attrs: host("4.0.0.1") });
    expect(reads).toEqual({ lists: 0, scans: 1, counts: 0 });
    // ... and lists for every host when it acquires again (two callers, one listing).
    const more = await Promise.all(
      ["4.0.0.2", "4.0.0.3"].map((ip) => registry.acquire({ network: TINY, attrs: host(ip) })),
    );
    expect(reads.lists).toBe(1);
    expect(new Set([first, ...more].map((g) => g.lease.key)).size).toBe(3);
    await registry.release(more[1]!.lease);
    expect((await registry.list()).leases.map((l) => l.attrs.publicIP).sort()).toEqual([
      "4.0.0.1",
      "4.0.0.2",
    ]);
    expect(reads.lists).toBe(1); // its own writes kept the listing exact

    // A write elsewhere in etcd moves the revision, not the count: no listing.
    await store.txn([], [{ put: "/elsewhere/key", value: "x" }]);
    const countsBefore = reads.counts;
    const fourth = await registry.acquire({ network: TINY, attrs: host("4.0.0.4") });
    expect(fourth.outcome).toBe("new");
    expect(reads.counts).toBe(countsBefore + 1);
    expect(reads.lists).toBe(1);

    // Release it again so another client finds a free subnet; a host's own lease, reused, needs no listing.
    await registry.release(fourth.lease);
    expect((await registry.acquire({ network: TINY, attrs: host("4.0.0.1") })).lease.key).toBe(
      first.lease.key,
    );
    expect(reads.lists).toBe(1);

    // Another client leases for a host: a key more under the prefix, so the next acquire lists and finds it.
    const theirs = await other.acquire({ network: TINY, attrs: host("4.0.0.9") });
    const again = await registry.acquire({ network: TINY, attrs: host("4.0.0.9") });
    expect(reads.lists).toBe(2);
    expect(again.outcome).toBe("reused");
    expect(again.lease.key).toBe(theirs.lease.key);
  });
});
