/**
 * The measuring half of the agent benchmark, run inside namespace "a" by ./agent.ts
 * (`ip netns exec A node agent-inner.js BUNDLE NS_B DIR`). Progress goes to stderr; the
 * figures, as one JSON line, to stdout.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  encodeLeaseValue,
  encodeVxlanData,
  leaseKey,
  type Op,
  type Store,
  type SubnetRange4,
} from "@podnet/ipam-core";
import {
  attrsOf,
  fill,
  freshEtcd,
  now,
  PREFIX,
  publicIPOf,
  shuffled,
  slash8,
  storeOf,
  subnetOf,
} from "./etcd-common.js";
import { type Figure, figure, median } from "./measure.js";

const [bundle, nsB, dir] = process.argv.slice(2);
if (bundle === undefined || nsB === undefined || dir === undefined) {
  console.error("usage: agent-inner BUNDLE BASELINE_NS DIR");
  process.exit(2);
}
const HEALTH_PORT = 9100;
const CONFIG = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const ONE_ROUNDS = Number(process.env["PODNET_BENCH_AGENT_ONE_ROUNDS"] ?? 7);
const K_ROUNDS = Number(process.env["PODNET_BENCH_AGENT_ROUNDS"] ?? 3);
const MEM_PEERS = Number(process.env["PODNET_BENCH_AGENT_MEM_PEERS"] ?? 10_000);
/** Longer than the agent's default --reconcile-interval (10 s), so the peak includes a full reconcile. */
const SETTLE_MS = 11_000;

const say = (s: string): void => {
  process.stderr.write(`  agent: ${s}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exec(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile(cmd, args, { maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) c.stdin?.end(input);
  });
}

/** Gateway routes on a device in this namespace (-1 while the device is missing). */
async function routeCount(device = "flannel.1", family: "-4" | "-6" = "-4"): Promise<number> {
  try {
    const text = await exec("ip", ["-json", family, "route", "show", "dev", device]);
    if (text.trim() === "") return 0;
    return (JSON.parse(text) as { gateway?: string }[]).filter((r) => r.gateway !== undefined).length;
  } catch {
    return -1;
  }
}

/** Polls every ~20 ms until flannel.1 carries `n` routes; returns the time it was seen. */
async function untilRoutes(n: number, timeoutMs: number, agentLog: () => string): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const c = await routeCount();
    if (c === n) return now();
    if (now() > deadline)
      throw new Error(`flannel.1 has ${c} routes, not ${n}, after ${timeoutMs} ms\n${agentLog()}`);
    await sleep(20);
  }
}

function vmKb(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  return readFile(`/proc/${pid}/status`, "utf8").then((t) =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(t)?.[1] ?? NaN),
  );
}

interface Agent {
  child: ChildProcess;
  log(): string;
  exited: Promise<unknown>;
}

function startAgent(endpoint: string, prefix = PREFIX, subnetFile = "subnet.env"): Agent {
  const child = spawn(
    process.execPath,
    [
      bundle ?? "",
      "--endpoints",
      endpoint,
      "--prefix",
      prefix,
      "--command-timeout",
      "30s",
      "agent",
      "--iface",
      "eth0",
      "--subnet-file",
      join(dir ?? "", subnetFile),
      "--healthz-port",
      String(HEALTH_PORT),
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        // Diagnostics only (e.g. "--max-old-space-size=64" to tell live data from GC slack).
        ...(process.env["PODNET_BENCH_AGENT_NODE_OPTIONS"] !== undefined && {
          NODE_OPTIONS: process.env["PODNET_BENCH_AGENT_NODE_OPTIONS"],
        }),
      },
    },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-8000);
  });
  const exited = new Promise((r) => child.on("exit", r));
  return { child, log: () => `--- agent log (tail):\n${log}`, exited };
}

async function untilReady(agent: Agent, timeoutMs = 30_000): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (agent.child.exitCode !== null)
      throw new Error(`the agent exited ${agent.child.exitCode}\n${agent.log()}`);
    try {
      const r = await fetch(`http://127.0.0.1:${HEALTH_PORT}/readyz`);
      if (r.status === 200) return now();
    } catch {
      // not listening yet
    }
    if (now() > deadline) throw new Error(`the agent was not ready within ${timeoutMs} ms\n${agent.log()}`);
    await sleep(20);
  }
}

async function stopAgent(agent: Agent): Promise<void> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  agent.child.kill("SIGTERM");
  const t = setTimeout(() => agent.child.kill("SIGKILL"), 5000);
  await agent.exited;
  clearTimeout(t);
}

/**
 * The dual-stack case's network: 100.64.0.0/10 and fd00::/48, its own VNI. Not the first
 * cases' 10.0.0.0/8: their agent's flannel.1 keeps its address in the namespace, and a dual
 * peer on that subnet would need a route via a local address, which the kernel refuses.
 */
const DUAL_PREFIX = "/podnet-bench-dual";
const DUAL_CONFIG =
  '{"Network":"100.64.0.0/10","EnableIPv6":true,"IPv6Network":"fd00::/48","Backend":{"Type":"vxlan","VNI":2}}';

/** Host `i`'s dual-stack lease: subnet 100.(64+x).y.0/24 and fd00:0:0:i::/64, two VtepMACs. */
function dualLease(i: number): { key: string; value: string } {
  const v4 = `100.${64 + (((i + 1) >>> 8) & 63)}.${(i + 1) & 255}.0`;
  const v6 = `fd00:0:0:${(i + 1).toString(16)}::`;
  const mac = (tag: number) =>
    [0xc6, tag, (i >>> 16) & 255, (i >>> 8) & 255, i & 255, 0x44]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join(":");
  const value = encodeLeaseValue({
    publicIP: publicIPOf(i),
    publicIPv6: `2001:db8:1::${(i + 1).toString(16)}`,
    backendType: "vxlan",
    backendData: encodeVxlanData({ vni: 2, vtepMac: mac(4) }),
    backendV6Data: encodeVxlanData({ vni: 2, vtepMac: mac(6) }),
  });
  return { key: `${DUAL_PREFIX}/subnets/${v4}-24&${v6}-64`, value };
}

/** Starts a dual-stack agent and times 1,000 dual-stack peers appearing at once, a few rounds. */
async function dualStackConvergence(
  endpoint: string,
  store: Store,
  etcdLeases: readonly string[],
): Promise<{ total: number[]; written: number[] }> {
  await writeFile(join(dir ?? "", "dual.json"), DUAL_CONFIG);
  const set = spawnSync(
    process.execPath,
    [
      bundle ?? "",
      "--endpoints",
      endpoint,
      "--prefix",
      DUAL_PREFIX,
      "config",
      "set",
      join(dir ?? "", "dual.json"),
    ],
    { encoding: "utf8" },
  );
  if (set.status !== 0) throw new Error(`podnet config set (dual stack) failed: ${set.stderr}`);
  const a = startAgent(endpoint, DUAL_PREFIX, "dual.env");
  const out = { total: [] as number[], written: [] as number[] };
  try {
    await untilReady(a, 60_000);
    // The agent leases a random subnet: peers must not overlap it (the agent skips one that
    // does, as a clash in etcd, and the count would never reach 1,000).
    const own = await readFile(join(dir ?? "", "dual.env"), "utf8");
    const ownV4 = /^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24$/m.exec(own)?.[1];
    if (ownV4 === undefined) throw new Error(`no FLANNEL_SUBNET in the dual-stack subnet file:\n${own}`);
    const ownV6 = /^FLANNEL_IPV6_SUBNET=([0-9a-f:]+)::1\/64$/m.exec(own)?.[1];
    if (ownV6 === undefined) throw new Error(`no FLANNEL_IPV6_SUBNET in the dual-stack subnet file:\n${own}`);
    const clear = (l: { key: string }) =>
      !l.key.includes(`/subnets/${ownV4}.0-24&`) && !l.key.endsWith(`&${ownV6}::-64`);
    for (let r = 0; r < K_ROUNDS; r++) {
      const leases: { key: string; value: string }[] = [];
      for (let i = 30_000 + r * 2000; leases.length < 1000; i++) {
        const l = dualLease(i);
        if (clear(l)) leases.push(l);
      }
      const t = now();
      const txns: Promise<unknown>[] = [];
      for (let i = 0; i < leases.length; i += 128) {
        txns.push(
          store.txn(
            [],
            leases.slice(i, i + 128).map((l, k): Op => {
              const lease = etcdLeases[k % etcdLeases.length];
              return { put: l.key, value: l.value, ...(lease !== undefined && { lease }) };
            }),
          ),
        );
      }
      await Promise.all(txns);
      out.written.push(now() - t);
      const deadline = now() + 30_000;
      while (
        (await routeCount("flannel.2", "-4")) !== 1000 ||
        (await routeCount("flannel-v6.2", "-6")) !== 1000
      ) {
        if (now() > deadline)
          throw new Error(`dual stack: routes did not reach 1,000 on both devices\n${a.log()}`);
        await sleep(20);
      }
      out.total.push(now() - t);
      const ops: Op[] = leases.map((l) => ({ delete: l.key }));
      for (let i = 0; i < ops.length; i += 128) await store.txn([], ops.slice(i, i + 128));
      while ((await routeCount("flannel.2", "-4")) !== 0 || (await routeCount("flannel-v6.2", "-6")) !== 0)
        await sleep(20);
    }
  } finally {
    await stopAgent(a);
  }
  return out;
}

/** Peak memory of a bare node process that lives one second. */
async function bareNodeHwmKb(): Promise<number> {
  const c = spawn(process.execPath, ["-e", "setTimeout(()=>{},1000)"], { stdio: "ignore" });
  await sleep(800);
  const kb = await vmKb(c.pid ?? 0, "VmHWM");
  await new Promise((r) => c.on("exit", r));
  return kb;
}

/** The `bridge -batch` and `ip -batch` lines the agent would run for these peers. */
function batchLines(
  range: SubnetRange4,
  peers: readonly { idx: number; host: number }[],
): { fdb: string; ip: string } {
  const fdb: string[] = [];
  const neigh: string[] = [];
  const routes: string[] = [];
  for (const { idx, host } of peers) {
    const net = subnetOf(range, idx).ipv4;
    if (net === undefined) throw new Error("no ipv4 subnet");
    const a = net.ip;
    const vtep = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    const attrs = attrsOf(host);
    const mac = /"VtepMAC":"([^"]+)"/.exec(attrs.backendData)?.[1] ?? "";
    fdb.push(`fdb replace ${mac} dev flannel.1 dst ${attrs.publicIP} self permanent`);
    neigh.push(`neigh replace ${vtep} lladdr ${mac} dev flannel.1 nud permanent`);
    routes.push(`route replace ${vtep}/24 via ${vtep} dev flannel.1 onlink`);
  }
  return { fdb: `${fdb.join("\n")}\n`, ip: `${[...neigh, ...routes].join("\n")}\n` };
}

/** Wall time of applying the lines directly in namespace B on a fresh flannel.1 (made and removed untimed). */
async function directApply(lines: { fdb: string; ip: string }): Promise<number> {
  const ns = nsB ?? "";
  const ipb = (args: readonly string[]) => exec("ip", ["-n", ns, ...args]);
  await ipb([
    "link",
    "add",
    "flannel.1",
    "type",
    "vxlan",
    "id",
    "1",
    "local",
    "192.0.2.2",
    "dev",
    "eth0",
    "nolearning",
    "dstport",
    "8472",
  ]);
  await ipb(["link", "set", "flannel.1", "mtu", "1450", "up"]);
  await ipb(["addr", "add", "10.0.0.0/32", "dev", "flannel.1"]);
  const t0 = now();
  await exec("bridge", ["-n", ns, "-force", "-batch", "-"], lines.fdb);
  await exec("ip", ["-n", ns, "-force", "-batch", "-"], lines.ip);
  const ms = now() - t0;
  await ipb(["link", "del", "flannel.1"]);
  return ms;
}

const figures: Figure[] = [];
const cluster = await freshEtcd();
let agent: Agent | undefined;
process.on("exit", () => agent?.child.kill("SIGKILL"));
try {
  const endpoint = cluster.endpoints[0] ?? "";
  const { range } = slash8();
  await writeFile(join(dir, "network.json"), CONFIG);
  const set = spawnSync(
    process.execPath,
    [bundle, "--endpoints", endpoint, "config", "set", join(dir, "network.json")],
    {
      encoding: "utf8",
    },
  );
  if (set.status !== 0) throw new Error(`podnet config set failed: ${set.stderr}`);
  const store = await storeOf(cluster);
  const etcdLeases = await Promise.all(Array.from({ length: 4 }, () => store.grant(24 * 60 * 60)));

  let a = startAgent(endpoint);
  agent = a;
  const t0 = now();
  await untilReady(a);
  say(`agent ready in ${(now() - t0).toFixed(0)} ms`);
  const subnet = /^FLANNEL_SUBNET=(\d+)\.(\d+)\.(\d+)\.1\/24$/m.exec(
    await readFile(join(dir, "subnet.env"), "utf8"),
  );
  if (subnet === null) throw new Error("no FLANNEL_SUBNET in the agent's subnet file");
  const ownIdx =
    ((((Number(subnet[1]) << 24) | (Number(subnet[2]) << 16) | (Number(subnet[3]) << 8)) >>> 0) -
      range.min) >>>
    8;
  const order = shuffled(65_535, 7).filter((i) => i !== ownIdx);
  let next = 0;
  let hostNo = 1000;
  let expected = await routeCount();
  if (expected !== 0) throw new Error(`flannel.1 starts with ${expected} routes, not 0`);

  /** Writes `count` new peer leases at once; returns them, the write time and the time to the kernel. */
  const appear = async (count: number, timeoutMs: number) => {
    const peers = order.slice(next, next + count).map((idx, k) => ({ idx, host: hostNo + k }));
    if (peers.length !== count) throw new Error("out of subnets");
    next += count;
    const t = now();
    await fill(
      store,
      range,
      peers.map((p) => p.idx),
      { hostBase: hostNo, etcdLeases, concurrency: 8 },
    );
    const written = now() - t;
    hostNo += count;
    expected += count;
    const seen = await untilRoutes(expected, timeoutMs, () => a.log());
    return { peers, written, total: seen - t };
  };
  /** Deletes these peers' leases (128 per txn) and returns the time until their routes are gone. */
  const disappear = async (peers: readonly { idx: number }[]): Promise<number> => {
    const t = now();
    const ops: Op[] = peers.map((p) => ({ delete: leaseKey(PREFIX, subnetOf(range, p.idx)) }));
    const txns: Promise<unknown>[] = [];
    for (let i = 0; i < ops.length; i += 128) txns.push(store.txn([], ops.slice(i, i + 128)));
    await Promise.all(txns);
    expected -= peers.length;
    return (await untilRoutes(expected, 30_000, () => a.log())) - t;
  };

  // 1 peer, several times.
  const one = { written: [] as number[], total: [] as number[], direct: [] as number[] };
  for (let r = -1; r < ONE_ROUNDS; r++) {
    const got = await appear(1, 10_000);
    const direct = await directApply(batchLines(range, got.peers));
    if (r < 0) continue; // warm-up
    one.written.push(got.written);
    one.total.push(got.total);
    one.direct.push(direct);
    await sleep(100);
  }
  say(
    `1 peer: ${one.total.map((x) => x.toFixed(0)).join(", ")} ms (etcd write ${median(one.written).toFixed(1)} ms)`,
  );

  // 1,000 peers at once, then removed again, a few times.
  const k = {
    written: [] as number[],
    total: [] as number[],
    removed: [] as number[],
    direct: [] as number[],
  };
  for (let r = 0; r < K_ROUNDS; r++) {
    const got = await appear(1000, 30_000);
    k.written.push(got.written);
    k.total.push(got.total);
    k.direct.push(await directApply(batchLines(range, got.peers)));
    await sleep(300);
    if (r < K_ROUNDS - 1) k.removed.push(await disappear(got.peers));
    await sleep(300);
  }
  say(
    `1,000 peers: ${k.total.map((x) => x.toFixed(0)).join(", ")} ms; etcd writes ${k.written.map((x) => x.toFixed(0)).join(", ")} ms; ` +
      `removal ${k.removed.map((x) => x.toFixed(0)).join(", ")} ms; ip/bridge -batch ${k.direct.map((x) => x.toFixed(0)).join(", ")} ms`,
  );

  // A restart with the ~1,000 peers there are now (issue 15's topology against flanneld):
  // its start-up, and its peak and resident memory after a full periodic reconcile. That
  // agent goes on with the rest.
  await stopAgent(a);
  a = startAgent(endpoint);
  agent = a;
  const tk = now();
  await untilReady(a, 60_000);
  const kReady = now() - tk;
  await sleep(SETTLE_MS);
  const kPeers = expected;
  const kHwm = await vmKb(a.child.pid ?? 0, "VmHWM");
  const kRss = await vmKb(a.child.pid ?? 0, "VmRSS");
  say(
    `restarted with ${kPeers} peers: ready in ${kReady.toFixed(0)} ms, VmHWM ${(kHwm / 1024).toFixed(1)} MB, VmRSS ${(kRss / 1024).toFixed(1)} MB`,
  );

  // Up to MEM_PEERS peers, then a full periodic reconcile, then the peak memory.
  const more = MEM_PEERS - expected;
  const big = await appear(more, 150_000);
  const bigDirect = await directApply(batchLines(range, big.peers));
  say(
    `${more} more peers (to ${expected}) in ${big.total.toFixed(0)} ms (etcd writes ${big.written.toFixed(0)} ms; direct ${bigDirect.toFixed(0)} ms)`,
  );
  await sleep(SETTLE_MS);
  const pid = a.child.pid ?? 0;
  const hwm = await vmKb(pid, "VmHWM");
  const rss = await vmKb(pid, "VmRSS");
  say(
    `agent VmHWM ${(hwm / 1024).toFixed(1)} MB, VmRSS ${(rss / 1024).toFixed(1)} MB with ${expected} peers`,
  );
  // A restart with all of them already in etcd (and in the kernel).
  await stopAgent(a);
  const b = startAgent(endpoint);
  agent = b;
  const tr = now();
  await untilReady(b, 60_000);
  const restartReady = now() - tr;
  await sleep(SETTLE_MS);
  const hwm2 = await vmKb(b.child.pid ?? 0, "VmHWM");
  say(`restarted agent ready in ${restartReady.toFixed(0)} ms, VmHWM ${(hwm2 / 1024).toFixed(1)} MB`);
  await stopAgent(b);

  // Dual stack: 1,000 peers with an IPv4 and an IPv6 subnet appearing at once, on a prefix of
  // their own (VNI 2: flannel.2 and flannel-v6.2), until both devices carry every route.
  const dual = await dualStackConvergence(endpoint, store, etcdLeases);
  say(`dual stack, 1,000 peers: ${dual.total.map((x) => x.toFixed(0)).join(", ")} ms`);
  const bare = await bareNodeHwmKb();
  store.close();

  const ms = (xs: number[]) => median(xs);
  figures.push(
    figure({
      bench: "agent",
      what: "agent: 1 peer lease in etcd -> its routes in the kernel",
      podnet: ms(one.total),
      baseline: ms(one.direct),
      baselineName: "bridge+ip -batch of its 3 entries",
      unit: "ms",
      aim: "-",
      note: `etcd write alone ${ms(one.written).toFixed(1)} ms; median of ${ONE_ROUNDS}; polled every 20 ms`,
    }),
    figure({
      bench: "agent",
      what: "agent: 1,000 peer leases at once -> routes in the kernel",
      podnet: ms(k.total),
      baseline: ms(k.direct),
      baselineName: "bridge+ip -batch of the 3,000 entries",
      unit: "ms",
      aim: "<= 2000 ms",
      note: `etcd writes alone (8 txns) ${ms(k.written).toFixed(0)} ms; removal of 1,000 ${k.removed.length > 0 ? ms(k.removed).toFixed(0) : "-"} ms; median of ${K_ROUNDS}`,
    }),
    figure({
      bench: "agent",
      what: `agent: ${more.toLocaleString("en")} more peer leases at once (to ${expected.toLocaleString("en")}) -> kernel`,
      podnet: big.total,
      baseline: bigDirect,
      baselineName: `bridge+ip -batch of ${(3 * more).toLocaleString("en")} entries`,
      unit: "ms",
      aim: "-",
      note: `etcd writes alone ${big.written.toFixed(0)} ms; one run`,
    }),
    figure({
      bench: "agent",
      what: "agent, dual stack: 1,000 peer leases at once -> IPv4 and IPv6 routes in the kernel",
      podnet: ms(dual.total),
      baseline: ms(dual.written),
      baselineName: "the etcd writes alone",
      unit: "ms",
      aim: "<= 2000 ms",
      note: `6,000 kernel entries on flannel.2 and flannel-v6.2; median of ${dual.total.length}`,
    }),
    figure({
      bench: "agent",
      what: `agent peak memory (VmHWM), restarted with ${kPeers.toLocaleString("en")} peers`,
      podnet: kHwm / 1024,
      baseline: bare / 1024,
      baselineName: "bare node process",
      unit: "MB",
      aim: "<= 1.5x flanneld v0.20.2 (39-40 MB in issue 15): <= 59 MB",
      note: `ready ${kReady.toFixed(0)} ms after start (kernel already programmed), then a full reconcile; VmRSS then ${(kRss / 1024).toFixed(0)} MB`,
    }),
    figure({
      bench: "agent",
      what: `agent peak memory (VmHWM), ${expected.toLocaleString("en")} peers`,
      podnet: hwm / 1024,
      baseline: bare / 1024,
      baselineName: "bare node process",
      unit: "MB",
      aim: "< 100 MB",
      note: `after programming them and a full reconcile; VmRSS then ${(rss / 1024).toFixed(0)} MB`,
    }),
    figure({
      bench: "agent",
      what: `agent peak memory (VmHWM), restarted with ${expected.toLocaleString("en")} peers`,
      podnet: hwm2 / 1024,
      baseline: bare / 1024,
      baselineName: "bare node process",
      unit: "MB",
      aim: "< 100 MB",
      note: `ready ${restartReady.toFixed(0)} ms after start (kernel already programmed), then a full reconcile`,
    }),
  );
} finally {
  if (agent !== undefined) await stopAgent(agent);
  await cluster.stop();
}
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);
