/**
 * Listing 65,000 leases: LeaseRegistry.list() (in a child process, timed around the call) and
 * `podnet lease list -o json` (the whole process) against `etcdctl get --prefix` on the same
 * keys (the whole process, output to /dev/null), interleaved; plus the peak RSS of each.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { subnetsPrefix } from "@podnet/ipam-core";
import { ETCDCTL_BIN } from "@podnet/test-harness/etcd";
import { fill, freshEtcd, now, PREFIX, shuffled, slash8, storeOf } from "./etcd-common.js";
import { type Figure, figure, median } from "./measure.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const podnet = `${root}packages/cli/bundle/podnet.js`;
const child = fileURLToPath(new URL("./list-child.js", import.meta.url));
const hook = new URL("./rss-hook.js", import.meta.url).href;
const TIME = "/usr/bin/time";

interface Run {
  ms: number;
  rssKb: number;
  stdout: string;
}

/** Runs argv with stdout captured (or sent to /dev/null) and returns wall ms and peak RSS. */
function runMeasured(argv: readonly string[], env: NodeJS.ProcessEnv, keepStdout: boolean): Run {
  const useTime = existsSync(TIME);
  const full = useTime ? [TIME, "-f", "PODNET_MAXRSS_KB=%M", ...argv] : [...argv];
  const [cmd, ...args] = full;
  const t0 = now();
  const r = spawnSync(cmd ?? "", args, {
    env,
    stdio: ["ignore", keepStdout ? "pipe" : "ignore", "pipe"],
    maxBuffer: 1 << 30,
  });
  const ms = now() - t0;
  const stderr = r.stderr?.toString() ?? "";
  if (r.status !== 0) {
    const lines = stderr
      .replace(/PODNET_MAXRSS_KB=\d+/, "")
      .replace(/Command exited with non-zero status \d+/, "")
      .trim()
      .split("\n");
    const why =
      lines.find((l) => /RESOURCE_EXHAUSTED/.test(l)) ??
      lines.find((l) => /^(podnet|list-child)\b|Error:/.test(l.trim())) ??
      lines.slice(-1)[0] ??
      "";
    throw new Error(`${argv.join(" ")} exited ${r.status}: ${why}`);
  }
  const m = /PODNET_MAXRSS_KB=(\d+)/.exec(stderr);
  return { ms, rssKb: m ? Number(m[1]) : Number.NaN, stdout: keepStdout ? (r.stdout?.toString() ?? "") : "" };
}

type Name = "etcdctl" | "registry" | "cli";

export async function listBench(
  levels: readonly number[] = (process.env["PODNET_BENCH_LIST_N"] ?? "20000,65000").split(",").map(Number),
  rounds = Number(process.env["PODNET_BENCH_ROUNDS"] ?? 5),
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
    const node = process.execPath;
    const nodeArgs = existsSync(TIME) ? [] : ["--import", hook];
    const commands: Record<Name, string[]> = {
      etcdctl: [
        ETCDCTL_BIN,
        `--endpoints=${endpoint}`,
        "--command-timeout=60s",
        "get",
        "--prefix",
        subnetsPrefix(PREFIX),
      ],
      registry: [node, ...nodeArgs, child, endpoint, PREFIX],
      cli: [
        node,
        ...nodeArgs,
        podnet,
        "--endpoints",
        endpoint,
        "--prefix",
        PREFIX,
        "--command-timeout",
        "60s",
        "lease",
        "list",
        "-o",
        "json",
      ],
    };
    let filled = 0;
    for (const count of levels) {
      const t0 = now();
      await fill(store, range, order.slice(filled, count), {
        etcdLeases: leases,
        hostBase: 100_000 + filled,
      });
      filled = Math.max(filled, count);
      process.stderr.write(
        `  list: filled to ${count} leases on ${etcdLeaseCount} etcd leases in ${((now() - t0) / 1000).toFixed(1)} s\n`,
      );
      const samples: Record<Name, Run[]> = { etcdctl: [], registry: [], cli: [] };
      const failed: Partial<Record<Name, string>> = {};
      // One untimed round first warms the page cache and etcd; a command that fails is not run again.
      for (let round = -1; round < rounds; round++) {
        for (const name of Object.keys(commands) as Name[]) {
          if (failed[name] !== undefined) continue;
          try {
            const run = runMeasured(commands[name], env, name === "registry");
            if (name === "registry") {
              const got = JSON.parse(run.stdout) as { ms: number; leases: number; maxRssKb: number };
              if (got.leases !== count)
                throw new Error(`LeaseRegistry.list() saw ${got.leases} leases, not ${count}`);
              run.ms = got.ms;
              if (Number.isNaN(run.rssKb)) run.rssKb = got.maxRssKb;
            }
            if (round >= 0) samples[name].push(run);
          } catch (err) {
            const msg = err instanceof Error ? err.message : String(err);
            const reason = /RESOURCE_EXHAUSTED[^\n]*/.exec(msg)?.[0] ?? msg.replace(/^.* exited /, "exited ");
            failed[name] = `FAILED: ${reason.slice(0, 160)}`;
            process.stderr.write(`  list: ${name} at ${count}: ${failed[name]}\n`);
          }
        }
      }
      const ms = (k: Name): number =>
        samples[k].length > 0 ? median(samples[k].map((s) => s.ms)) : Number.NaN;
      const mb = (k: Name): number =>
        samples[k].length > 0 ? Math.max(...samples[k].map((s) => s.rssKb)) / 1024 : Number.NaN;
      const n = count.toLocaleString("en");
      const aimed = count >= 65_000;
      figures.push(
        figure({
          bench: "list",
          what: `LeaseRegistry.list() of ${n} leases`,
          podnet: ms("registry"),
          baseline: ms("etcdctl"),
          baselineName: "etcdctl get --prefix",
          unit: "ms",
          aim: aimed ? "<= 1.5x" : "-",
          note: failed.registry ?? `in-process call time vs etcdctl's whole process; median of ${rounds}`,
        }),
        figure({
          bench: "list",
          what: `podnet lease list -o json, ${n} leases`,
          podnet: ms("cli"),
          baseline: ms("etcdctl"),
          baselineName: "etcdctl get --prefix",
          unit: "ms",
          aim: aimed ? "<= 1.5x" : "-",
          note:
            failed.cli ??
            `both whole processes, output to /dev/null; ${etcdLeaseCount} distinct etcd leases; median of ${rounds}`,
        }),
        figure({
          bench: "list",
          what: `peak RSS, podnet lease list -o json, ${n} leases`,
          podnet: mb("cli"),
          baseline: mb("etcdctl"),
          baselineName: "etcdctl get --prefix",
          unit: "MB",
          aim: aimed ? "< 150 MB" : "-",
          note: failed.cli ?? `LeaseRegistry.list() child process: ${mb("registry").toFixed(0)} MB`,
        }),
      );
    }
    store.close();
    return figures;
  } finally {
    await cluster.stop();
  }
}
