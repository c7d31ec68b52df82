/**
 * Throughput: C concurrent clients acquiring into 10.0.0.0/8 with SubnetLen 24, each with its
 * own PublicIP, against raw etcd doing the same creates with the same client and concurrency:
 * one create-if-absent transaction per key ("txn only"), and a grant plus that transaction
 * ("grant+txn", the etcd work of flannel's create and of podnet's). Each side runs under its
 * own prefix of one fresh etcd.
 */
import { LeaseRegistry, leaseKey, type Store } from "@podnet/ipam-core";
import type { EtcdCluster } from "../../test/harness/etcd.js";
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

    // podnet: LeaseRegistry.acquire, each client with its own PublicIP, under the flannel prefix.
    const registries = stores.map((s) => new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL }));
    let attempts = 0;
    t0 = now();
    await pool(total, clients, async (i) => {
      const reg = registries[i % registries.length] as LeaseRegistry;
      const got = await reg.acquire({ network, attrs: attrsOf(i) });
      if (got.outcome !== "new") throw new Error(`acquire ${i} was ${got.outcome}, not new`);
      attempts += got.attempts;
    });
    const podnet = total / ((now() - t0) / 1000);
    const listing = await registries[0]?.list();
    if (listing?.leases.length !== total) {
      throw new Error(`expected ${total} leases after the run, found ${listing?.leases.length}`);
    }
    const note = `C=${clients}, N=${total}, ${connections} connection(s); ${(attempts / total).toFixed(2)} attempts/acquire; ratio = baseline/podnet time`;
    return [
      figure({
        bench: "acquire",
        what: `acquire throughput vs txn only (C=${clients})`,
        podnet,
        baseline: txnOnly,
        baselineName: "create-if-absent txn",
        unit: "ops/s",
        ratio: podnet / txnOnly,
        aim: ">= 0.8",
        note,
      }),
      figure({
        bench: "acquire",
        what: `acquire throughput vs grant+txn (C=${clients})`,
        podnet,
        baseline: grantTxn,
        baselineName: "grant + create-if-absent txn",
        unit: "ops/s",
        ratio: podnet / grantTxn,
        aim: ">= 0.8",
        note,
      }),
    ];
  } finally {
    for (const s of stores) s.close();
    await cluster.stop();
  }
}
