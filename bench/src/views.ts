/**
 * The read-only views over 65,000 leases (PODNET_BENCH_VIEWS_N; 20,000 in quick mode): each
 * a whole process with its output to /dev/null, paired run by run (A B A B ...) with
 * `etcdctl get --prefix .../subnets/ -w json` of the same keys: wall time and peak RSS. Then
 * the empty-network `ipam show` beside `etcdctl get` on an empty prefix, and a one-shot
 * `podnet lease acquire` beside `etcdctl put`. Then the views over the leases again on the
 * other Node lines users run (PODNET_BENCH_NODES, default "24 26"; "" for none; installed by
 * scripts/node-version.sh when missing), for their peak RSS: node's own pages differ by line.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { subnetsPrefix } from "@podnet/ipam-core";
import { ETCDCTL_BIN } from "@podnet/test-harness/etcd";
import { copyBundle } from "./bundle-copy.js";
import { fill, freshEtcd, now, PREFIX, publicIPOf, shuffled, slash8, storeOf } from "./etcd-common.js";
import { alternate, type Figure, failedFigure, figure, pairedOf, QUICK } from "./measure.js";

const hook = new URL("./rss-hook.js", import.meta.url).href;
const TIME = "/usr/bin/time";
const CONFIG = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';

interface Run {
  ms: number;
  rssKb: number;
}

/** Runs argv with stdout to /dev/null; wall ms and peak RSS; throws unless it exits 0 or one of `okCodes`. */
function runMeasured(argv: readonly string[], env: NodeJS.ProcessEnv, okCodes: readonly number[] = []): Run {
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
  return { ms, rssKb: m ? Number(m[1]) : Number.NaN };
}

export async function viewsBench(
  count = Number(process.env["PODNET_BENCH_VIEWS_N"] ?? (QUICK ? 20_000 : 65_000)),
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
    const nodeArgs = existsSync(TIME) ? [] : ["--import", hook];
    const podnetOn = (node: string, prefix: string, ...args: string[]): string[] => [
      node,
      ...nodeArgs,
      copy.bin,
      "--endpoints",
      endpoint,
      "--prefix",
      prefix,
      "--command-timeout",
      "60s",
      ...args,
    ];
    const podnetIn = (prefix: string, ...args: string[]): string[] =>
      podnetOn(process.execPath, prefix, ...args);
    const podnet = (...args: string[]): string[] => podnetIn(PREFIX, ...args);
    const etcdctl = (...args: string[]): string[] => [
      ETCDCTL_BIN,
      `--endpoints=${endpoint}`,
      "--command-timeout=60s",
      ...args,
    ];
    await writeFile(join(copy.dir, "network.json"), CONFIG);
    for (const prefix of [PREFIX, "/empty/network"]) {
      const [setCmd, ...setArgs] = podnetIn(prefix, "config", "set", join(copy.dir, "network.json"));
      const set = spawnSync(setCmd ?? "", setArgs, { env, encoding: "utf8" });
      if (set.status !== 0) throw new Error(`podnet config set failed: ${set.stderr}`);
    }

    const store = await storeOf(cluster);
    const leases = await Promise.all(Array.from({ length: etcdLeaseCount }, () => store.grant(24 * 60 * 60)));
    const t0 = now();
    await fill(store, range, shuffled(65_535, 3).slice(0, count), { etcdLeases: leases });
    store.close();
    process.stderr.write(
      `  views: filled ${count} leases on ${etcdLeaseCount} etcd leases in ${((now() - t0) / 1000).toFixed(1)} s\n`,
    );
    const n = count.toLocaleString("en");
    const figures: Figure[] = [];
    const compare = async (
      what: string,
      mine: readonly string[] | (() => readonly string[]),
      base: readonly string[],
      baseName: string,
      aim: { ms: string; rss?: string },
      okCodes: readonly number[] = [],
    ): Promise<void> => {
      const rssMine: number[] = [];
      const rssBase: number[] = [];
      try {
        const got = await alternate(
          () => {
            const r = runMeasured(typeof mine === "function" ? mine() : mine, env, okCodes);
            rssMine.push(r.rssKb / 1024);
            return r.ms;
          },
          () => {
            const r = runMeasured(base, env);
            rssBase.push(r.rssKb / 1024);
            return r.ms;
          },
        );
        figures.push(
          figure({
            bench: "views",
            what,
            paired: pairedOf(got.podnet, got.baseline),
            baselineName: baseName,
            unit: "ms",
            aim: aim.ms,
          }),
        );
        if (aim.rss !== undefined) {
          figures.push(
            figure({
              bench: "views",
              what: `peak RSS, ${what}`,
              // The first sample of each is the warm-up pair's.
              paired: pairedOf(rssMine.slice(1), rssBase.slice(1)),
              baselineName: baseName,
              unit: "MB",
              aim: aim.rss,
              note: `largest podnet peak of all runs: ${Math.max(...rssMine).toFixed(0)} MB`,
            }),
          );
        }
      } catch (err) {
        const note = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(`  views: ${what}: ${note}\n`);
        figures.push(
          failedFigure({ bench: "views", what, baselineName: baseName, unit: "ms", aim: aim.ms, note }),
        );
      }
    };
    const json = etcdctl("get", "--prefix", subnetsPrefix(PREFIX), "-w", "json");
    const jsonName = "etcdctl get --prefix -w json";
    const summary = { ms: "<= 1.0x", rss: "<= 100 MB" };
    const listing = { ms: "<= 1.5x", rss: "<= 100 MB" };
    // `ipam check` exits 1 when it finds a problem; the fill should give it none.
    const views: [string, string[], { ms: string; rss: string }, number[]][] = [
      ["ipam show", ["ipam", "show"], summary, []],
      ["ipam check", ["ipam", "check"], summary, [1]],
      ["ipam show --map", ["ipam", "show", "--map"], summary, []],
      ["route", ["route"], listing, []],
      ["route -o json", ["route", "-o", "json"], listing, []],
      ["lease list -o json", ["lease", "list", "-o", "json"], listing, []],
    ];
    for (const [name, args, aim, ok] of views) {
      await compare(`podnet ${name}, ${n} leases`, podnet(...args), json, jsonName, aim, ok);
    }
    const emptyGet = etcdctl("get", "--prefix", subnetsPrefix("/empty/network"));
    await compare(
      "podnet ipam show, empty network",
      podnetIn("/empty/network", "ipam", "show"),
      emptyGet,
      "etcdctl get --prefix (empty)",
      { ms: "<= 8x" },
    );
    let host = 0;
    await compare(
      "one-shot podnet lease acquire, empty network",
      () =>
        podnetIn(
          "/empty/network",
          "lease",
          "acquire",
          "--public-ip",
          publicIPOf(900_000 + host++),
          "--no-vtep-mac",
        ),
      etcdctl("put", "/bench/put", "x"),
      "etcdctl put",
      { ms: "<= 8x" },
    );
    for (const major of (process.env["PODNET_BENCH_NODES"] ?? "24 26").split(/\s+/).filter(Boolean)) {
      const found = spawnSync("bash", [nodeVersionScript, major], { encoding: "utf8" });
      const node = found.stdout.trim();
      if (found.status !== 0 || node === "") {
        process.stderr.write(`  views: no Node ${major}: ${found.stderr.trim()}\n`);
        continue;
      }
      const version = spawnSync(node, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout.trim();
      for (const [name, args, aim, ok] of views) {
        await compare(
          `podnet ${name}, ${n} leases, on Node ${version}`,
          podnetOn(node, PREFIX, ...args),
          json,
          jsonName,
          { ms: "-", rss: aim.rss },
          ok,
        );
      }
    }
    return figures;
  } finally {
    await cluster.stop();
    await copy.remove();
  }
}

/** scripts/node-version.sh: a Node binary of a major version, installed into a cache when missing. */
const nodeVersionScript = fileURLToPath(new URL("../../../../scripts/node-version.sh", import.meta.url));
