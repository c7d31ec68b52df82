/**
 * `podnet agent` speed (issue 5): from peer leases appearing in etcd to their routes being in
 * the kernel, for 1 peer and for 1,000 at once, and the agent's peak memory restarted with
 * ~1,000 peers, with 10,000, and restarted with 10,000.
 *
 * Everything runs in two throwaway network namespaces made here, joined by a veth pair: "a"
 * holds the underlay eth0 192.0.2.1/24, a fresh etcd on the namespace's own loopback, the agent (a copy of the
 * bundle) and the measuring process (./agent-inner.js, started with `ip netns exec`); "b" gets
 * eth0 192.0.2.2/24 and a hand-made flannel.1 for the baseline, the same entries applied
 * directly with `bridge -batch` + `ip -batch`. Nothing leaves the namespaces.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { copyBundle } from "./bundle-copy.js";
import type { Figure } from "./measure.js";

const inner = fileURLToPath(new URL("./agent-inner.js", import.meta.url));
const live = new Set<string>();

function ip(args: readonly string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
    throw new Error(`ip ${args.join(" ")}: ${stderr || String(err)}`);
  }
}

function dropNamespaces(): void {
  for (const ns of live) {
    try {
      ip(["netns", "del", ns]);
    } catch {
      // already gone
    }
    live.delete(ns);
  }
}
process.on("exit", dropNamespaces);

/**
 * Two namespaces joined by a veth pair: eth0 192.0.2.1/24 and 2001:db8::1/64 in the first,
 * 192.0.2.2/24 and 2001:db8::2/64 in the second (the IPv6 addresses for the dual-stack case).
 */
function makeNamespaces(nsA: string, nsB: string): void {
  for (const ns of [nsA, nsB]) {
    ip(["netns", "add", ns]);
    live.add(ns);
    ip(["-n", ns, "link", "set", "lo", "up"]);
  }
  ip(["-n", nsA, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nsB]);
  for (const [ns, addr] of [
    [nsA, "192.0.2.1/24"],
    [nsB, "192.0.2.2/24"],
  ] as const) {
    ip(["-n", ns, "addr", "add", addr, "dev", "eth0"]);
    ip([
      "-n",
      ns,
      "addr",
      "add",
      addr.replace(/^192\.0\.2\.(\d+)\/24$/, "2001:db8::$1/64"),
      "dev",
      "eth0",
      "nodad",
    ]);
    ip(["-n", ns, "link", "set", "eth0", "up"]);
  }
}

export async function agentBench(): Promise<Figure[]> {
  if (process.getuid?.() !== 0) throw new Error("the agent benchmark needs root (network namespaces)");
  const copy = await copyBundle("podnet-bench-agent-");
  const tag = randomBytes(3).toString("hex");
  const nsA = `pnb${tag}-a`;
  const nsB = `pnb${tag}-b`;
  try {
    makeNamespaces(nsA, nsB);
    const child = spawn("ip", ["netns", "exec", nsA, process.execPath, inner, copy.bin, nsB, copy.dir], {
      stdio: ["ignore", "pipe", "inherit"],
      env: {
        PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: process.env["HOME"] ?? "/",
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("PODNET_BENCH_"))),
      },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("close", r));
    if (code !== 0) throw new Error(`agent-inner exited ${code}`);
    const last = out.trim().split("\n").slice(-1)[0] ?? "[]";
    return JSON.parse(last) as Figure[];
  } finally {
    dropNamespaces();
    await copy.remove();
  }
}
