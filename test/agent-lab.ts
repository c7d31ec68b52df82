/**
 * What the agent's end-to-end tests share: hosts in network namespaces on one bridge, etcd in
 * the switch namespace (on the bridge's 192.0.2.254), the built podnet copied aside (so a
 * concurrent build cannot pull chunks from under running agents), agents run as
 * `ip netns exec H node podnet agent`, and polling on observable state with the agents' logs
 * in the failure message.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, cp, mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { PODNET_BIN } from "@podnet/test-harness/cli";
import { ETCD_BIN, ETCDCTL_BIN } from "@podnet/test-harness/etcd";
import { createNetnsLab, ipIn, type LabHost, type NetnsLab } from "@podnet/test-harness/netns";
import { type Truthy, waitFor } from "@podnet/test-harness/wait";

export const ETCD_IP = "192.0.2.254";
export const ETCD_URL = `http://${ETCD_IP}:2379`;
export const PREFIX = "/coreos.com/network";
const POLL_MS = 60_000;

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** A finished command. */
export interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in a namespace (`ip netns exec NS ...`) with a clean environment. */
export function execIn(
  ns: string,
  argv: readonly string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Exec> {
  return new Promise((done, fail) => {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", ETCDCTL_API: "3", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** Runs a command in a namespace and returns its stdout; throws when it fails. */
export async function okIn(ns: string, argv: readonly string[]): Promise<string> {
  const r = await execIn(ns, argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} in ${ns} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A running agent. */
export interface RunningAgent {
  readonly host: LabHost;
  readonly child: ChildProcess;
  readonly subnetFile: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exit: Promise<number | null>;
  log(): string;
}

/** The agents of a test file, by namespace (their logs go into every timeout message). */
export const agents = new Map<string, RunningAgent>();

/** Polls `fn` until it returns a truthy value; fails with `what`, the last value or error, and the agents' logs. */
export async function until<T>(
  what: string,
  fn: () => Promise<T>,
  timeoutMs = POLL_MS,
): Promise<Truthy<Awaited<T>>> {
  try {
    return await waitFor(fn, { what, timeoutMs, intervalMs: 250 });
  } catch (err) {
    const logs = [...agents.values()]
      .map((a) => `--- agent in ${a.host.ns}:\n${a.log().slice(-3000)}`)
      .join("\n");
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`);
  }
}

/**
 * A copy of the built bundle (with package.json and node_modules beside it as in packages/cli),
 * so a concurrent `pnpm run build` cannot pull chunks from under running agents.
 */
export async function snapshotBundle(dir: string): Promise<string> {
  const cli = resolve(dirname(PODNET_BIN), "..");
  let attempt = 0;
  // A copy taken while a build rewrites the bundle is incomplete: copy again until one is whole.
  return waitFor(
    async () => {
      const snap = join(dir, `snap${++attempt}`);
      await mkdir(snap, { recursive: true });
      await cp(join(cli, "bundle"), join(snap, "bundle"), { recursive: true });
      await copyFile(join(cli, "package.json"), join(snap, "package.json"));
      await symlink(join(cli, "node_modules"), join(snap, "node_modules"));
      const files = [
        join(snap, "bundle", "podnet.js"),
        ...(await readdir(join(snap, "bundle", "chunks"))).map((f) => join(snap, "bundle", "chunks", f)),
      ];
      for (const file of files.filter((f) => f.endsWith(".js"))) {
        const text = await readFile(file, "utf8");
        for (const m of text.matchAll(/["'](\.\.?\/[^"']+\.js)["']/g)) {
          if (!existsSync(resolve(dirname(file), m[1] ?? ""))) throw new Error(`bundle incomplete: ${m[1]}`);
        }
      }
      return join(snap, "bundle", "podnet.js");
    },
    { what: "a complete copy of the bundle", intervalMs: 1000, timeoutMs: 30_000 },
  );
}

/** The lab of one test file: hosts, etcd, the bundle and the agents. */
export class AgentLab {
  etcd: ChildProcess | undefined;

  private constructor(
    readonly lab: NetnsLab,
    readonly dir: string,
    readonly bin: string,
  ) {}

  /** Creates `count` hosts (each with 2001:db8::(10+i)/64 beside its IPv4 address when `ipv6`) and starts etcd. */
  static async create(count: number, dir: string, opts: { ipv6?: boolean } = {}): Promise<AgentLab> {
    const bin = await snapshotBundle(dir);
    const lab = await createNetnsLab(count);
    await ipIn(lab.switchNs, ["addr", "add", `${ETCD_IP}/24`, "dev", "br0"]);
    if (opts.ipv6) {
      for (const [i, h] of lab.hosts.entries()) {
        await ipIn(h.ns, ["addr", "add", AgentLab.underlayIpv6(i + 1, true), "dev", h.dev, "nodad"]);
      }
    }
    const me = new AgentLab(lab, dir, bin);
    await me.startEtcd();
    return me;
  }

  /** Host i's underlay IPv6 address (with its /64 when `cidr`). */
  static underlayIpv6(i: number, cidr = false): string {
    return `2001:db8::${10 + i}${cidr ? "/64" : ""}`;
  }

  host(i: number): LabHost {
    const h = this.lab.hosts[i - 1];
    if (h === undefined) throw new Error(`no host ${i}`);
    return h;
  }

  etcdctl(args: readonly string[]): Promise<string> {
    return okIn(this.lab.switchNs, [ETCDCTL_BIN, `--endpoints=${ETCD_URL}`, ...args]);
  }

  /** The built podnet, against the lab's etcd, run in namespace `ns` (default: the switch's). */
  podnet(args: readonly string[], ns = this.lab.switchNs): Promise<Exec> {
    return execIn(ns, [process.execPath, this.bin, "--endpoints", ETCD_URL, ...args]);
  }

  async startEtcd(): Promise<void> {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.lab.switchNs,
        ETCD_BIN,
        "--name=e2e",
        `--data-dir=${join(this.dir, "etcd")}`,
        `--listen-client-urls=${ETCD_URL}`,
        `--advertise-client-urls=${ETCD_URL}`,
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=e2e=http://127.0.0.1:2380",
      ],
      { stdio: "ignore", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } },
    );
    children.add(child);
    child.on("exit", () => children.delete(child));
    this.etcd = child;
    await until(
      "etcd answers",
      async () =>
        (await execIn(this.lab.switchNs, [ETCDCTL_BIN, `--endpoints=${ETCD_URL}`, "endpoint", "health"]))
          .code === 0,
    );
  }

  /** Freezes etcd (SIGSTOP: it keeps its connections and answers nothing) or thaws it (SIGCONT). */
  freezeEtcd(frozen: boolean): void {
    this.etcd?.kill(frozen ? "SIGSTOP" : "SIGCONT");
  }

  /** Fetches `path` of the health server on 127.0.0.1:`port` inside host i: `STATUS BODY`. */
  async fetchHealth(i: number, port: number, path: string): Promise<string> {
    return okIn(this.host(i).ns, [
      process.execPath,
      "-e",
      `fetch("http://127.0.0.1:${port}${path}").then(async (r) => console.log(r.status + " " + (await r.text())))`,
    ]);
  }

  async stopEtcd(): Promise<void> {
    const child = this.etcd;
    this.etcd = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  /**
   * Starts an agent on host i with `--iface eth0`, its own subnet file (one per `tag`, so a
   * later network never reads an earlier one's) and a 1 s reconcile.
   */
  startAgent(
    i: number,
    extra: readonly string[] = [],
    opts: { env?: Record<string, string>; tag?: string } = {},
  ): RunningAgent {
    const h = this.host(i);
    const subnetFile = join(this.dir, `${h.ns}${opts.tag ?? ""}.env`);
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        h.ns,
        process.execPath,
        this.bin,
        "--endpoints",
        ETCD_URL,
        "agent",
        "--iface",
        h.dev,
        "--subnet-file",
        subnetFile,
        "--reconcile-interval",
        "1s",
        ...extra,
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...opts.env },
      },
    );
    return this.track(h, child, subnetFile);
  }

  /** Tracks a spawned agent process (its log, its exit) under host `h`. */
  track(h: LabHost, child: ChildProcess, subnetFile: string): RunningAgent {
    children.add(child);
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
    });
    const exit = new Promise<number | null>((r) =>
      child.on("exit", (code) => {
        children.delete(child);
        r(code);
      }),
    );
    const agent: RunningAgent = { host: h, child, subnetFile, exit, log: () => log };
    agents.set(h.ns, agent);
    return agent;
  }

  /** The subnet file of host i's agent. */
  async subnetFile(i: number): Promise<string> {
    const agent = agents.get(this.host(i).ns);
    if (agent === undefined) throw new Error(`no agent on host ${i}`);
    return readFile(agent.subnetFile, "utf8");
  }

  /** Host i's IPv4 overlay address (its lease's network address, the /32 on flannel.1), from its subnet file. */
  async overlayIp(i: number): Promise<string> {
    const text = await this.subnetFile(i);
    const m = /^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24$/m.exec(text);
    if (m === null) throw new Error(`no FLANNEL_SUBNET in host ${i}'s subnet file: ${text}`);
    return `${m[1]}.0`;
  }

  /** Host i's IPv6 overlay address (its lease's network address, the /128 on flannel-v6.1). */
  async overlayIpv6(i: number): Promise<string> {
    const text = await this.subnetFile(i);
    const m = /^FLANNEL_IPV6_SUBNET=([0-9a-f:]+::)1\/64$/m.exec(text);
    if (m === null) throw new Error(`no FLANNEL_IPV6_SUBNET in host ${i}'s subnet file: ${text}`);
    return m[1] ?? "";
  }

  /** Whether host `from` gets an answer to one ping of `to` within a second. */
  async pings(from: number, to: string): Promise<boolean> {
    const r = await execIn(this.host(from).ns, ["ping", "-c", "1", "-W", "1", to], { timeoutMs: 5000 });
    return r.code === 0;
  }

  /** Stops every agent (SIGTERM, then SIGKILL after 5 s), etcd and the namespaces. */
  async destroy(): Promise<void> {
    await Promise.all(
      [...agents.values()].map(async (a) => {
        if (a.child.exitCode !== null || a.child.signalCode !== null) return;
        a.child.kill("SIGTERM");
        const timer = setTimeout(() => a.child.kill("SIGKILL"), 5000);
        await a.exit;
        clearTimeout(timer);
      }),
    );
    agents.clear();
    await this.stopEtcd();
    await this.lab.destroy();
  }
}
