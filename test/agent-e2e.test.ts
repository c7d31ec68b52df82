/**
 * `podnet agent` end to end: a bridge and four hosts in their own network namespaces, etcd in
 * the switch namespace (on the bridge's 192.0.2.254), the config pushed with the built podnet,
 * one agent per host run as `ip netns exec H node podnet agent`. Host 4 is a "flanneld host":
 * a lease written with etcdctl in flanneld's exact bytes and a namespace programmed by hand.
 * Reachability is a TCP echo over the overlay (the lab's echo servers), not ping.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, cp, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { PODNET_BIN, podnetBuilt } from "@podnet/test-harness/cli";
import { ETCD_BIN, ETCDCTL_BIN, etcdAvailable } from "@podnet/test-harness/etcd";
import {
  createNetnsLab,
  ipIn,
  type LabHost,
  type NetnsLab,
  netnsUnavailableReason,
  reach,
} from "@podnet/test-harness/netns";
import { tempDir } from "@podnet/test-harness/tmp";
import { useTempDirs } from "@podnet/test-harness/vitest";
import { type Truthy, waitFor } from "@podnet/test-harness/wait";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const skipReason = !etcdAvailable()
  ? `etcd is not installed (${ETCD_BIN})`
  : !podnetBuilt()
    ? "podnet is not built; run `pnpm run build`"
    : netnsUnavailableReason();

const ETCD_IP = "192.0.2.254";
const ETCD_URL = `http://${ETCD_IP}:2379`;
const PREFIX = "/coreos.com/network";
const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
/** The flanneld host's lease: a subnet far from the first 100 free ones the agents pick from. */
const FLANNELD_SUBNET = "10.5.250.0";
const FLANNELD_MAC = "c6:d2:32:6f:8f:44";
const POLL_MS = 60_000;

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in a namespace (`ip netns exec NS ...`) with a clean environment. */
function execIn(ns: string, argv: readonly string[], timeoutMs = 30_000): Promise<Exec> {
  return new Promise((done, fail) => {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", ETCDCTL_API: "3" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
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

async function okIn(ns: string, argv: readonly string[]): Promise<string> {
  const r = await execIn(ns, argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} in ${ns} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Polls `fn` until it returns a truthy value; fails with `what`, the last value or error, and the agents' logs. */
async function until<T>(
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
async function snapshotBundle(dir: string): Promise<string> {
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

interface RunningAgent {
  readonly host: LabHost;
  readonly child: ChildProcess;
  readonly subnetFile: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exit: Promise<number | null>;
  log(): string;
}

const agents = new Map<string, RunningAgent>();

describe.skipIf(skipReason !== null)(
  `podnet agent end to end${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    useTempDirs();
    let lab: NetnsLab;
    let dir: string;
    let bin: string;
    let etcd: ChildProcess | undefined;

    const sw = () => lab.switchNs;
    const host = (i: number): LabHost => {
      const h = lab.hosts[i - 1];
      if (h === undefined) throw new Error(`no host ${i}`);
      return h;
    };
    const etcdctl = (args: readonly string[]) =>
      okIn(sw(), [ETCDCTL_BIN, `--endpoints=${ETCD_URL}`, ...args]);
    const podnet = (args: readonly string[]) =>
      execIn(sw(), [process.execPath, bin, "--endpoints", ETCD_URL, ...args]);

    async function startEtcd(): Promise<void> {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          sw(),
          ETCD_BIN,
          "--name=e2e",
          `--data-dir=${join(dir, "etcd")}`,
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
      etcd = child;
      await until(
        "etcd answers",
        async () =>
          (await execIn(sw(), [ETCDCTL_BIN, `--endpoints=${ETCD_URL}`, "endpoint", "health"])).code === 0,
      );
    }

    async function stopEtcd(): Promise<void> {
      const child = etcd;
      etcd = undefined;
      if (child === undefined || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }

    function startAgent(i: number, extra: readonly string[] = []): RunningAgent {
      const h = host(i);
      const subnetFile = join(dir, `${h.ns}.env`);
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          h.ns,
          process.execPath,
          bin,
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
          env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
        },
      );
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

    /** The host's overlay address (its lease's network address, the /32 on flannel.1), from its subnet file. */
    async function overlayIp(i: number): Promise<string> {
      const agent = agents.get(host(i).ns);
      if (agent === undefined) throw new Error(`no agent on host ${i}`);
      const text = await readFile(agent.subnetFile, "utf8");
      const m = /^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24$/m.exec(text);
      if (m === null) throw new Error(`no FLANNEL_SUBNET in ${agent.subnetFile}: ${text}`);
      return `${m[1]}.0`;
    }

    const reachable = (from: number, toIp: string, toNs: string) =>
      until(
        `${host(from).ns} reaches ${toIp} over the overlay`,
        async () => (await reach(host(from).ns, toIp, 1000)) === toNs,
      );

    const routes = async (i: number) => ipIn(host(i).ns, ["-4", "route", "show"]);

    beforeAll(async () => {
      dir = await tempDir("podnet-agent-e2e-");
      bin = await snapshotBundle(dir);
      lab = await createNetnsLab(4);
      await lab.startEchoServers();
      await ipIn(lab.switchNs, ["addr", "add", `${ETCD_IP}/24`, "dev", "br0"]);
      await startEtcd();
      await writeFile(join(dir, "network.json"), CONFIG);
      const set = await podnet(["config", "set", join(dir, "network.json")]);
      expect(set.code, set.stderr).toBe(0);
    }, 120_000);

    afterAll(async () => {
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
      await stopEtcd();
      await lab?.destroy();
    }, 60_000);

    it("gives every host its own subnet and connects them all, agents started at the same moment", async () => {
      startAgent(1, ["--healthz-port", "9100"]);
      startAgent(2);
      startAgent(3, ["--release-on-exit", "--ip-masq"]);
      const ips = await until("every host wrote its subnet file", async () =>
        Promise.all([1, 2, 3].map((i) => overlayIp(i))),
      );
      expect(new Set(ips).size).toBe(3);
      for (const from of [1, 2, 3]) {
        for (const to of [1, 2, 3]) {
          if (from !== to) await reachable(from, ips[to - 1] ?? "", host(to).ns);
        }
      }
      // Host 3 masquerades (--ip-masq) in its own chain, for its own subnet; pod-to-pod traffic,
      // as above, keeps its source. Host 1 (no --ip-masq) has no rules.
      const nat3 = await until("host 3 has its masquerade rules", async () => {
        const text = await okIn(host(3).ns, ["iptables-save", "-t", "nat"]);
        return text.includes(`-A PODNET-POSTRTG -s ${ips[2]}/24 -d 10.5.0.0/16 `) && text;
      });
      expect(nat3).toContain(`-A POSTROUTING -m comment --comment "podnet masq" -j PODNET-POSTRTG`);
      expect(nat3).toContain(`-A PODNET-POSTRTG -s 10.5.0.0/16 ! -d 224.0.0.0/4 `);
      expect(await readFile(agents.get(host(3).ns)?.subnetFile ?? "", "utf8")).toContain(
        "FLANNEL_IPMASQ=true\n",
      );
      expect(await okIn(host(1).ns, ["iptables-save", "-t", "nat"])).not.toContain("PODNET-POSTRTG");
      // The lease values are flanneld's bytes.
      const value = await etcdctl(["get", "--print-value-only", `${PREFIX}/subnets/${ips[0]}-24`]);
      expect(value.trim()).toMatch(
        /^\{"PublicIP":"192\.0\.2\.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f]{2}(:[0-9a-f]{2}){5}"\}\}$/,
      );
      // The device is flanneld's: vxlan id 1 over eth0, local = the host's address, MTU 1450, the lease's MAC.
      const link = JSON.parse(await ipIn(host(1).ns, ["-j", "-d", "link", "show", "flannel.1"])) as {
        mtu: number;
        address: string;
        linkinfo: { info_kind: string; info_data: { id: number; local: string; learning: boolean } };
      }[];
      expect(link[0]?.linkinfo.info_kind).toBe("vxlan");
      expect(link[0]?.linkinfo.info_data).toMatchObject({ id: 1, local: host(1).ip, learning: false });
      expect(link[0]?.mtu).toBe(1450);
      expect(value).toContain(`"VtepMAC":"${link[0]?.address}"`);
      // Health, readiness and metrics.
      const fetchIn = (path: string) =>
        okIn(host(1).ns, [
          process.execPath,
          "-e",
          `fetch("http://127.0.0.1:9100${path}").then(async (r) => console.log(r.status + " " + (await r.text())))`,
        ]);
      expect(await fetchIn("/healthz")).toMatch(/^200 ok/);
      expect(await fetchIn("/readyz")).toMatch(/^200 ready/);
      const metrics = await until("the metrics count two peers", async () => {
        const text = await fetchIn("/metrics");
        return /^podnet_peers_programmed 2$/m.test(text) && text;
      });
      expect(metrics).toMatch(/^podnet_leases 3$/m);
      expect(metrics).toMatch(/^podnet_subnets_total 255$/m);
      expect(metrics).toMatch(/^podnet_subnets_used 3$/m);
      expect(metrics).toMatch(/^podnet_reconcile_errors_total 0$/m);
      expect(metrics).toMatch(/^podnet_renew_failures_total 0$/m);
      expect(await readFile(agents.get(host(1).ns)?.subnetFile ?? "", "utf8")).toBe(
        `FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=${ips[0]?.replace(/\.0$/, ".1")}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
    }, 150_000);

    it("repairs a route and the device deleted by hand", async () => {
      const ip2 = await overlayIp(2);
      const subnet2 = `${ip2}/24`;
      await ipIn(host(1).ns, ["route", "del", subnet2]);
      await until("the route comes back", async () =>
        (await routes(1)).includes(`${subnet2} via ${ip2} dev flannel.1 onlink`),
      );
      await ipIn(host(1).ns, ["link", "del", "flannel.1"]);
      await until("the device and its routes come back", async () =>
        (await routes(1)).includes(`${subnet2} via ${ip2}`),
      );
      await reachable(1, ip2, host(2).ns);
      await reachable(2, await overlayIp(1), host(1).ns);
      expect(agents.get(host(1).ns)?.log()).toMatch(/create device flannel\.1 \(missing\)/);
    }, 90_000);

    it("carries traffic both ways with a host that flanneld programmed (etcdctl lease + hand-made namespace)", async () => {
      const h4 = host(4);
      const grant = await etcdctl(["lease", "grant", "600"]);
      const leaseId = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
      expect(leaseId).toBeDefined();
      const value = `{"PublicIP":"${h4.ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${FLANNELD_MAC}"}}`;
      await etcdctl(["put", `--lease=${leaseId}`, `${PREFIX}/subnets/${FLANNELD_SUBNET}-24`, value]);
      // The namespace as flanneld programs it (flannel-compat.md section 9).
      const ns = h4.ns;
      await ipIn(ns, [
        "link",
        "add",
        "flannel.1",
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        h4.ip,
        "dev",
        h4.dev,
        "nolearning",
        "dstport",
        "8472",
      ]);
      await ipIn(ns, ["link", "set", "flannel.1", "address", FLANNELD_MAC, "mtu", "1450"]);
      await ipIn(ns, ["addr", "add", `${FLANNELD_SUBNET}/32`, "dev", "flannel.1"]);
      await ipIn(ns, ["link", "set", "flannel.1", "up"]);
      for (const i of [1, 2, 3]) {
        const vtep = await overlayIp(i);
        const peer = JSON.parse(
          await etcdctl(["get", "--print-value-only", `${PREFIX}/subnets/${vtep}-24`]),
        ) as {
          PublicIP: string;
          BackendData: { VtepMAC: string };
        };
        const mac = peer.BackendData.VtepMAC;
        await ipIn(ns, ["neigh", "replace", vtep, "lladdr", mac, "dev", "flannel.1", "nud", "permanent"]);
        await okIn(ns, [
          "bridge",
          "fdb",
          "replace",
          mac,
          "dev",
          "flannel.1",
          "dst",
          peer.PublicIP,
          "self",
          "permanent",
        ]);
        await ipIn(ns, ["route", "replace", `${vtep}/24`, "via", vtep, "dev", "flannel.1", "onlink"]);
      }
      for (const i of [1, 2, 3]) {
        await reachable(i, FLANNELD_SUBNET, ns);
        await reachable(4, await overlayIp(i), host(i).ns);
      }
      // A lease of another backend is skipped with one log line, not once per reconcile.
      const hostGw = `${PREFIX}/subnets/10.5.252.0-24`;
      await etcdctl(["put", hostGw, '{"PublicIP":"192.0.2.98","PublicIPv6":null,"BackendType":"host-gw"}']);
      const log1 = () => agents.get(host(1).ns)?.log() ?? "";
      await until("host 1 logs the skipped lease", async () =>
        log1().includes(`skipping lease ${hostGw}: its backend is host-gw`),
      );
      const ip2 = await overlayIp(2);
      await ipIn(host(1).ns, ["route", "del", `${ip2}/24`]);
      await until("another reconcile ran", async () => (await routes(1)).includes(`${ip2}/24 via`));
      expect(log1().split(`skipping lease ${hostGw}`).length - 1).toBe(1);
      await etcdctl(["del", hostGw]);
    }, 90_000);

    it("keeps the data plane through an etcd restart and recovers by itself", async () => {
      const [ip1, ip2] = [await overlayIp(1), await overlayIp(2)];
      await stopEtcd();
      await reachable(1, ip2, host(2).ns);
      await reachable(2, ip1, host(1).ns);
      await until("an agent notices the outage", async () =>
        /watching leases failed/.test(agents.get(host(1).ns)?.log() ?? ""),
      );
      await startEtcd();
      // A lease written after the restart reaches every agent: their watches resumed by themselves.
      const subnet = "10.5.251.0";
      await etcdctl([
        "put",
        `${PREFIX}/subnets/${subnet}-24`,
        `{"PublicIP":"192.0.2.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:02:51"}}`,
      ]);
      for (const i of [1, 2, 3]) {
        await until(`host ${i} programs the new lease`, async () =>
          (await routes(i)).includes(`${subnet}/24 via ${subnet}`),
        );
      }
      await etcdctl(["del", `${PREFIX}/subnets/${subnet}-24`]);
      for (const i of [1, 2, 3]) {
        await until(`host ${i} drops it again`, async () => !(await routes(i)).includes(`${subnet}/24`));
      }
      await reachable(1, ip2, host(2).ns);
      for (const a of agents.values()) expect(a.child.exitCode).toBeNull();
    }, 120_000);

    it("drops a host everywhere when its agent stops with --release-on-exit", async () => {
      const ip3 = await overlayIp(3);
      const agent = agents.get(host(3).ns);
      agent?.child.kill("SIGTERM");
      expect(await agent?.exit).toBe(0);
      expect(await etcdctl(["get", "--keys-only", `${PREFIX}/subnets/${ip3}-24`])).toBe("");
      for (const i of [1, 2]) {
        await until(`host ${i} drops host 3's entries`, async () => {
          const [r, n, f] = await Promise.all([
            routes(i),
            ipIn(host(i).ns, ["neigh", "show", "dev", "flannel.1"]),
            okIn(host(i).ns, ["bridge", "fdb", "show", "dev", "flannel.1"]),
          ]);
          return !r.includes(`${ip3}/24`) && !n.includes(`${ip3} `) && !f.includes(`dst ${host(3).ip} `);
        });
      }
      expect((await execIn(host(3).ns, ["ip", "link", "show", "flannel.1"])).code).not.toBe(0);
      expect(agent?.log()).toMatch(/released lease/);
      expect(agent?.log()).toMatch(/deleted the masquerade rules/);
      expect(await okIn(host(3).ns, ["iptables-save", "-t", "nat"])).not.toContain("PODNET-POSTRTG");
    }, 60_000);

    it("exits non-zero when its lease is revoked", async () => {
      const ip2 = await overlayIp(2);
      // etcd lease ids are 64-bit: read the digits, JSON.parse would round them.
      const raw = await etcdctl(["get", `${PREFIX}/subnets/${ip2}-24`, "-w", "json"]);
      const lease = BigInt(/"lease":(\d+)/.exec(raw)?.[1] ?? "0").toString(16);
      await etcdctl(["lease", "revoke", lease]);
      const agent = agents.get(host(2).ns);
      if (agent === undefined) throw new Error("no agent on host 2");
      // By itself: nothing here signals it, so an agent that ignores the revocation keeps running and fails the wait.
      await until(
        "the agent on host 2 exits by itself",
        async () => agent.child.exitCode !== null || agent.child.signalCode !== null,
        30_000,
      );
      expect(await agent.exit).toBe(1);
      expect(agent?.log()).toMatch(/lease lost: the lease on .* was revoked or expired/);
      await until("host 1 drops host 2", async () => !(await routes(1)).includes(`${ip2}/24`));
    }, 60_000);
  },
);
