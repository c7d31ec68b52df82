/**
 * A small lab of network namespaces for data-plane tests: a "switch" namespace holding a
 * bridge, and N host namespaces each wired to it by a veth pair (`eth0`, 192.0.2.(10+i)/24).
 * The root namespace is never touched. Namespaces are removed by `lab.destroy()` and, as a
 * last resort, when the process exits. Each host can run a tiny TCP echo server, so tests can
 * check reachability without `ping` (which not every machine has).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";

/** One host namespace of the lab. */
export interface LabHost {
  /** The namespace name, for `ip -n` and `HostTarget.netns`. */
  readonly ns: string;
  /** The underlay interface inside the namespace. */
  readonly dev: string;
  /** The underlay address (no prefix). */
  readonly ip: string;
  readonly mtu: number;
}

/** N hosts on one bridge. */
export interface NetnsLab {
  readonly switchNs: string;
  readonly hosts: readonly LabHost[];
  /** The underlay network all hosts share. */
  readonly underlayNet: string;
  /** Starts a TCP server on 0.0.0.0:ECHO_PORT in every host; it answers with the namespace's name. */
  startEchoServers(): Promise<void>;
  /** Removes every namespace and stops every server of the lab. */
  destroy(): Promise<void>;
}

/** The port the echo servers listen on. */
export const ECHO_PORT = 7777;

const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) child.kill("SIGKILL");
    for (const ns of liveNamespaces) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // best effort at exit
      }
    }
  });
}

/**
 * Why namespaces cannot be used here (not root, no iproute2, `ip netns` refused), or null
 * when they can. Synchronous, for `describe.skipIf`.
 */
export function netnsUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return "network namespace tests need root";
  const probe = `pnprobe${randomBytes(3).toString("hex")}`;
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: "pipe" });
  } catch (err) {
    const text = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return `'ip netns add' failed (${text})`;
  }
  try {
    execFileSync("ip", ["netns", "del", probe], { stdio: "pipe" });
  } catch {
    // it was created, so deleting it works in practice; nothing to report
  }
  return null;
}

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Runs `ip ARGS` in a namespace (`ip -n NS ARGS`) and returns its output. */
export function ipIn(ns: string, args: readonly string[]): Promise<string> {
  return ip(["-n", ns, ...args]);
}

/** Creates the switch namespace and `count` hosts on it. */
export async function createNetnsLab(count: number): Promise<NetnsLab> {
  installExitHook();
  const prefix = `pn${randomBytes(3).toString("hex")}`;
  const switchNs = `${prefix}-sw`;
  const hosts: LabHost[] = [];
  const servers: ChildProcess[] = [];
  const addNs = async (ns: string) => {
    await ip(["netns", "add", ns]);
    liveNamespaces.add(ns);
    await ipIn(ns, ["link", "set", "lo", "up"]);
  };
  const lab: NetnsLab = {
    switchNs,
    hosts,
    underlayNet: "192.0.2.0/24",
    async startEchoServers() {
      await Promise.all(hosts.map(async (h) => servers.push(await startEchoServer(h.ns))));
    },
    async destroy() {
      for (const s of servers.splice(0)) {
        s.kill("SIGKILL");
        liveChildren.delete(s);
      }
      const names = [...hosts.map((h) => h.ns), switchNs];
      await Promise.all(
        names.map(async (ns) => {
          if (!liveNamespaces.has(ns)) return;
          liveNamespaces.delete(ns);
          await ip(["netns", "del", ns]).catch(() => undefined);
        }),
      );
    },
  };
  try {
    await addNs(switchNs);
    await ipIn(switchNs, ["link", "add", "br0", "type", "bridge"]);
    await ipIn(switchNs, ["link", "set", "br0", "up"]);
    for (let i = 1; i <= count; i++) {
      const host: LabHost = { ns: `${prefix}-h${i}`, dev: "eth0", ip: `192.0.2.${10 + i}`, mtu: 1500 };
      await addNs(host.ns);
      await ipIn(switchNs, [
        "link",
        "add",
        `p${i}`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        host.ns,
      ]);
      await ipIn(switchNs, ["link", "set", `p${i}`, "master", "br0", "up"]);
      await ipIn(host.ns, ["addr", "add", `${host.ip}/24`, "dev", "eth0"]);
      await ipIn(host.ns, ["link", "set", "eth0", "up"]);
      hosts.push(host);
    }
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/** A lab created before the suite's tests and destroyed after them (a getter, like useEtcd). */
export function useNetnsLab(count: number, opts: { echo?: boolean } = {}): () => NetnsLab {
  let lab: NetnsLab | undefined;
  beforeAll(async () => {
    lab = await createNetnsLab(count);
    if (opts.echo) await lab.startEchoServers();
  });
  afterAll(async () => {
    await lab?.destroy();
    lab = undefined;
  });
  return () => {
    if (!lab) throw new Error("useNetnsLab: the lab does not exist (used outside the suite's tests?)");
    return lab;
  };
}

/**
 * One long-lived node per host namespace: it answers TCP connections on ECHO_PORT with the
 * namespace's name and the source address it saw, and on a stdin line `ID IP TIMEOUT [FROM]`
 * connects to IP (from the local address FROM) and prints `ID NAME SEEN-FROM` (`ID -` when
 * nothing answered), so a probe costs no process start.
 */
const AGENT = `
const net = require("node:net");
const readline = require("node:readline");
const name = process.argv[1];
net.createServer((s) => s.end(name + " " + s.remoteAddress)).listen(${ECHO_PORT}, "0.0.0.0", () => console.log("ready"));
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [id, host, timeout, from] = line.split(" ");
  let got = "";
  let done = false;
  const finish = (answer) => { if (!done) { done = true; s.destroy(); console.log(id + " " + answer); } };
  const s = net.connect({ host, port: ${ECHO_PORT}, ...(from ? { localAddress: from } : {}) });
  s.setTimeout(Number(timeout), () => finish("-"));
  s.on("data", (d) => { got += d; });
  s.on("end", () => finish(got || "-"));
  s.on("error", () => finish("-"));
});
`;

interface Agent {
  readonly child: ChildProcess;
  readonly pending: Map<string, (answer: string | null) => void>;
}

const agents = new Map<string, Agent>();
let probeIds = 0;

function startEchoServer(ns: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", AGENT, ns], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    liveChildren.add(child);
    const agent: Agent = { child, pending: new Map() };
    let err = "";
    let buffered = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on("data", (d: Buffer) => {
      buffered += d.toString();
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
        if (line === "ready") {
          agents.set(ns, agent);
          resolve(child);
          continue;
        }
        const space = line.indexOf(" ");
        const id = line.slice(0, space);
        const answer = line.slice(space + 1);
        agent.pending.get(id)?.(answer === "-" ? null : answer);
        agent.pending.delete(id);
      }
    });
    child.once("exit", (code) => {
      agents.delete(ns);
      for (const done of agent.pending.values()) done(null);
      reject(new Error(`echo server in ${ns} exited with ${code}: ${err.trim()}`));
    });
  });
}

/**
 * Opens a TCP connection from namespace `fromNs` (which must run the lab's echo servers) to
 * `toIp` on the echo port and returns what the far end answered (its namespace name), or null
 * when nothing answered within `timeoutMs`.
 */
export async function reach(fromNs: string, toIp: string, timeoutMs = 2000): Promise<string | null> {
  return (await probe(fromNs, toIp, { timeoutMs }))?.host ?? null;
}

/** What the far end of a {@link probe} answered. */
export interface ProbeAnswer {
  /** The far end's namespace name. */
  readonly host: string;
  /** The source address the far end saw (after any NAT on the way). */
  readonly seenFrom: string;
}

/**
 * Like {@link reach}, optionally from the local address `source`, and says which source address
 * the far end saw; null when nothing answered within `timeoutMs` (default 2 s).
 */
export function probe(
  fromNs: string,
  toIp: string,
  opts: { source?: string; timeoutMs?: number } = {},
): Promise<ProbeAnswer | null> {
  const agent = agents.get(fromNs);
  if (agent === undefined) return Promise.reject(new Error(`no echo server runs in ${fromNs}`));
  const id = String(++probeIds);
  return new Promise((resolve) => {
    agent.pending.set(id, (answer) => {
      if (answer === null) return resolve(null);
      const [host = "", seenFrom = ""] = answer.split(" ");
      resolve({ host, seenFrom });
    });
    agent.child.stdin?.write(
      `${id} ${toIp} ${opts.timeoutMs ?? 2000}${opts.source ? ` ${opts.source}` : ""}\n`,
    );
  });
}
