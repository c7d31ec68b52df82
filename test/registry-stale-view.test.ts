/**
 * The uncached registry acquires from a view that may be stale (its last listing, patched with
 * its transactions' answers, checked by a count of the prefix): what it must keep regardless.
 * Other writers are other connections and etcdctl, i.e. other processes.
 */
import {
  connect,
  encodeLeaseValue,
  isPodnetError,
  type LeaseAttrs,
  type LeaseNetwork,
  LeaseRegistry,
  parseLeaseKey,
  type Store,
} from "@podnet/ipam-core";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { etcdLeaseIds, subnetNameOf, vxlanHostAttrs } from "@podnet/test-harness/flannel";
import { useEtcd } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejection } from "../packages/ipam-core/src/errors.fixture.js";
import { network4 } from "../packages/ipam-core/src/lease-network.fixture.js";

const net = (third: number, first: number, last: number): LeaseNetwork =>
  network4(`10.${third}.0.0/16`, 24, `10.${third}.${first}.0`, `10.${third}.${last}.0`);
const host = (publicIP: string): LeaseAttrs => vxlanHostAttrs(publicIP);
const nameOf = subnetNameOf;

/** The first of `names` none of the acquisitions drew (the registry picks subnets at random). */
const untaken = (names: readonly string[], ...got: { lease: { key: string } }[]): string => {
  const taken = got.map((g) => nameOf(g.lease.key));
  const name = names.find((n) => !taken.includes(n));
  if (name === undefined) throw new Error("every candidate subnet was drawn");
  return name;
};

describe.skipIf(!etcdAvailable())("acquiring from a stale view", () => {
  const etcd = useEtcd();
  const stores: Store[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 4; i++) {
      stores.push(
        await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 10_000 }),
      );
    }
  });
  afterAll(() => {
    for (const s of stores) s.close();
  });

  /** The etcd leases (in the whole cluster) that carry no key. */
  async function keylessLeases(): Promise<string[]> {
    const ids = await etcdLeaseIds(etcd());
    const keyless: string[] = [];
    for (const hex of ids) {
      const info = await etcd().etcdctlOk(["lease", "timetolive", hex, "--keys"]);
      if (/attached keys\(\[\]\)/.test(info)) keyless.push(hex);
    }
    return keyless;
  }

  /** Every lease under the prefix as etcdctl sees it: key name to PublicIP. */
  async function held(prefix: string): Promise<Map<string, string>> {
    const out = await etcd().etcdctlOk(["get", "--prefix", `${prefix}/subnets/`, "-w", "json"]);
    const kvs = (JSON.parse(out) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    const map = new Map<string, string>();
    for (const kv of kvs) {
      const name = nameOf(Buffer.from(kv.key, "base64").toString("utf8"));
      if (parseLeaseKey(name) === null) continue; // a key that is no lease
      const value = JSON.parse(Buffer.from(kv.value, "base64").toString("utf8")) as { PublicIP: string };
      map.set(name, value.PublicIP);
    }
    return map;
  }

  it("registries on separate connections, views warmed first, never share a subnet", async () => {
    const prefix = "/stale-many";
    const network = net(20, 1, 40);
    const registries = stores.map((s) => new LeaseRegistry(s, { prefix, ttlSeconds: 600 }));
    // Each registry acquires twice first: its second acquisition leaves it a live listing.
    for (const [r, reg] of registries.entries()) {
      for (const k of [0, 1]) await reg.acquire({ network, attrs: host(`192.0.2.${r * 2 + k + 1}`) });
    }
    const results = await Promise.allSettled(
      registries.flatMap((reg, r) =>
        Array.from({ length: 12 }, (_, i) =>
          reg.acquire({ network, attrs: host(`198.51.${r}.${i + 1}`), maxAttempts: 40 }),
        ),
      ),
    );
    const won = results.flatMap((x) => (x.status === "fulfilled" ? [x.value] : []));
    const lost = results.flatMap((x) => (x.status === "rejected" ? [x.reason as unknown] : []));
    // 40 subnets, 8 taken before: 32 of the 48 callers get one, the others are told none is free.
    expect(won).toHaveLength(32);
    expect(lost.every((e) => isPodnetError(e, "exhausted"))).toBe(true);
    expect(new Set(won.map((w) => w.lease.key)).size).toBe(32);
    const leases = await held(prefix);
    expect(leases.size).toBe(40);
    expect(new Set(leases.values()).size).toBe(40); // no host holds two
  });

  it("finds and reuses this host's lease that another process wrote after the listing", async () => {
    const prefix = "/stale-host";
    const network = net(21, 1, 200);
    const reg = new LeaseRegistry(stores[0]!, { prefix, ttlSeconds: 600 });
    const got12 = [];
    for (const ip of ["192.0.2.1", "192.0.2.2"]) got12.push(await reg.acquire({ network, attrs: host(ip) }));
    const key = `${prefix}/subnets/${untaken(["10.21.77.0-24", "10.21.78.0-24", "10.21.79.0-24"], ...got12)}`;
    await etcd().etcdctlOk(["put", key, encodeLeaseValue(host("192.0.2.9"))]);
    const got = await reg.acquire({ network, attrs: host("192.0.2.9") });
    expect(got.outcome).toBe("reused");
    expect(got.lease.key).toBe(key);
    expect([...(await held(prefix)).values()].filter((ip) => ip === "192.0.2.9")).toHaveLength(1);
    // The grant asked for ahead (the view gave this host no lease) went unused: it is revoked.
    await waitFor(async () => (await keylessLeases()).length === 0, {
      what: "every etcd lease to carry a key",
      intervalMs: 100,
    });
  });

  it("asks etcd for a grant and one transaction per new host on a warm view, the grant's revision as the check", async () => {
    const prefix = "/stale-trips";
    const network = net(26, 1, 200);
    const calls: string[] = [];
    const base = stores[0]!;
    const counted = new Proxy(base, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const reg = new LeaseRegistry(counted, { prefix, ttlSeconds: 600 });
    // Each on a subnet of its own (its previous one), so no two of them race for one.
    const at = (third: number) => parseLeaseKey(`10.26.${third}.0-24`)!;
    for (const [i, ip] of ["192.0.2.1", "192.0.2.2"].entries())
      await reg.acquire({ network, attrs: host(ip), previous: at(i + 1) });
    calls.length = 0;
    const got = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        reg.acquire({ network, attrs: host(`198.51.100.${i + 1}`), previous: at(100 + i) }),
      ),
    );
    expect(got.every((g) => g.outcome === "previous")).toBe(true);
    expect(new Set(got.map((g) => g.lease.key)).size).toBe(8);
    // Only this registry wrote: no revision read, no count, no listing.
    expect(calls.sort()).toEqual([...Array(8).fill("grantAt"), ...Array(8).fill("txn")]);
    // Someone else writes: the grant's revision shows it, and a count (one, shared) vouches for the view.
    await etcd().etcdctlOk(["put", "/elsewhere", "x"]);
    calls.length = 0;
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        reg.acquire({ network, attrs: host(`198.51.101.${i + 1}`), previous: at(150 + i) }),
      ),
    );
    expect(calls.filter((c) => c !== "grantAt" && c !== "txn")).toEqual(["count"]);
  });

  it("concurrent hosts on two registries, one host's lease written by another process first: reused, nothing twice", async () => {
    const prefix = "/stale-racing";
    const network = net(27, 1, 200);
    const regs = [stores[1]!, stores[2]!].map((s) => new LeaseRegistry(s, { prefix, ttlSeconds: 600 }));
    for (const [r, reg] of regs.entries())
      for (const k of [1, 2]) await reg.acquire({ network, attrs: host(`192.0.2.${r * 2 + k}`) });
    for (let round = 0; round < 3; round++) {
      const theirs = `198.18.${round}.7`;
      // Created as another flanneld would: on a free subnet (a put over a held key keeps the count).
      const taken = await held(prefix);
      const free = Array.from({ length: 200 }, (_, i) => `10.27.${i + 1}.0-24`).filter((n) => !taken.has(n));
      const key = `${prefix}/subnets/${free[round * 7]}`;
      await etcd().etcdctlOk(["put", key, encodeLeaseValue(host(theirs))]);
      const got = await Promise.all(
        regs.flatMap((reg, r) =>
          Array.from({ length: 10 }, (_, i) => {
            const ip = r === 1 && i === 3 ? theirs : `198.18.${round}.${100 + r * 10 + i}`;
            return reg.acquire({ network, attrs: host(ip), maxAttempts: 40 });
          }),
        ),
      );
      const mine = got.find((g) => g.lease.attrs.publicIP === theirs);
      expect(mine?.outcome).toBe("reused");
      expect(mine?.lease.key).toBe(key);
      expect(new Set(got.map((g) => g.lease.key)).size).toBe(20);
    }
    const leases = await held(prefix);
    expect(leases.size).toBe(4 + 3 * 20);
    expect(new Set(leases.values()).size).toBe(leases.size); // no host holds two
  });

  it("finds this host's lease written while a delete kept the count, through the failed create", async () => {
    const prefix = "/stale-host-balanced";
    const network = net(22, 1, 200);
    const reg = new LeaseRegistry(stores[0]!, { prefix, ttlSeconds: 600 });
    const first = await reg.acquire({ network, attrs: host("192.0.2.1") });
    const gone = await reg.acquire({ network, attrs: host("192.0.2.2") });
    // Another process deletes one lease and writes this host's on its previous subnet, one
    // neither lease drew: same count.
    const name = untaken(["10.22.50.0-24", "10.22.51.0-24", "10.22.52.0-24"], first, gone);
    await etcd().etcdctlOk(["del", gone.lease.key]);
    const key = `${prefix}/subnets/${name}`;
    await etcd().etcdctlOk(["put", key, encodeLeaseValue(host("192.0.2.9"))]);
    const got = await reg.acquire({
      network,
      attrs: host("192.0.2.9"),
      previous: parseLeaseKey(name)!,
    });
    // The view believed the subnet free; the create lost, said what won, and that is this host's.
    expect(got.attempts).toBe(2);
    expect(got.outcome).toBe("reused");
    expect(got.lease.key).toBe(key);
    expect([...(await held(prefix)).values()].filter((ip) => ip === "192.0.2.9")).toHaveLength(1);
  });

  it("skips a subnet another process took after the listing, through the failed compare", async () => {
    const prefix = "/stale-subnet";
    const network = net(23, 1, 200);
    const reg = new LeaseRegistry(stores[0]!, { prefix, ttlSeconds: 600 });
    const first = await reg.acquire({ network, attrs: host("192.0.2.1") });
    const gone = await reg.acquire({ network, attrs: host("192.0.2.2") });
    await etcd().etcdctlOk(["del", gone.lease.key]);
    const theirs = encodeLeaseValue(host("203.0.113.7"));
    const name = untaken(["10.23.60.0-24", "10.23.61.0-24", "10.23.62.0-24"], first, gone);
    await etcd().etcdctlOk(["put", `${prefix}/subnets/${name}`, theirs]);
    const previous = parseLeaseKey(name)!;
    const got = await reg.acquire({ network, attrs: host("192.0.2.3"), previous });
    expect(got.attempts).toBe(2);
    expect(got.outcome).toBe("new");
    expect(nameOf(got.lease.key)).not.toBe(name);
    expect((await held(prefix)).get(name)).toBe("203.0.113.7"); // untouched
  });

  it("takes again a subnet freed by a delete or an expiry, even when the view still holds it", async () => {
    const prefix = "/stale-freed";
    const network = net(24, 1, 4);
    const reg = new LeaseRegistry(stores[0]!, { prefix, ttlSeconds: 600 });
    const other = new LeaseRegistry(stores[1]!, { prefix, ttlSeconds: 600 });
    const mine = [];
    for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
      mine.push(await reg.acquire({ network, attrs: host(ip) }));
    const expiring = await other.acquire({ network, attrs: host("192.0.2.4") });
    expect((await rejection(reg.acquire({ network, attrs: host("192.0.2.5") }))).code).toBe("exhausted");

    // It expires (its etcd lease revoked, as etcd does at the TTL): the count drops, the registry lists.
    const hex = BigInt(expiring.lease.etcdLease).toString(16);
    await etcd().etcdctlOk(["lease", "revoke", hex]);
    const fifth = await reg.acquire({ network, attrs: host("192.0.2.5") });
    expect(fifth.lease.key).toBe(expiring.lease.key);

    // A delete balanced by a key that occupies nothing: the view still counts the subnet taken,
    // so "out of subnets" is checked against a listing, which finds it free.
    await etcd().etcdctlOk(["del", mine[0]!.lease.key]);
    await etcd().etcdctlOk(["put", `${prefix}/subnets/not-a-subnet`, "x"]);
    const sixth = await reg.acquire({ network, attrs: host("192.0.2.6") });
    expect(sixth.lease.key).toBe(mine[0]!.lease.key);
  });

  it("acquires anew when this host's lease in the view was deleted behind its back", async () => {
    const prefix = "/stale-mine";
    const network = net(25, 1, 200);
    const reg = new LeaseRegistry(stores[0]!, { prefix, ttlSeconds: 600 });
    await reg.acquire({ network, attrs: host("192.0.2.1") });
    const mine = await reg.acquire({ network, attrs: host("192.0.2.2") });
    // Deleted, and a key that occupies nothing keeps the count: the view still shows the lease.
    await etcd().etcdctlOk(["del", mine.lease.key]);
    await etcd().etcdctlOk(["put", `${prefix}/subnets/not-a-subnet`, "x"]);
    const got = await reg.acquire({ network, attrs: host("192.0.2.2") });
    expect(got.attempts).toBe(2); // the reuse was checked against etcd, failed, and the registry listed
    expect(got.outcome).not.toBe("reused");
    const leases = await held(prefix);
    expect([...leases.values()].filter((ip) => ip === "192.0.2.2")).toHaveLength(1);
    expect(leases.get(nameOf(got.lease.key))).toBe("192.0.2.2");
  });
});
