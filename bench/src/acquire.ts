/**
 * Throughput: C concurrent callers (1, 10 and 50; PODNET_BENCH_C) acquiring into 10.0.0.0/8
 * with SubnetLen 24, each a new host, paired batch by batch (A B A B ...) with raw etcd doing
 * the same work with the same client and concurrency: a grant plus a create-if-absent
 * transaction per key (the etcd work of flannel's create and of podnet's). podnet runs three
 * ways, each under its own prefix: one-shot (a fresh registry per acquisition, as
 * `podnet lease acquire`), one long-running registry without the lease cache, and one with it
 * (PODNET_BENCH_ACQUIRE_MODES picks some, e.g. `uncached` to profile that one alone).
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
import { alternate, type Figure, figure, pairedOf, QUICK } from "./measure.js";

const TTL = 24 * 60 * 60;

type Mode = "one-shot" | "uncached" | "cached";
const label: Record<Mode, string> = {
  "one-shot": "one-shot: fresh registry per acquire, as `podnet lease acquire`",
  uncached: "long-running registry without the lease cache",
  cached: "long-running registry with the lease cache",
};

export async function acquireBench(): Promise<Figure[]> {
  const levels = (process.env["PODNET_BENCH_C"] ?? "1,10,50").split(",").map(Number);
  const modes = (process.env["PODNET_BENCH_ACQUIRE_MODES"] ?? "uncached,cached,one-shot")
    .split(",")
    .filter((m): m is Mode => m in label);
  const { network, range } = slash8();
  const cluster: EtcdCluster = await freshEtcd();
  let store: Store | undefined;
  try {
    store = await storeOf(cluster);
    const s = store;
    const order = shuffled(65_535, 7);
    let rawNext = 0;
    let host = 0;
    // Warm up the connection and etcd a little (not measured).
    await pool(200, 10, async (i) => {
      const key = leaseKey("/warm", subnetOf(range, order[i] ?? 0));
      await s.txn([{ key, modRevision: 0 }], [{ put: key, value: "x" }]);
    });
    const figures: Figure[] = [];
    for (const clients of levels) {
      const batch = (QUICK ? 20 : 40) * Math.max(2, Math.min(10, clients));
      const raw = async (): Promise<number> => {
        const t0 = now();
        await pool(batch, clients, async () => {
          const i = rawNext++;
          const key = leaseKey(`/raw-${clients}`, subnetOf(range, order[i % order.length] ?? 0));
          const lease = await s.grant(TTL);
          const res = await s.txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(i), lease }]);
          if (!res.succeeded) throw new Error(`raw txn lost on ${key}`);
        });
        return batch / ((now() - t0) / 1000);
      };
      for (const mode of modes) {
        const prefix = `${PREFIX}-${mode}-${clients}`;
        const make = (): LeaseRegistry =>
          new LeaseRegistry(s, { prefix, ttlSeconds: TTL, cache: mode === "cached" });
        const shared = make();
        if (mode === "cached") await shared.startCache();
        let attempts = 0;
        let acquired = 0;
        const podnet = async (): Promise<number> => {
          const t0 = now();
          await pool(batch, clients, async () => {
            const reg = mode === "one-shot" ? make() : shared;
            const got = await reg.acquire({ network, attrs: attrsOf(host++) });
            if (got.outcome !== "new") throw new Error(`acquire was ${got.outcome}, not new`);
            attempts += got.attempts;
            acquired++;
          });
          return batch / ((now() - t0) / 1000);
        };
        const got = await alternate(podnet, raw);
        const listing = await new LeaseRegistry(s, { prefix }).list();
        if (listing.leases.length !== acquired)
          throw new Error(`expected ${acquired} leases under ${prefix}, found ${listing.leases.length}`);
        await shared.stopCache();
        figures.push(
          figure({
            bench: "acquire",
            what: `acquire rate vs grant+txn, C=${clients}, ${label[mode]}`,
            paired: pairedOf(got.podnet, got.baseline),
            baselineName: "grant + create-if-absent txn",
            unit: "ops/s",
            aim: mode === "uncached" ? ">= 0.8x" : "-",
            note: `batches of ${batch}; ${(attempts / acquired).toFixed(2)} attempts/acquire; ratio = podnet rate / raw rate (higher is better)`,
          }),
        );
      }
    }
    return figures;
  } finally {
    store?.close();
    await cluster.stop();
  }
}
