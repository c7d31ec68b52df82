/**
 * Growth: the time of one acquisition (a new host, a random free subnet) when 1,000, 10,000
 * and 60,000 subnets of 10.0.0.0/8 (SubnetLen 24) are already leased, against an empty
 * network. The leases are filled with raw transactions of 128 puts on a few shared etcd
 * leases, at random places in the range so the free space is as fragmented as in real life.
 * Beside it: raw grant + create-if-absent txn at the same level, to show what etcd itself costs.
 * Two kinds of caller: one-shot (a fresh registry that lists, as `podnet lease acquire` does)
 * and long-running (one registry with the watch-fed lease cache, as a process acquiring often).
 */
import { LeaseRegistry, leaseKey, type Store } from "@podnet/ipam-core";
import {
  attrsOf,
  fill,
  freshEtcd,
  leaseValueOf,
  now,
  PREFIX,
  shuffled,
  slash8,
  storeOf,
  subnetOf,
} from "./etcd-common.js";
import { type Figure, figure, median } from "./measure.js";

const TTL = 24 * 60 * 60;

export async function growthBench(
  levels: readonly number[] = [1_000, 10_000, 20_000, 60_000],
  samples = Number(process.env["PODNET_BENCH_SAMPLES"] ?? 30),
): Promise<Figure[]> {
  const { network, range } = slash8();
  const cluster = await freshEtcd();
  let store: Store | undefined;
  try {
    store = await storeOf(cluster);
    const s = store;
    // One-shot: a fresh registry per acquisition, as `podnet lease acquire` does (it lists).
    // Long-running: one registry with the watch-fed lease cache, as a process acquiring many times.
    const oneShot = (): LeaseRegistry => new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL });
    const cached = new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL, cache: true });
    await cached.startCache();
    const shared = await Promise.all(Array.from({ length: 8 }, () => s.grant(TTL)));
    const order = shuffled(65_535, 99);
    let host = 0;
    let rawKey = 0;
    /** Keys the bench's own acquisitions hold (a raw fill put must not overwrite them). */
    const taken = new Set<string>();
    let leased = 0;
    const acquireOne = async (registry: LeaseRegistry): Promise<void> => {
      const got = await registry.acquire({ network, attrs: attrsOf(host++) });
      if (got.outcome !== "new") throw new Error(`acquire was ${got.outcome}, not new`);
      taken.add(got.lease.key);
      leased++;
    };
    /** Waits until the cache has seen every write made so far (after a fill). */
    const cacheCaughtUp = async (): Promise<void> => {
      const { revision } = await s.get(`${PREFIX}/subnets/`);
      const deadline = now() + 120_000;
      while (((await cached.cacheRevision()) ?? 0) < revision - 16 && now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    /** Median ms of `samples` single acquisitions of each kind, and of raw grant+txn, interleaved. */
    const measure = async (): Promise<{ oneShot: number; cached: number; raw: number }> => {
      const a: number[] = [];
      const c: number[] = [];
      const r: number[] = [];
      for (let k = 0; k < samples; k++) {
        let t0 = now();
        await acquireOne(oneShot());
        a.push(now() - t0);
        t0 = now();
        await acquireOne(cached);
        c.push(now() - t0);
        const key = leaseKey("/raw", subnetOf(range, rawKey++));
        t0 = now();
        const lease = await s.grant(TTL);
        await s.txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(rawKey), lease }]);
        r.push(now() - t0);
      }
      return { oneShot: median(a), cached: median(c), raw: median(r) };
    };

    // A few warm-up acquisitions, then the empty-network figures (the bench leases stay: ≤ 60 per level).
    for (let k = 0; k < 5; k++) {
      await acquireOne(oneShot());
      await acquireOne(cached);
    }
    const empty = await measure();
    const figures: Figure[] = [];
    let filled = 0;
    for (const level of levels) {
      // Fill up to `level` leases in all (counting the bench's own acquisitions so far).
      const want = Math.max(0, level - leased);
      const indices: number[] = [];
      while (indices.length < want && filled < order.length) {
        const idx = order[filled++] ?? 0;
        if (!taken.has(leaseKey(PREFIX, subnetOf(range, idx)))) indices.push(idx);
      }
      const t0 = now();
      await fill(s, range, indices, { hostBase: 1_000_000 + filled, etcdLeases: shared });
      leased += indices.length;
      await cacheCaughtUp();
      process.stderr.write(`  growth: filled to ${level} in ${((now() - t0) / 1000).toFixed(1)} s\n`);
      let got: { oneShot: number; cached: number; raw: number } | undefined;
      let failure = "";
      try {
        got = await measure();
      } catch (err) {
        failure = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(`  growth: ${level}: ${failure}\n`);
      }
      const note =
        got !== undefined
          ? `median of ${samples}; raw grant+txn ${got.raw.toFixed(2)} ms here, ${empty.raw.toFixed(2)} ms empty`
          : failure;
      for (const [label, mine, base] of [
        ["one-shot (fresh registry, lists; as `podnet lease acquire`)", got?.oneShot, empty.oneShot],
        ["long-running (registry with the lease cache)", got?.cached, empty.cached],
      ] as const) {
        figures.push(
          figure({
            bench: "growth",
            what: `one acquisition with ${level.toLocaleString("en")} leased, ${label}`,
            podnet: mine ?? Number.NaN,
            baseline: base,
            baselineName: "same on an empty network",
            unit: "ms",
            aim: level >= 60_000 ? "<= 2x" : "-",
            note,
          }),
        );
      }
    }
    await cached.stopCache();
    return figures;
  } finally {
    store?.close();
    await cluster.stop();
  }
}
