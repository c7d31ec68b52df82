import {
  connect,
  isPodnetError,
  type Lease,
  type LeaseAttrs,
  LeaseRegistry,
  type LeaseSubnet,
  type PodnetError,
  parseLeaseKey,
  type Store,
} from "@podnet/ipam-core";
import { type EtcdCluster, etcdAvailable } from "@podnet/test-harness/etcd";
import { etcdLeaseIds, vxlanHostAttrs } from "@podnet/test-harness/flannel";
import { useEtcd } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejection } from "../packages/ipam-core/src/errors.fixture.js";
import { NET_10_5, network4 } from "../packages/ipam-core/src/lease-network.fixture.js";

// The spec's literal flanneld lease (flannel-compat.md section 4).
const FLANNEL_VALUE =
  '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const FLANNEL_ATTRS: LeaseAttrs = {
  publicIP: "192.168.64.3",
  publicIPv6: null,
  backendType: "vxlan",
  backendData: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}',
};

const NET = NET_10_5;
const TINY = network4("10.6.0.0/16", 24, "10.6.1.0", "10.6.4.0");

const subnet = (name: string): LeaseSubnet => parseLeaseKey(name)!;
const host = (publicIP: string, mac?: string): LeaseAttrs => vxlanHostAttrs(publicIP, mac);
const hexOf = (id: string): string => BigInt(id).toString(16);
const decOf = (hex: string): string => BigInt(`0x${hex}`).toString();

async function grant(cluster: EtcdCluster, ttl: number): Promise<string> {
  const out = await cluster.etcdctlOk(["lease", "grant", String(ttl)]);
  const hex = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
  if (hex === undefined) throw new Error(`unexpected etcdctl output: ${out}`);
  return hex;
}

/** etcdctl's view of one etcd lease: its remaining TTL and attached keys, or null when gone. */
async function leaseInfo(
  cluster: EtcdCluster,
  id: string,
): Promise<{ remaining: number; keys: string[] } | null> {
  const out = await cluster.etcdctlOk(["lease", "timetolive", hexOf(id), "--keys"]);
  if (/already expired/.test(out)) return null;
  const m = /remaining\((-?\d+)s\), attached keys\(\[(.*)\]\)/.exec(out);
  if (m === null) throw new Error(`unexpected etcdctl output: ${out}`);
  return { remaining: Number(m[1]), keys: m[2]!.split(" ").filter((k) => k !== "") };
}

/** Every etcd lease that exists, with its attached keys. */
async function allLeases(cluster: EtcdCluster): Promise<Map<string, string[]>> {
  const ids = await etcdLeaseIds(cluster);
  const leases = new Map<string, string[]>();
  for (const hex of ids) {
    const info = await leaseInfo(cluster, decOf(hex));
    if (info !== null) leases.set(decOf(hex), info.keys);
  }
  return leases;
}

async function storedValue(cluster: EtcdCluster, key: string): Promise<string | null> {
  const out = await cluster.etcdctlOk(["get", key, "-w", "json"]);
  const kv = (JSON.parse(out) as { kvs?: { value: string; lease?: number; mod_revision: number }[] })
    .kvs?.[0];
  return kv === undefined ? null : Buffer.from(kv.value, "base64").toString("utf8");
}

/** Whether etcd holds `key` with no etcd lease (a reservation). */
async function isPermanent(cluster: EtcdCluster, key: string): Promise<boolean> {
  const out = await cluster.etcdctlOk(["get", key, "-w", "json"]);
  const kv = (JSON.parse(out) as { kvs?: { lease?: number }[] }).kvs?.[0];
  if (kv === undefined) throw new Error(`${key} is absent`);
  return (kv.lease ?? 0) === 0;
}

describe.skipIf(!etcdAvailable())("LeaseRegistry against a real etcd", () => {
  const etcd = useEtcd();
  let store: Store;
  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
  });
  afterAll(() => store?.close());
  const registry = (prefix: string, ttlSeconds?: number) =>
    new LeaseRegistry(store, { prefix, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) });

  it("reads, reuses and renews a lease written exactly as flanneld writes it", async () => {
    const cluster = etcd();
    const key = "/coreos.com/network/subnets/10.5.52.0-24";
    const hex = await grant(cluster, 3600);
    await cluster.etcdctlOk(["put", `--lease=${hex}`, key, FLANNEL_VALUE]);
    const reg = registry("/coreos.com/network");

    const listing = await reg.list();
    expect(listing.foreign).toEqual([]);
    expect(listing.damaged).toEqual([]);
    expect(listing.leases).toHaveLength(1);
    const read = listing.leases[0]!;
    expect(read.key).toBe(key);
    expect(read.attrs).toEqual(FLANNEL_ATTRS);
    expect(read.value).toBe(FLANNEL_VALUE);
    expect(read.etcdLease).toBe(decOf(hex));
    expect(listing.revision).toBeGreaterThanOrEqual(read.modRevision);
    expect((await reg.ttls(listing)).get(decOf(hex))).toBeGreaterThan(3000);

    const acquired = await reg.acquire({
      network: NET,
      attrs: FLANNEL_ATTRS,
      previous: subnet("10.5.9.0-24"),
    });
    expect(acquired.outcome).toBe("reused");
    // Same bytes: nothing was written, the etcd lease is flanneld's own.
    expect(acquired.lease.modRevision).toBe(read.modRevision);
    expect(acquired.lease.etcdLease).toBe(decOf(hex));

    // Until etcd shows the TTL run down (reported in whole seconds, a fresh one reads 3599), so
    // a renewal has something visible to restore.
    const before = await waitFor(
      async () => {
        const info = await leaseInfo(cluster, decOf(hex));
        return info !== null && info.remaining <= 3597 && info;
      },
      { what: "the etcd lease's TTL run down to 3597 s", intervalMs: 200 },
    );
    const renewed = await reg.renew(acquired.lease);
    expect(renewed.etcdLease).toBe(decOf(hex));
    const after = await leaseInfo(cluster, decOf(hex));
    expect(after!.remaining).toBeGreaterThan(before.remaining);
    expect(after!.keys).toEqual([key]);
    expect(await storedValue(cluster, key)).toBe(FLANNEL_VALUE);

    // A changed VtepMAC is written under the same etcd lease, never as a permanent key.
    const moved = await reg.acquire({ network: NET, attrs: host("192.168.64.3", "c6:d2:32:6f:8f:45") });
    expect(moved.outcome).toBe("reused");
    expect(moved.lease.etcdLease).toBe(decOf(hex));
    expect(await storedValue(cluster, key)).toBe(
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:45"}}',
    );
    expect((await leaseInfo(cluster, decOf(hex)))!.keys).toEqual([key]);
    await reg.release(moved.lease);
    expect(await storedValue(cluster, key)).toBeNull();
    expect(await leaseInfo(cluster, decOf(hex))).toBeNull();
  });

  it("writes values byte-identical to flanneld's, attached to an etcd lease with the TTL", async () => {
    const cluster = etcd();
    const reg = registry("/bytes/network", 7200);
    const got = await reg.acquire({ network: NET, attrs: FLANNEL_ATTRS, previous: subnet("10.5.52.0-24") });
    expect(got.outcome).toBe("previous");
    expect(got.lease.key).toBe("/bytes/network/subnets/10.5.52.0-24");
    expect(await storedValue(cluster, got.lease.key)).toBe(FLANNEL_VALUE);
    const info = await leaseInfo(cluster, got.lease.etcdLease);
    expect(info!.keys).toEqual([got.lease.key]);
    expect(info!.remaining).toBeGreaterThan(7000);
    expect(info!.remaining).toBeLessThanOrEqual(7200);
    await reg.release(got.lease);
  });

  it("tells the TTL etcd gave: the grant's for a new lease, the renewal's for one reused, none for a reservation", async () => {
    const cluster = etcd();
    const reg = registry("/told-ttl/network", 7200);
    const made = await reg.acquire({ network: NET, attrs: host("192.168.70.1") });
    expect(made.outcome).toBe("new");
    expect(made.ttlSeconds).toBe(7200);
    expect(await store.timeToLive(made.lease.etcdLease)).toBeLessThanOrEqual(7200);
    const hex = await grant(cluster, 3600);
    const key = "/told-ttl/network/subnets/10.5.99.0-24";
    await cluster.etcdctlOk(["put", `--lease=${hex}`, key, FLANNEL_VALUE]);
    const reused = await registry("/told-ttl/network").acquire({ network: NET, attrs: FLANNEL_ATTRS });
    expect(reused.outcome).toBe("reused");
    expect(reused.lease.etcdLease).toBe(decOf(hex));
    expect(reused.ttlSeconds).toBe(3600); // just renewed
    await cluster.etcdctlOk([
      "put",
      "/told-ttl/network/subnets/10.5.98.0-24",
      '{"PublicIP":"192.168.70.9","PublicIPv6":null}',
    ]);
    const reserved = await registry("/told-ttl/network").acquire({
      network: NET,
      attrs: host("192.168.70.9"),
    });
    expect(reserved.lease.etcdLease).toBe("0");
    expect(reserved.ttlSeconds).toBeUndefined();
    for (const got of [made, reused]) await reg.release(got.lease).catch(() => undefined);
  });

  it("keeps a reservation a reservation through acquire and renew", async () => {
    const cluster = etcd();
    const key = "/reserved/network/subnets/10.5.77.0-24";
    await cluster.etcdctlOk(["put", key, '{"PublicIP":"192.168.64.9","PublicIPv6":null}']);
    const reg = registry("/reserved/network");
    const got = await reg.acquire({ network: NET, attrs: host("192.168.64.9") });
    expect(got.outcome).toBe("reused");
    expect(got.lease.etcdLease).toBe("0");
    expect(await isPermanent(cluster, key)).toBe(true);
    expect(await storedValue(cluster, key)).toBe(
      '{"PublicIP":"192.168.64.9","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}}',
    );
    const renewed = await reg.renew(got.lease);
    expect(renewed.etcdLease).toBe("0");
    const again = await reg.renew(renewed, { attrs: host("192.168.64.9", "02:00:00:00:00:02") });
    expect(await isPermanent(cluster, key)).toBe(true);
    expect(await storedValue(cluster, key)).toBe(again.value);
    expect(again.value).toContain("02:00:00:00:00:02");
    expect((await reg.list()).leases.map((l) => l.etcdLease)).toEqual(["0"]);
  });

  it("reserves, converts this host's live lease into a reservation, and unreserves only reservations", async () => {
    const cluster = etcd();
    const reg = registry("/reserve/network");
    const live = await reg.acquire({
      network: NET,
      attrs: host("192.168.70.1"),
      previous: subnet("10.5.80.0-24"),
    });
    const grantId = live.lease.etcdLease;
    expect((await rejection(reg.unreserve(subnet("10.5.80.0-24")))).code).toBe("conflict");
    expect((await rejection(reg.reserve(subnet("10.5.80.0-24"), host("192.168.70.2")))).code).toBe(
      "conflict",
    );
    expect((await rejection(reg.reserve(subnet("10.5.80.0-23"), host("192.168.70.2")))).message).toMatch(
      /overlaps 10\.5\.80\.0-24, held by 192\.168\.70\.1/,
    );

    const converted = await reg.reserve(subnet("10.5.80.0-24"), host("192.168.70.1"));
    expect(converted.etcdLease).toBe("0");
    expect(await isPermanent(cluster, live.lease.key)).toBe(true);
    expect(await leaseInfo(cluster, grantId)).toBeNull(); // the old grant did not leak

    const fresh = await reg.reserve(subnet("10.5.81.0-24"), host("192.168.70.3"));
    expect(await isPermanent(cluster, fresh.key)).toBe(true);
    const again = await reg.acquire({ network: NET, attrs: host("192.168.70.3") });
    expect(again.outcome).toBe("reused");
    expect(again.lease.key).toBe(fresh.key);

    await reg.unreserve(subnet("10.5.81.0-24"));
    expect(await storedValue(cluster, fresh.key)).toBeNull();
    expect((await rejection(reg.unreserve(subnet("10.5.81.0-24")))).code).toBe("not-found");
  });

  it("a renewal racing an admin's delete fails and writes nothing", async () => {
    const cluster = etcd();
    const reg = registry("/deleted/network");
    const got = await reg.acquire({ network: NET, attrs: host("192.168.71.1") });
    await cluster.etcdctlOk(["del", got.lease.key]);
    const err = await rejection(reg.renew(got.lease));
    expect(err.code).toBe("not-found");
    expect(err.message).toMatch(/was lost: it expired or was deleted; nothing was written/);
    expect(await storedValue(cluster, got.lease.key)).toBeNull();
    expect(await leaseInfo(cluster, got.lease.etcdLease)).toBeNull(); // our now key-less grant is gone too
  });

  it("a renewal after another host took the subnet on expiry fails and leaves the other lease alone", async () => {
    const cluster = etcd();
    const reg = registry("/taken/network");
    const mine = await reg.acquire({
      network: NET,
      attrs: host("192.168.72.1"),
      previous: subnet("10.5.60.0-24"),
    });
    expect(mine.outcome).toBe("previous");
    await cluster.etcdctlOk(["lease", "revoke", hexOf(mine.lease.etcdLease)]); // as if it expired
    const theirs = await reg.acquire({
      network: NET,
      attrs: host("192.168.72.2"),
      previous: subnet("10.5.60.0-24"),
    });
    expect(theirs.outcome).toBe("previous");
    expect(theirs.lease.key).toBe(mine.lease.key);
    const valueBefore = await storedValue(cluster, theirs.lease.key);

    const err = await rejection(reg.renew(mine.lease));
    expect(err.code).toBe("conflict");
    expect(err.message).toMatch(/now held by 192\.168\.72\.2; nothing was written/);
    expect((await rejection(reg.release(mine.lease))).code).toBe("conflict");
    expect(
      (await rejection(reg.renew(mine.lease, { attrs: host("192.168.72.1", "02:00:00:00:00:09") }))).code,
    ).toBe("conflict");

    expect(await storedValue(cluster, theirs.lease.key)).toBe(valueBefore);
    const after = (await reg.list()).leases.find((l) => l.key === theirs.lease.key)!;
    expect(after.modRevision).toBe(theirs.lease.modRevision);
    expect(after.etcdLease).toBe(theirs.lease.etcdLease);
    expect((await leaseInfo(cluster, theirs.lease.etcdLease))!.keys).toEqual([theirs.lease.key]);
  });

  it("deletes this host's lease that no longer fits before taking a fitting one", async () => {
    const cluster = etcd();
    const reg = registry("/refit/network");
    const old = await reg.acquire({ network: NET, attrs: host("192.168.73.1") });
    const moved = await reg.acquire({ network: TINY, attrs: host("192.168.73.1") });
    expect(moved.outcome).toBe("new");
    expect(moved.removed.map((l) => l.key)).toEqual([old.lease.key]);
    expect(await storedValue(cluster, old.lease.key)).toBeNull();
    expect(await leaseInfo(cluster, old.lease.etcdLease)).toBeNull();
  });

  it("removing this host's lease that no longer fits keeps the etcd lease a key outside the prefix rides on", async () => {
    const cluster = etcd();
    const reg = registry("/refit-shared/network");
    const old = await reg.acquire({ network: NET, attrs: host("192.168.73.2") });
    // Another tool's key, outside the subnets prefix (no listing of it sees this), on the same etcd lease.
    const rider = "/other-tool/state";
    await cluster.etcdctlOk(["put", `--lease=${hexOf(old.lease.etcdLease)}`, rider, "kept"]);
    const moved = await reg.acquire({ network: TINY, attrs: host("192.168.73.2") });
    expect(moved.removed.map((l) => l.key)).toEqual([old.lease.key]);
    expect(await storedValue(cluster, old.lease.key)).toBeNull();
    // Revoking the old etcd lease would have deleted the rider with it.
    expect(await storedValue(cluster, rider)).toBe("kept");
    expect((await leaseInfo(cluster, old.lease.etcdLease))?.keys).toEqual([rider]);
  });

  it("keepAlive renews on schedule and reports the loss once the key is gone", async () => {
    const cluster = etcd();
    const reg = registry("/keepalive/network", 4);
    const got = await reg.acquire({ network: NET, attrs: host("192.168.74.1") });
    let renewals = 0;
    const lost = new Promise<PodnetError>((resolve) => {
      const handle = reg.keepAlive(got.lease, {
        renewMarginSeconds: 3,
        retryIntervalSeconds: 1,
        onRenewed: () => {
          renewals++;
          // After two renewals (the key would have expired by now without them), an admin deletes it.
          if (renewals === 2) void cluster.etcdctlOk(["del", got.lease.key]);
        },
        onLost: (err) => {
          handle.stop();
          resolve(err);
        },
      });
    });
    const err = await lost;
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(err.code).toBe("not-found");
    expect(await storedValue(cluster, got.lease.key)).toBeNull();
  }, 20_000);

  it("a fresh registry asks for its grant beside its scan, and revokes it unused when the host holds a lease", async () => {
    const cluster = etcd();
    const calls: string[] = [];
    const scanning: Store = Object.create(store, {
      scan: {
        value: async (...args: Parameters<Store["scan"]>) => {
          calls.push("scan");
          const res = await store.scan(...args);
          calls.push("scanned");
          return res;
        },
      },
      grantAt: {
        value: (ttl: number) => {
          calls.push("grantAt");
          return store.grantAt(ttl);
        },
      },
    });
    const fresh = () => new LeaseRegistry(scanning, { prefix: "/beside/network" });
    const made = await fresh().acquire({ network: NET, attrs: host("192.168.71.1") });
    expect(made.outcome).toBe("new");
    expect(calls.slice(0, 3).sort()).toEqual(["grantAt", "scan", "scanned"].sort());
    expect(calls.indexOf("grantAt")).toBeLessThan(calls.indexOf("scanned"));
    const before = new Set((await allLeases(cluster)).keys());
    calls.length = 0;
    const reused = await fresh().acquire({ network: NET, attrs: host("192.168.71.1") });
    expect(reused.outcome).toBe("reused");
    expect(reused.lease.etcdLease).toBe(made.lease.etcdLease);
    expect(calls).toContain("grantAt"); // asked for beside the scan, before the host's lease was seen
    // ... and revoked before acquire returned: no etcd lease more than before.
    expect(new Set((await allLeases(cluster)).keys())).toEqual(before);
    await fresh().release(reused.lease);
  });

  it("a fresh registry scans at the caller's revision when given one, and afresh once it is compacted", async () => {
    const cluster = etcd();
    const prefix = "/at-revision/network";
    const before = (await store.get(`${prefix}/config`)).revision;
    // Another host takes 10.5.60.0/24 after that revision: a scan there sees it free.
    const other = await registry(prefix).acquire({
      network: NET,
      attrs: host("192.168.72.2"),
      previous: subnet("10.5.60.0-24"),
    });
    expect(other.outcome).toBe("previous");
    const atThen = await registry(prefix).acquire({
      network: NET,
      attrs: host("192.168.72.1"),
      previous: subnet("10.5.60.0-24"),
      atRevision: before,
    });
    // The create-if-absent lost to the key the old snapshot did not hold, and the retry went elsewhere.
    expect(atThen.attempts).toBe(2);
    expect(atThen.outcome).toBe("new");
    expect(atThen.lease.key).not.toBe(other.lease.key);
    const now = await registry(prefix).acquire({
      network: NET,
      attrs: host("192.168.72.3"),
      previous: subnet("10.5.60.0-24"),
    });
    expect(now.attempts).toBe(1); // without it, the scan is current
    // A revision etcd compacted away: the scan reads the current one instead.
    const old = (await store.get(`${prefix}/config`)).revision;
    await registry(prefix).release(now.lease);
    await cluster.etcdctlOk(["compact", String(old + 1)]);
    const compacted = await registry(prefix).acquire({
      network: NET,
      attrs: host("192.168.72.4"),
      atRevision: old,
    });
    expect(compacted.attempts).toBe(1);
    for (const l of [other, atThen, compacted]) await registry(prefix).release(l.lease);
  });

  it("leaks no etcd lease through lost races and releases", async () => {
    const cluster = etcd();
    const reg = registry("/race/network");
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        reg.acquire({ network: TINY, attrs: host(`192.168.75.${i + 1}`) }),
      ),
    );
    const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const lostReasons = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(won).toHaveLength(4);
    expect(lostReasons.every((e) => isPodnetError(e, "exhausted"))).toBe(true);
    expect((lostReasons[0] as Error).message).toContain("10.6.1.0 … 10.6.4.0 (/24), 4 in all");
    expect(new Set(won.map((w) => w.lease.key)).size).toBe(4);

    await reg.release(won[0]!.lease);
    await reg.release(won[1]!.lease);
    const leases = await allLeases(cluster);
    // Every etcd lease left in the whole cluster carries a key (the other tests' included).
    for (const [id, keys] of leases) expect(keys, `etcd lease ${hexOf(id)}`).not.toEqual([]);
    const mine = [...leases.values()].flat().filter((k) => k.startsWith("/race/"));
    expect(mine.sort()).toEqual([won[2]!.lease.key, won[3]!.lease.key].sort());
    expect(leases.has(won[0]!.lease.etcdLease)).toBe(false);
  });

  it("releases only a lease that is still ours", async () => {
    const cluster = etcd();
    const reg = registry("/release/network");
    const got = await reg.acquire({ network: NET, attrs: host("192.168.76.1") });
    const tampered = '{"PublicIP":"192.168.76.2","PublicIPv6":null}';
    await cluster.etcdctlOk(["put", `--lease=${hexOf(got.lease.etcdLease)}`, got.lease.key, tampered]);
    const err = await rejection(reg.release(got.lease));
    expect(err.code).toBe("conflict");
    expect(err.message).toMatch(/nothing was deleted/);
    expect(await storedValue(cluster, got.lease.key)).toBe(tampered);
    expect((await leaseInfo(cluster, got.lease.etcdLease))!.keys).toEqual([got.lease.key]);
    const current: Lease = (await reg.list()).leases[0]!;
    await reg.release(current);
    expect(await storedValue(cluster, got.lease.key)).toBeNull();
  });
});
