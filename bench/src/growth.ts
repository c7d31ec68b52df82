/**
 * Growth: the time of one acquisition (a new host, a random free subnet) on an empty network
 * and with 1,000, 10,000 and 60,000 subnets of 10.0.0.0/8 (SubnetLen 24) already leased
 * (PODNET_BENCH_GROWTH; quick mode stops at 10,000), each sample paired with raw grant +
 * create-if-absent txn at the same level. The leases are filled with raw transactions of 128
 * puts on a few shared etcd leases, at random places so the free space is fragmented as in
 * real life. Three callers: a long-running registry without the lease cache, one with it, and
 * one-shot (a fresh registry per acquisition, as `podnet lease acquire`). Flat means the ratio
 * at 60,000 is at most twice the ratio on the empty network.
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
import { alternate, type Figure, figure, pairedOf, QUICK } from "./measure.js";

const TTL = 24 * 60 * 60;
/** Acquisitions per sample (their mean), so one sample is more than one round trip. */
const PER_SAMPLE = 3;

export async function growthBench(
  levels: readonly number[] = (
    process.env["PODNET_BENCH_GROWTH"] ?? (QUICK ? "0,1000,10000" : "0,1000,10000,60000")
  )
    .split(",")
    .map(Number),
): Promise<Figure[]> {
  const { network, range } = slash8();
  const cluster = await freshEtcd();
  let store: Store | undefined;
  try {
    store = await storeOf(cluster);
    const s = store;
    const uncached = new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL });
    const cached = new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL, cache: true });
    await cached.startCache();
    const shared = await Promise.all(Array.from({ length: 8 }, () => s.grant(TTL)));
    const order = shuffled(65_535, 99);
    let host = 0;
    let rawKey = 0;
    /** Keys the bench's own acquisitions hold (a raw fill put must not overwrite them). */
    const taken = new Set<string>();
    let leased = 0;
    const acquireWith = (make: () => LeaseRegistry) => async (): Promise<number> => {
      const t0 = now();
      for (let k = 0; k < PER_SAMPLE; k++) {
        const got = await make().acquire({ network, attrs: attrsOf(host++) });
        if (got.outcome !== "new") throw new Error(`acquire was ${got.outcome}, not new`);
        taken.add(got.lease.key);
        leased++;
      }
      return (now() - t0) / PER_SAMPLE;
    };
    const raw = async (): Promise<number> => {
      const t0 = now();
      for (let k = 0; k < PER_SAMPLE; k++) {
        const key = leaseKey("/raw", subnetOf(range, rawKey++));
        const lease = await s.grant(TTL);
        await s.txn([{ key, modRevision: 0 }], [{ put: key, value: leaseValueOf(rawKey), lease }]);
      }
      return (now() - t0) / PER_SAMPLE;
    };
    const callers = [
      ["long-running registry without the lease cache", acquireWith(() => uncached), "<= 2x of empty"],
      ["long-running registry with the lease cache", acquireWith(() => cached), "-"],
      [
        "one-shot (fresh registry, lists; as `podnet lease acquire`)",
        acquireWith(() => new LeaseRegistry(s, { prefix: PREFIX, ttlSeconds: TTL })),
        "-",
      ],
    ] as const;
    const figures: Figure[] = [];
    let filled = 0;
    for (const level of levels) {
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
      for (const [label, run, aim] of callers) {
        const got = await alternate(run, raw);
        figures.push(
          figure({
            bench: "growth",
            what: `one acquisition with ${level.toLocaleString("en")} leased, ${label}`,
            paired: pairedOf(got.podnet, got.baseline),
            baselineName: "raw grant + txn at the same level",
            unit: "ms",
            aim,
            note: `mean of ${PER_SAMPLE} acquisitions per sample`,
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
