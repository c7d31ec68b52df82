/**
 * Growth: the time of one acquisition (a new host, a random free subnet) when 1,000, 10,000
 * and 60,000 subnets of 10.0.0.0/8 (SubnetLen 24) are already leased, against an empty
 * network. The leases are filled with raw transactions of 128 puts on a few shared etcd
 * leases, at random places in the range so the free space is as fragmented as in real life.
 * Beside it: raw grant + create-if-absent txn at the same level, to show what etcd itself costs.
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
    const registry = new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL });
    const shared = await Promise.all(Array.from({ length: 8 }, () => s.grant(TTL)));
    const order = shuffled(65_535, 99);
    let host = 0;
    let rawKey = 0;
    /** Keys the bench's own acquisitions hold (a raw fill put must not overwrite them). */
    const taken = new Set<string>();
    let leased = 0;
    const acquireOne = async (): Promise<void> => {
      const got = await registry.acquire({ network, attrs: attrsOf(host++) });
      if (got.outcome !== "new") throw new Error(`acquire was ${got.outcome}, not new`);
      taken.add(got.lease.key);
      leased++;
    };

    /** Median ms of `samples` single acquisitions, and of raw grant+txn, interleaved. */
    const measure = async (): Promise<{ acquire: number; raw: number }> => {
      const a: number[] = [];
      const r: number[] = [];
      for (let k = 0; k < samples; k++) {
        let t0 = now();
        await acquireOne();
        a.push(now() - t0);
        const key = leaseKey("/raw", subnetOf(range, rawKey++));
        t0 = now();
        const lease = await s.grant(TTL);
        await s.txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(rawKey), lease }]);
        r.push(now() - t0);
      }
      return { acquire: median(a), raw: median(r) };
    };

    // A few warm-up acquisitions, then the empty-network figure (the bench leases stay: ≤ 30 per level).
    for (let k = 0; k < 5; k++) await acquireOne();
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
      process.stderr.write(`  growth: filled to ${level} in ${((now() - t0) / 1000).toFixed(1)} s\n`);
      let got: { acquire: number; raw: number } | undefined;
      let failure = "";
      try {
        got = await measure();
      } catch (err) {
        failure = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(`  growth: ${level}: ${failure}\n`);
      }
      figures.push(
        figure({
          bench: "growth",
          what: `one acquisition with ${level.toLocaleString("en")} leased`,
          podnet: got?.acquire ?? Number.NaN,
          baseline: empty.acquire,
          baselineName: "same on an empty network",
          unit: "ms",
          aim: level >= 60_000 ? "<= 2x" : "-",
          note:
            got !== undefined
              ? `median of ${samples}; raw grant+txn ${got.raw.toFixed(2)} ms here, ${empty.raw.toFixed(2)} ms empty`
              : failure,
        }),
      );
    }
    return figures;
  } finally {
    store?.close();
    await cluster.stop();
  }
}
