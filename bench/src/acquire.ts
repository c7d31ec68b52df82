/**
 * Throughput: C concurrent clients acquiring into 10.0.0.0/8 with SubnetLen 24, each with its
 * own PublicIP, against raw etcd doing the same creates with the same client and concurrency:
 * one create-if-absent transaction per key ("txn only"), and a grant plus that transaction
 * ("grant+txn", the etcd work of flannel's create and of podnet's). Each side runs under its
 * own prefix of one fresh etcd. podnet runs three ways: one-shot (a fresh registry per
 * acquisition, as `podnet lease acquire` does), one shared registry (concurrent acquires share
 * listings), and one registry with the watch-fed lease cache (a long-running process).
 */
import { LeaseRegistry, leaseKey, type Store } from "@podnet/ipam-core";
import type { EtcdCluster } from "@podnet/test-harness/etcd";
import {
  attrsOf,
  freshEtcd,
  leaseValueOf,
  now,
  PREFIX,
  pool,
  shuffled,
  slash8,
  storeOf,
  subnetOf,
} from "./etcd-common.js";
import { type Figure, figure } from "./measure.js";

export interface AcquireBenchOptions {
  /** Concurrent clients; default 32 (PODNET_BENCH_C). */
  clients?: number;
  /** Acquisitions in all; default 2,000 (PODNET_BENCH_N). */
  total?: number;
  /** Store connections shared by the clients; default 1. */
  connections?: number;
}

const TTL = 24 * 60 * 60;

export async function acquireBench(opts: AcquireBenchOptions = {}): Promise<Figure[]> {
  const clients = opts.clients ?? Number(process.env["PODNET_BENCH_C"] ?? 32);
  const total = opts.total ?? Number(process.env["PODNET_BENCH_N"] ?? 2000);
  const connections = opts.connections ?? 1;
  const { network, range } = slash8();
  const cluster: EtcdCluster = await freshEtcd();
  const stores: Store[] = [];
  try {
    for (let i = 0; i < connections; i++) stores.push(await storeOf(cluster));
    const storeFor = (i: number): Store => stores[i % stores.length] as Store;
    const order = shuffled(65_535, 7);
    const keyOf = (p: string, i: number): string =>
      leaseKey(p, subnetOf(range, order[i % order.length] ?? 0));

    // Warm up the connection and etcd a little (not measured).
    await pool(200, clients, async (i) => {
      await storeFor(i).txn(
        [{ key: keyOf("/warm", i), modRevision: 0 }],
        [{ put: keyOf("/warm", i), value: "x" }],
      );
    });

    // Raw etcd, txn only: one create-if-absent per distinct key.
    let t0 = now();
    await pool(total, clients, async (i) => {
      const key = keyOf("/raw-txn", i);
      const res = await storeFor(i).txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(i) }]);
      if (!res.succeeded) throw new Error(`raw txn lost on ${key}`);
    });
    const txnOnly = total / ((now() - t0) / 1000);

    // Raw etcd, grant + txn: what flannel's create does for each lease.
    t0 = now();
    await pool(total, clients, async (i) => {
      const key = keyOf("/raw-grant", i);
      const store = storeFor(i);
      const lease = await store.grant(TTL);
      const res = await store.txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(i), lease }]);
      if (!res.succeeded) throw new Error(`raw txn lost on ${key}`);
    });
    const grantTxn = total / ((now() - t0) / 1000);

    // podnet, three ways, each under its own prefix so each starts from an empty network:
    //  - one-shot: a fresh LeaseRegistry per acquisition, as `podnet lease acquire` runs (each lists);
    //  - shared: one registry per connection, concurrent acquires sharing listings;
    //  - cached: one registry per connection with the watch-fed cache (a long-running agent).
    const runPodnet = async (
      prefix: string,
      make: (s: Store) => LeaseRegistry,
      perAcquire: boolean,
    ): Promise<{ rate: number; attempts: number }> => {
      const registries = stores.map(make);
      for (const r of registries) if (!perAcquire) await r.list(); // connect/warm, not measured
      let attempts = 0;
      const start = now();
      await pool(total, clients, async (i) => {
        const reg = perAcquire ? make(storeFor(i)) : (registries[i % registries.length] as LeaseRegistry);
        const got = await reg.acquire({ network, attrs: attrsOf(i) });
        if (got.outcome !== "new") throw new Error(`acquire ${i} was ${got.outcome}, not new`);
        attempts += got.attempts;
      });
      const rate = total / ((now() - start) / 1000);
      const check = new LeaseRegistry(storeFor(0), { prefix });
      const listing = await check.list();
      if (listing.leases.length !== total) {
        throw new Error(`expected ${total} leases under ${prefix}, found ${listing.leases.length}`);
      }
      for (const r of registries) await r.stopCache();
      return { rate, attempts: attempts / total };
    };
    const oneShot = await runPodnet(
      `${PREFIX}-oneshot`,
      (s) => new LeaseRegistry(s, { prefix: `${PREFIX}-oneshot`, ttlSeconds: TTL }),
      true,
    );
    const shared = await runPodnet(
      PREFIX,
      (s) => new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL }),
      false,
    );
    const cached = await runPodnet(
      `${PREFIX}-cached`,
      (s) => new LeaseRegistry(s, { prefix: `${PREFIX}-cached`, ttlSeconds: TTL, cache: true }),
      false,
    );
    const base = `C=${clients}, N=${total}, ${connections} connection(s); ratio = podnet/baseline rate`;
    const rows: [string, { rate: number; attempts: number }][] = [
      ["one-shot: fresh registry per acquire, as `podnet lease acquire`", oneShot],
      ["long-running: one registry, shared listings", shared],
      ["long-running: one registry with the lease cache", cached],
    ];
    return rows.flatMap(([label, got]) => [
      figure({
        bench: "acquire",
        what: `acquire throughput vs grant+txn (C=${clients}), ${label}`,
        podnet: got.rate,
        baseline: grantTxn,
        baselineName: "grant + create-if-absent txn",
        unit: "ops/s",
        ratio: got.rate / grantTxn,
        aim: ">= 0.8",
        note: `${base}; ${got.attempts.toFixed(2)} attempts/acquire; txn alone ${txnOnly.toFixed(0)} ops/s`,
      }),
    ]);
  } finally {
    for (const s of stores) s.close();
    await cluster.stop();
  }
}
