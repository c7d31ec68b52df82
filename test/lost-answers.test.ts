/**
 * A write whose answer was lost: through a proxy that forwards a transaction to its etcd member
 * and drops the reply, the write commits, the client's attempt times out and the endpoint pool
 * retries on the other endpoint, whose compare then fails. podnet must see its own write in
 * that failure: report success, revoke what it meant to revoke, touch nothing of another host's.
 * And a frozen last candidate must not fail a call while a set-aside endpoint has recovered.
 *
 * Two proxies (to two members of a three-member cluster) share one rule, "lose the next Txn's
 * reply", so whichever endpoint the pool tries first loses the answer and the other is healthy.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type LeaseAttrs, LeaseRegistry, type Store } from "@podnet/ipam-core";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import type { EtcdMember } from "@podnet/test-harness/etcd";
import { flannelVxlanValue, leaseTtl, putFlannelLease, storedKey } from "@podnet/test-harness/flannel";
import { GRPC, type GrpcProxy, grpcProxy, LostReplies } from "@podnet/test-harness/grpc-proxy";
import { freeze, thaw } from "@podnet/test-harness/sick-endpoints";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { afterEach, describe, expect, it } from "vitest";
import { NET_10_5 } from "../packages/ipam-core/src/lease-network.fixture.js";

const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
/** Two endpoints: the lost attempt waits out its half, the retry has the other half. */
const TIMEOUTS = ["--dial-timeout", "2s", "--command-timeout", "4s"];
const KILL_AFTER_MS = 25_000;
const mac = (n: number) => `0e:00:00:00:00:${n.toString(16).padStart(2, "0")}`;

useTempDirs();

describe("a write whose answer was lost is recognised as done", () => {
  const etcd = useEtcd({ members: 3, enableV2: true });
  const proxies: GrpcProxy[] = [];
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  /** Endpoints through which the next `count` transactions commit but their replies are lost. */
  async function losingEndpoints(count = 1): Promise<{ lose: LostReplies; urls: string[] }> {
    const lose = new LostReplies(GRPC.txn, count);
    const two = etcd().members.slice(0, 2);
    const opened = await Promise.all(two.map((m) => grpcProxy(m.clientUrl, { lose })));
    proxies.push(...opened);
    return { lose, urls: opened.map((p) => p.url) };
  }

  const ctl = (args: string[], input?: string) =>
    etcd().etcdctlOk(args, input === undefined ? {} : { input });
  const stored = (key: string) => storedKey(etcd(), key);
  const ttlOf = (hex: string) => leaseTtl(etcd(), hex);
  const hexOf = (decimal: string) => BigInt(decimal).toString(16);
  const modRevisionOf = async (key: string): Promise<number | undefined> => {
    const out = JSON.parse(await ctl(["get", key, "-w", "json"])) as { kvs?: { mod_revision: number }[] };
    return out.kvs?.[0]?.mod_revision;
  };

  /** Another host's lease, and a check that nothing of it changed. */
  async function bystander(p: string): Promise<() => Promise<void>> {
    const key = `${p}/subnets/10.5.200.0-24`;
    const value = flannelVxlanValue("192.0.2.200", mac(200));
    const id = await putFlannelLease(etcd(), key, value);
    const rev = await modRevisionOf(key);
    return async () => {
      expect(await stored(key)).toEqual({ value, lease: BigInt(`0x${id}`).toString() });
      expect(await modRevisionOf(key)).toBe(rev);
      expect(await ttlOf(id)).toBeGreaterThan(0);
    };
  }

  async function podnet(p: string, urls: string[], args: string[]): Promise<RunPodnetResult> {
    const r = await runPodnet(["--endpoints", urls.join(","), "--prefix", p, ...TIMEOUTS, ...args], {
      timeoutMs: KILL_AFTER_MS,
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  }

  async function withConfig(p: string): Promise<void> {
    await ctl(["put", `${p}/config`], CONFIG);
  }

  it("lease release: released, its etcd lease revoked", async () => {
    const p = "/lost-release";
    await withConfig(p);
    const untouched = await bystander(p);
    const key = `${p}/subnets/10.5.1.0-24`;
    const id = await putFlannelLease(etcd(), key, flannelVxlanValue("192.0.2.1", mac(1)));
    const { lose, urls } = await losingEndpoints();
    const r = await podnet(p, urls, ["lease", "release", "10.5.1.0/24"]);
    expect(lose.lost).toEqual([GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(await stored(key)).toBeUndefined();
    expect(await ttlOf(id)).toBe(-1);
    await untouched();
  });

  it("lease reserve of a live lease: a reservation now, the old etcd lease revoked", async () => {
    const p = "/lost-convert";
    await withConfig(p);
    const untouched = await bystander(p);
    const key = `${p}/subnets/10.5.2.0-24`;
    const value = flannelVxlanValue("192.0.2.2", mac(2));
    const id = await putFlannelLease(etcd(), key, value);
    const { lose, urls } = await losingEndpoints();
    const r = await podnet(p, urls, ["lease", "reserve", "10.5.2.0/24", "--public-ip", "192.0.2.2"]);
    expect(lose.lost).toEqual([GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(/^reserved 10\.5\.2\.0\/24 for 192\.0\.2\.2/);
    expect(await stored(key)).toEqual({ value, lease: "0" });
    expect(await ttlOf(id)).toBe(-1);
    await untouched();
  });

  it("lease reserve of a free subnet, and lease unreserve: each done, once", async () => {
    const p = "/lost-reserve";
    await withConfig(p);
    const untouched = await bystander(p);
    const key = `${p}/subnets/10.5.3.0-24`;
    const created = await losingEndpoints();
    const r = await podnet(p, created.urls, [
      "lease",
      "reserve",
      "10.5.3.0/24",
      "--public-ip",
      "192.0.2.3",
      "--vtep-mac",
      mac(3),
    ]);
    expect(created.lose.lost).toEqual([GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(await stored(key)).toEqual({ value: flannelVxlanValue("192.0.2.3", mac(3)), lease: "0" });

    const removed = await losingEndpoints();
    const u = await podnet(p, removed.urls, ["lease", "unreserve", "10.5.3.0/24"]);
    expect(removed.lose.lost).toEqual([GRPC.txn]);
    expect([u.code, u.stderr]).toEqual([0, ""]);
    expect(await stored(key)).toBeUndefined();
    await untouched();
  });

  it("ipam release --from-report: the key whose delete lost its answer is reported deleted", async () => {
    const p = "/lost-report";
    await withConfig(p);
    const untouched = await bystander(p);
    // SubnetLen 24: a /25 lease is of the wrong length; a foreign key is a finding too.
    const wrong = `${p}/subnets/10.5.4.0-25`;
    const foreign = `${p}/subnets/not-a-subnet`;
    await putFlannelLease(etcd(), wrong, flannelVxlanValue("192.0.2.4", mac(4)));
    await ctl(["put", foreign, "junk"]);
    const dir = await tempDir();
    const report = join(dir, "report.json");
    const direct = etcd().endpoints;
    const check = await podnet(p, direct, ["ipam", "check", "--report", report]);
    expect(check.code).toBe(1);
    const { lose, urls } = await losingEndpoints();
    const r = await podnet(p, urls, ["ipam", "release", "--from-report", report, "-o", "json"]);
    expect(lose.lost).toEqual([GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const results = JSON.parse(r.stdout).results as { key: string; status: string }[];
    expect(Object.fromEntries(results.map((x) => [x.key, x.status]))).toEqual({
      [wrong]: "deleted",
      [foreign]: "deleted",
    });
    expect(await stored(wrong)).toBeUndefined();
    expect(await stored(foreign)).toBeUndefined();
    await untouched();
    expect(JSON.parse(await readFile(report, "utf8")).version).toBe(2);
  });

  it("config set: written, not 'changed since it was read'", async () => {
    const p = "/lost-config";
    await withConfig(p);
    const dir = await tempDir();
    const file = join(dir, "config.json");
    const text = CONFIG.replace('"SubnetLen":24', '"SubnetLen":24,"SubnetMin":"10.5.10.0"');
    await writeFile(file, text);
    const { lose, urls } = await losingEndpoints();
    const r = await podnet(p, urls, ["config", "set", file, "-o", "json"]);
    expect(lose.lost).toEqual([GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const doc = JSON.parse(r.stdout) as { written: boolean; revision: number };
    expect(doc.written).toBe(true);
    expect(await ctl(["get", "--print-value-only", `${p}/config`])).toBe(`${text}\n`);
    expect(doc.revision).toBe(await modRevisionOf(`${p}/config`));
  });

  it("migrate v2: the config, a lease and a reservation migrated, no grant left holding a key", async () => {
    const p = "/lost-migrate";
    const v2Put = async (key: string, value: string, ttl?: number) => {
      const body = new URLSearchParams({ value, ...(ttl !== undefined && { ttl: String(ttl) }) });
      const res = await fetch(`${etcd().endpoints[0]}/v2/keys${key}`, { method: "PUT", body });
      expect(res.ok).toBe(true);
    };
    await v2Put(`${p}/config`, CONFIG);
    await v2Put(`${p}/subnets/10.5.8.0-24`, flannelVxlanValue("192.0.2.8", mac(8)), 3600);
    await v2Put(`${p}/subnets/10.5.9.0-24`, flannelVxlanValue("192.0.2.9", mac(9)));
    // etcdctl lists lease ids in hex, zero-padded: compare them as numbers.
    const grants = async () =>
      (await ctl(["lease", "list"]))
        .split("\n")
        .filter((l) => /^[0-9a-f]+$/.test(l))
        .map((l) => BigInt(`0x${l}`).toString());
    const before = await grants();
    // Four answers lost: the config's write and its retry (no endpoint answers it: a read must
    // show it landed), then the first attempt of each entry's (sent together; the retries answer).
    const { lose, urls } = await losingEndpoints(4);
    const r = await podnet(p, urls, ["migrate", "v2", "--from", etcd().endpoints[0] ?? "", "-o", "json"]);
    expect(lose.lost).toEqual([GRPC.txn, GRPC.txn, GRPC.txn, GRPC.txn]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const report = JSON.parse(r.stdout) as { config: { status: string }; leases: { status: string }[] };
    expect([report.config.status, ...report.leases.map((l) => l.status)]).toEqual([
      "migrated",
      "migrated",
      "migrated",
    ]);
    const lease = await stored(`${p}/subnets/10.5.8.0-24`);
    expect(lease?.value).toBe(flannelVxlanValue("192.0.2.8", mac(8)));
    expect(await ttlOf(hexOf(lease?.lease ?? "0"))).toBeGreaterThan(0);
    expect(await stored(`${p}/subnets/10.5.9.0-24`)).toEqual({
      value: flannelVxlanValue("192.0.2.9", mac(9)),
      lease: "0",
    });
    // The run's grants: the lease's, and none holding anything else (a grant whose own answer is
    // lost is granted again and the first expires unused: the store cannot tell it is ours yet).
    const granted = (await grants()).filter((id) => !before.includes(id));
    expect(granted).toContain(lease?.lease);
    for (const id of granted.filter((g) => g !== lease?.lease)) {
      expect(await ctl(["lease", "timetolive", "--keys", hexOf(id)])).toMatch(/attached keys \(\[\]\)/);
    }
  });

  describe("the registry through a losing endpoint", () => {
    const network = NET_10_5;
    const stores: Store[] = [];
    afterEach(() => {
      for (const s of stores.splice(0)) s.close();
    });
    async function registryVia(p: string, urls: string[]): Promise<LeaseRegistry> {
      const store = await connect({ endpoints: urls, dialTimeoutMs: 2000, commandTimeoutMs: 4000 });
      stores.push(store);
      return new LeaseRegistry(store, { prefix: p });
    }
    const attrs = (ip: string, n: number): LeaseAttrs => ({
      publicIP: ip,
      publicIPv6: null,
      backendType: "vxlan",
      backendData: `{"VNI":1,"VtepMAC":"${mac(n)}"}`,
    });

    it("renew with new attributes: renewed, not 'lost'", async () => {
      const p = "/lost-renew";
      await withConfig(p);
      const untouched = await bystander(p);
      const direct = await registryVia(p, etcd().endpoints);
      const { lease } = await direct.acquire({ network, attrs: attrs("192.0.2.5", 5) });
      const { lose, urls } = await losingEndpoints();
      const lossy = await registryVia(p, urls);
      const renewed = await lossy.renew(lease, { attrs: attrs("192.0.2.5", 0x55) });
      expect(lose.lost).toEqual([GRPC.txn]);
      expect(renewed.value).toBe(flannelVxlanValue("192.0.2.5", mac(0x55)));
      expect(await stored(lease.key)).toEqual({ value: renewed.value, lease: lease.etcdLease });
      expect(renewed.modRevision).toBe(await modRevisionOf(lease.key));
      expect(await ttlOf(hexOf(lease.etcdLease))).toBeGreaterThan(0);
      await untouched();
    });

    it("release, reserve and unreserve: each done, nothing leaked", async () => {
      const p = "/lost-registry";
      await withConfig(p);
      const untouched = await bystander(p);
      const direct = await registryVia(p, etcd().endpoints);
      const { lease } = await direct.acquire({ network, attrs: attrs("192.0.2.6", 6) });

      const released = await losingEndpoints();
      await (await registryVia(p, released.urls)).release(lease);
      expect(released.lose.lost).toEqual([GRPC.txn]);
      expect(await stored(lease.key)).toBeUndefined();
      expect(await ttlOf(hexOf(lease.etcdLease))).toBe(-1);

      const again = await direct.acquire({ network, attrs: attrs("192.0.2.6", 6) });
      const converted = await losingEndpoints();
      const reservation = await (await registryVia(p, converted.urls)).reserve(
        again.lease.subnet,
        attrs("192.0.2.6", 6),
      );
      expect(converted.lose.lost).toEqual([GRPC.txn]);
      expect(reservation).toMatchObject({ key: again.lease.key, etcdLease: "0" });
      expect(reservation.modRevision).toBe(await modRevisionOf(again.lease.key));
      expect(await ttlOf(hexOf(again.lease.etcdLease))).toBe(-1);

      const unreserved = await losingEndpoints();
      await (await registryVia(p, unreserved.urls)).unreserve(reservation.subnet, { expect: reservation });
      expect(unreserved.lose.lost).toEqual([GRPC.txn]);
      expect(await stored(again.lease.key)).toBeUndefined();
      await untouched();
    });

    it("no answer at all (the other endpoint silent): a read shows the release landed, and it is finished", async () => {
      const p = "/lost-noanswer";
      await withConfig(p);
      const untouched = await bystander(p);
      const direct = await registryVia(p, etcd().endpoints);
      const { lease } = await direct.acquire({ network, attrs: attrs("192.0.2.8", 8) });
      const lose = new LostReplies(GRPC.txn);
      const [losing, silent] = await Promise.all([
        grpcProxy(etcd().members[0]?.clientUrl ?? "", { lose }),
        grpcProxy(etcd().members[1]?.clientUrl ?? ""),
      ]);
      proxies.push(losing!, silent!);
      silent!.hold();
      const lossy = await registryVia(p, [losing!.url, silent!.url]);
      await lossy.release(lease);
      expect(lose.lost).toEqual([GRPC.txn]);
      expect(await stored(lease.key)).toBeUndefined();
      expect(await ttlOf(hexOf(lease.etcdLease))).toBe(-1);
      await untouched();
    });

    it("acquire removes this host's lease that no longer fits, and revokes its etcd lease", async () => {
      const p = "/lost-stale";
      await withConfig(p);
      const untouched = await bystander(p);
      const direct = await registryVia(p, etcd().endpoints);
      const { lease } = await direct.acquire({ network, attrs: attrs("192.0.2.7", 7) });
      // The same host's lease outside the network: acquire deletes it first (the first transaction).
      const outside = `${p}/subnets/10.99.0.0-24`;
      const id = await putFlannelLease(etcd(), outside, lease.value);
      const { lose, urls } = await losingEndpoints();
      const res = await (await registryVia(p, urls)).acquire({ network, attrs: attrs("192.0.2.7", 7) });
      expect(lose.lost).toEqual([GRPC.txn]);
      expect(res.lease.key).toBe(lease.key);
      expect(res.removed.map((l) => l.key)).toEqual([outside]);
      expect(await stored(outside)).toBeUndefined();
      expect(await ttlOf(id)).toBe(-1);
      await untouched();
    });
  });
});

describe("a frozen last candidate leaves time for a set-aside endpoint that has recovered", () => {
  const etcd = useEtcd({ members: 3 });
  const proxies: GrpcProxy[] = [];
  let frozen: EtcdMember | undefined;
  afterEach(async () => {
    if (frozen !== undefined) thaw(frozen);
    frozen = undefined;
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  it("a write goes to the recovered endpoints once the only answering one freezes", async () => {
    const leader = await etcd().waitForLeader();
    const follower = etcd().members.find((m) => m !== leader) as EtcdMember;
    const others = etcd().members.filter((m) => m !== follower);
    // The other two members through proxies that can hold calls; the follower direct, to freeze.
    const held = await Promise.all(others.map((m) => grpcProxy(m.clientUrl)));
    proxies.push(...held);
    const store = await connect({
      endpoints: [...held.map((p) => p.url), follower.clientUrl],
      dialTimeoutMs: 2000,
      commandTimeoutMs: 3000,
    });
    try {
      // Both proxied endpoints stop answering: writes set them aside, one call after another, until
      // each has been tried (a write that returned has set aside every endpoint it gave up on).
      for (const p of held) p.hold();
      let n = 0;
      await waitFor(
        async () => {
          await store.txn([], [{ put: "/pool/scratch", value: String(n++) }]);
          return held.every((p) => p.held > 0);
        },
        { what: "both held endpoints tried and set aside" },
      );
      // They recover; the one endpoint still answering freezes.
      for (const p of held) p.forward();
      freeze(follower);
      frozen = follower;
      const res = await store.txn(
        [{ key: "/pool/after", modRevision: 0 }],
        [{ put: "/pool/after", value: "1" }],
      );
      expect(res.succeeded).toBe(true);
      const got = await etcd().etcdctlOk(["get", "/pool/after"], {
        endpoints: others.map((m) => m.clientUrl),
      });
      expect(got).toBe("/pool/after\n1\n");
    } finally {
      store.close();
    }
  });
});
