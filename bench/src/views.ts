/**
 * The read-only views (issue 4) over 65,000 leases: `podnet route -o json`, `podnet ipam show`
 * and `podnet ipam check`, each a whole process with its output to /dev/null, against
 * `etcdctl get --prefix .../subnets/ -w json` of the same keys, interleaved in the same run;
 * wall time (median) and peak RSS (max over the rounds, from /usr/bin/time or a preload).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { subnetsPrefix } from "@podnet/ipam-core";
import { ETCDCTL_BIN } from "@podnet/test-harness/etcd";
import { copyBundle } from "./bundle-copy.js";
import { fill, freshEtcd, now, PREFIX, shuffled, slash8, storeOf } from "./etcd-common.js";
import { type Figure, figure, median } from "./measure.js";

const hook = new URL("./rss-hook.js", import.meta.url).href;
const TIME = "/usr/bin/time";
const CONFIG = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';

interface Run {
  ms: number;
  rssKb: number;
  code: number;
}

/** Runs argv with stdout to /dev/null; wall ms, peak RSS and the exit code (0, or one of `okCodes`). */
function runMeasured(argv: readonly string[], env: NodeJS.ProcessEnv, okCodes: readonly number[]): Run {
  const full = existsSync(TIME) ? [TIME, "-f", "PODNET_MAXRSS_KB=%M", ...argv] : [...argv];
  const [cmd, ...args] = full;
  const t0 = now();
  const r = spawnSync(cmd ?? "", args, { env, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 30 });
  const ms = now() - t0;
  const stderr = r.stderr?.toString() ?? "";
  const code = r.status ?? -1;
  if (code !== 0 && !okCodes.includes(code)) {
    const why = stderr
      .replace(/PODNET_MAXRSS_KB=\d+/, "")
      .replace(/Command exited with non-zero status \d+/, "")
      .trim()
      .split("\n")
      .slice(-3)
      .join(" | ");
    throw new Error(`exited ${code}: ${why.slice(0, 200)}`);
  }
  const m = /PODNET_MAXRSS_KB=(\d+)/.exec(stderr);
  return { ms, rssKb: m ? Number(m[1]) : Number.NaN, code };
}

type Name = "etcdctl" | "route" | "ipamShow" | "ipamCheck";

export async function viewsBench(
  count = Number(process.env["PODNET_BENCH_VIEWS_N"] ?? 65_000),
  rounds = Number(process.env["PODNET_BENCH_ROUNDS"] ?? 5),
  etcdLeaseCount = 16,
): Promise<Figure[]> {
  const { range } = slash8();
  const copy = await copyBundle("podnet-bench-views-");
  const cluster = await freshEtcd();
  try {
    const endpoint = cluster.endpoints[0] ?? "";
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      ETCDCTL_API: "3",
    };
    const node = process.execPath;
    const nodeArgs = existsSync(TIME) ? [] : ["--import", hook];
    const podnet = (...args: string[]): string[] => [
      node,
      ...nodeArgs,
      copy.bin,
      "--endpoints",
      endpoint,
      "--prefix",
      PREFIX,
      "--command-timeout",
      "60s",
      ...args,
    ];
    await writeFile(join(copy.dir, "network.json"), CONFIG);
    const [setCmd, ...setArgs] = podnet("config", "set", join(copy.dir, "network.json"));
    const set = spawnSync(setCmd ?? "", setArgs, { env, encoding: "utf8" });
    if (set.status !== 0) throw new Error(`podnet config set failed: ${set.stderr}`);

    const store = await storeOf(cluster);
    const leases = await Promise.all(Array.from({ length: etcdLeaseCount }, () => store.grant(24 * 60 * 60)));
    const t0 = now();
    await fill(store, range, shuffled(65_535, 3).slice(0, count), { etcdLeases: leases });
    store.close();
    process.stderr.write(
      `  views: filled ${count} leases on ${etcdLeaseCount} etcd leases in ${((now() - t0) / 1000).toFixed(1)} s\n`,
    );

    const commands: Record<Name, { argv: string[]; ok: number[] }> = {
      etcdctl: {
        argv: [
          ETCDCTL_BIN,
          `--endpoints=${endpoint}`,
          "--command-timeout=60s",
          "get",
          "--prefix",
          subnetsPrefix(PREFIX),
          "-w",
          "json",
        ],
        ok: [],
      },
      route: { argv: podnet("route", "-o", "json"), ok: [] },
      ipamShow: { argv: podnet("ipam", "show"), ok: [] },
      // `ipam check` exits 1 when it finds a problem; the fill should give it none.
      ipamCheck: { argv: podnet("ipam", "check"), ok: [1] },
    };
    const samples: Record<Name, Run[]> = { etcdctl: [], route: [], ipamShow: [], ipamCheck: [] };
    const failed: Partial<Record<Name, string>> = {};
    for (let round = -1; round < rounds; round++) {
      for (const name of Object.keys(commands) as Name[]) {
        if (failed[name] !== undefined) continue;
        try {
          const run = runMeasured(commands[name].argv, env, commands[name].ok);
          if (round >= 0) samples[name].push(run);
        } catch (err) {
          failed[name] = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
          process.stderr.write(`  views: ${name}: ${failed[name]}\n`);
        }
      }
    }
    const ms = (k: Name): number =>
      samples[k].length > 0 ? median(samples[k].map((s) => s.ms)) : Number.NaN;
    const mb = (k: Name): number =>
      samples[k].length > 0 ? Math.max(...samples[k].map((s) => s.rssKb)) / 1024 : Number.NaN;
    const n = count.toLocaleString("en");
    const base = "etcdctl get --prefix -w json";
    const what: Record<Exclude<Name, "etcdctl">, string> = {
      route: "podnet route -o json",
      ipamShow: "podnet ipam show",
      ipamCheck: "podnet ipam check",
    };
    const figures: Figure[] = [];
    for (const k of ["route", "ipamShow", "ipamCheck"] as const) {
      const exit1 = samples[k].some((s) => s.code === 1) ? "; exited 1 (found problems)" : "";
      figures.push(
        figure({
          bench: "views",
          what: `${what[k]}, ${n} leases`,
          podnet: ms(k),
          baseline: ms("etcdctl"),
          baselineName: base,
          unit: "ms",
          aim: "<= 1.5x",
          note: failed[k] ?? `whole processes, output to /dev/null; median of ${rounds}${exit1}`,
        }),
        figure({
          bench: "views",
          what: `peak RSS, ${what[k]}, ${n} leases`,
          podnet: mb(k),
          baseline: mb("etcdctl"),
          baselineName: base,
          unit: "MB",
          aim: "< 150 MB",
          note: failed[k] ?? `max of ${rounds}`,
        }),
      );
    }
    return figures;
  } finally {
    await cluster.stop();
    await copy.remove();
  }
}
