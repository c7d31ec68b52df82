/**
 * Listing: LeaseRegistry.list() (in a child process, timed around the call) paired run by run
 * with `etcdctl get --prefix` of the same keys (the whole process, output to /dev/null), at
 * 20,000 and 65,000 leases (PODNET_BENCH_LIST_N; 20,000 only in quick mode), and the child's peak RSS.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { subnetsPrefix } from "@podnet/ipam-core";
import { ETCDCTL_BIN } from "@podnet/test-harness/etcd";
import { fill, freshEtcd, now, PREFIX, shuffled, slash8, storeOf } from "./etcd-common.js";
import { alternate, type Figure, failedFigure, figure, pairedOf, QUICK, timeCommand } from "./measure.js";

const child = fileURLToPath(new URL("./list-child.js", import.meta.url));

export async function listBench(
  levels: readonly number[] = (process.env["PODNET_BENCH_LIST_N"] ?? (QUICK ? "20000" : "20000,65000"))
    .split(",")
    .map(Number),
  etcdLeaseCount = Number(process.env["PODNET_BENCH_LIST_ETCD_LEASES"] ?? 16),
): Promise<Figure[]> {
  const { range } = slash8();
  const cluster = await freshEtcd();
  const order = shuffled(65_535, 3);
  const figures: Figure[] = [];
  try {
    const store = await storeOf(cluster);
    const leases = await Promise.all(Array.from({ length: etcdLeaseCount }, () => store.grant(24 * 60 * 60)));
    const endpoint = cluster.endpoints[0] ?? "";
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      ETCDCTL_API: "3",
    };
    const etcdctl = [
      ETCDCTL_BIN,
      `--endpoints=${endpoint}`,
      "--command-timeout=60s",
      "get",
      "--prefix",
      subnetsPrefix(PREFIX),
    ];
    let filled = 0;
    for (const count of levels) {
      const t0 = now();
      await fill(store, range, order.slice(filled, count), {
        etcdLeases: leases,
        hostBase: 100_000 + filled,
      });
      filled = Math.max(filled, count);
      process.stderr.write(`  list: filled to ${count} leases in ${((now() - t0) / 1000).toFixed(1)} s\n`);
      const n = count.toLocaleString("en");
      const rss: number[] = [];
      const what = `LeaseRegistry.list() of ${n} leases`;
      try {
        const got = await alternate(
          () => {
            const r = spawnSync(process.execPath, [child, endpoint, PREFIX], {
              env,
              encoding: "utf8",
              maxBuffer: 1 << 26,
            });
            if (r.status !== 0)
              throw new Error(`list-child exited ${r.status}: ${r.stderr.trim().slice(-200)}`);
            const out = JSON.parse(r.stdout) as { ms: number; leases: number; maxRssKb: number };
            if (out.leases !== count)
              throw new Error(`LeaseRegistry.list() saw ${out.leases} leases, not ${count}`);
            rss.push(out.maxRssKb / 1024);
            return out.ms;
          },
          () => timeCommand(etcdctl, env),
        );
        figures.push(
          figure({
            bench: "list",
            what,
            paired: pairedOf(got.podnet, got.baseline),
            baselineName: "etcdctl get --prefix",
            unit: "ms",
            aim: count >= 65_000 ? "<= 1.5x" : "-",
            note: `in-process call time vs etcdctl's whole process; child peak RSS up to ${Math.max(...rss).toFixed(0)} MB`,
          }),
        );
      } catch (err) {
        const note = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(`  list: ${note}\n`);
        figures.push(
          failedFigure({
            bench: "list",
            what,
            baselineName: "etcdctl get --prefix",
            unit: "ms",
            aim: "-",
            note,
          }),
        );
      }
    }
    store.close();
    return figures;
  } finally {
    await cluster.stop();
  }
}
