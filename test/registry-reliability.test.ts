import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  decodeLeaseValue,
  formatLeaseKey,
  ipv4NetsOverlap,
  type LeaseNetwork,
  type LeaseSubnet,
  parseLeaseKey,
  rangeContains,
  rangeSize,
} from "@podnet/ipam-core";
import { type EtcdCluster, etcdAvailable } from "@podnet/test-harness/etcd";
import { useEtcd } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { beforeAll, describe, expect, it } from "vitest";
import { network4 } from "../packages/ipam-core/src/lease-network.fixture.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/acquirer.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../packages/ipam-core/dist/registry.js", import.meta.url));
const PROCESSES = 4;
const PER_PROCESS = 55; // 220 acquirers in all
/** Each child must be done by then; a child still running is killed and the test fails. */
const CHILD_BOUND_MS = 60_000;

interface Outcome {
  publicIP: string;
  ok: boolean;
  key?: string;
  attempts?: number;
  code?: string;
  message?: string;
  end: number;
}

interface Run {
  outcomes: Outcome[];
  /** Children killed for running past CHILD_BOUND_MS, and children that exited non-zero, with stderr. */
  problems: string[];
}

const network = network4;

/** Starts the acquirer processes, lets them all go at once, runs `during` meanwhile, collects outcomes. */
async function runAcquirers(
  cluster: EtcdCluster,
  opts: { prefix: string; network: LeaseNetwork; commandTimeoutMs: number; spreadMs: number },
  during?: () => Promise<void>,
): Promise<Run> {
  const children: ChildProcessWithoutNullStreams[] = [];
  const problems: string[] = [];
  try {
    const finished = [] as Promise<string>[];
    const connected = [] as Promise<void>[];
    for (let p = 0; p < PROCESSES; p++) {
      const child = spawn(
        process.execPath,
        [
          FIXTURE,
          cluster.endpoints.join(","),
          opts.prefix,
          JSON.stringify(opts.network),
          String(PER_PROCESS),
          String(p),
          String(opts.commandTimeoutMs),
          String(opts.spreadMs),
        ],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
      children.push(child);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString("utf8");
      });
      connected.push(
        new Promise((resolve, reject) => {
          child.stderr.on("data", (b: Buffer) => {
            stderr += b.toString("utf8");
            if (stderr.includes("connected\n")) resolve();
          });
          child.once("exit", () => reject(new Error(`acquirer ${p} exited before connecting: ${stderr}`)));
        }),
      );
      finished.push(
        new Promise((resolve) => {
          const bound = setTimeout(() => {
            problems.push(`acquirer process ${p} still ran after ${CHILD_BOUND_MS} ms`);
            child.kill("SIGKILL");
          }, CHILD_BOUND_MS);
          child.once("exit", (code, signal) => {
            clearTimeout(bound);
            if (code !== 0) problems.push(`acquirer process ${p} exited with ${code ?? signal}: ${stderr}`);
            resolve(stdout);
          });
        }),
      );
    }
    await Promise.all(connected);
    for (const child of children) child.stdin.end("go\n");
    await during?.();
    const outputs = await Promise.all(finished);
    const outcomes = outputs.flatMap((out) => (out === "" ? [] : (JSON.parse(out) as Outcome[])));
    return { outcomes, problems };
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

interface Entry {
  key: string;
  subnet: LeaseSubnet;
  publicIP: string;
}

/** Every lease under the prefix, as etcdctl sees it. */
async function scan(cluster: EtcdCluster, prefix: string): Promise<Entry[]> {
  const out = await cluster.etcdctlOk(["get", "--prefix", `${prefix}/subnets/`, "-w", "json"]);
  const kvs = (JSON.parse(out) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
  return kvs.map((kv) => {
    const key = Buffer.from(kv.key, "base64").toString("utf8");
    const subnet = parseLeaseKey(key.slice(`${prefix}/subnets/`.length));
    const value = decodeLeaseValue(Buffer.from(kv.value, "base64"));
    if (subnet === null || !value.ok)
      throw new Error(`etcd holds a key podnet should not have written: ${key}`);
    return { key, subnet, publicIP: value.attrs.publicIP };
  });
}

/** Asserts that no two leases overlap, no host holds two, and every lease fits the network. */
function expectConsistent(entries: Entry[], net: LeaseNetwork): void {
  const owners = entries.map((e) => e.publicIP);
  expect(new Set(owners).size, "a host holds two leases").toBe(owners.length);
  for (const e of entries) expect(rangeContains(net.ipv4!, e.subnet.ipv4), e.key).toBe(true);
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [a, b] = [entries[i]!, entries[j]!];
      expect(
        ipv4NetsOverlap(a.subnet.ipv4, b.subnet.ipv4),
        `${formatLeaseKey(a.subnet)} overlaps ${b.key}`,
      ).toBe(false);
    }
  }
}

describe.skipIf(!etcdAvailable())("concurrent acquirers in several processes", () => {
  beforeAll(() => {
    if (!existsSync(BUILT)) {
      throw new Error(
        `${BUILT} is missing: run \`pnpm run build\` first (the acquirer processes load the build)`,
      );
    }
  });

  describe("one etcd", () => {
    const etcd = useEtcd();

    it("gives out exactly as many leases as there are subnets, the rest get the out-of-subnets error", async () => {
      const cluster = etcd();
      const net = network("10.9.0.0/22", 27, "10.9.0.32", "10.9.3.224");
      const size = rangeSize(net.ipv4!);
      expect(size).toBe(31);
      const run = await runAcquirers(cluster, {
        prefix: "/burst/network",
        network: net,
        commandTimeoutMs: 5000,
        spreadMs: 0,
      });
      expect(run.problems).toEqual([]);
      expect(run.outcomes).toHaveLength(PROCESSES * PER_PROCESS);

      const won = run.outcomes.filter((o) => o.ok);
      const lost = run.outcomes.filter((o) => !o.ok);
      expect(won).toHaveLength(size);
      expect(lost.map((o) => o.code)).toEqual(lost.map(() => "exhausted"));
      expect(lost[0]!.message).toContain("10.9.0.32 … 10.9.3.224 (/27), 31 in all");

      const entries = await scan(cluster, "/burst/network");
      expectConsistent(entries, net);
      expect(entries).toHaveLength(size);
      const byKey = new Map(entries.map((e) => [e.key, e.publicIP]));
      for (const o of won) expect(byKey.get(o.key!), o.publicIP).toBe(o.publicIP);

      // Every lost race revoked its grant: exactly one etcd lease per key remains.
      const leases = (await cluster.etcdctlOk(["lease", "list"])).split("\n")[0];
      expect(leases).toBe(`found ${size} leases`);
    }, 90_000);
  });

  describe("three etcd members, leader killed mid-run", () => {
    const etcd = useEtcd({ members: 3 });

    it("never duplicates or overlaps; every acquirer ends with a lease or a clear error", async () => {
      const cluster = etcd();
      const prefix = "/failover/network";
      const net = network("10.10.0.0/21", 27, "10.10.0.32", "10.10.7.224");
      const size = rangeSize(net.ipv4!);
      let killedAt = 0;
      const run = await runAcquirers(
        cluster,
        { prefix, network: net, commandTimeoutMs: 2000, spreadMs: 2500 },
        async () => {
          // Wait until acquisitions are under way (leases in etcd), then kill the leader.
          await waitFor(
            async () => {
              const keys = await cluster.etcdctl(["get", "--prefix", "--keys-only", `${prefix}/subnets/`]);
              return keys.stdout.split("\n").filter((l) => l.trim() !== "").length >= 5;
            },
            { what: "five leases written by the acquirers", timeoutMs: 30_000 },
          );
          const leader = await cluster.leader();
          expect(leader).toBeDefined();
          killedAt = Date.now();
          await leader!.kill();
        },
      );
      expect(run.problems).toEqual([]);
      expect(run.outcomes).toHaveLength(PROCESSES * PER_PROCESS);
      // The kill landed while acquirers were still working.
      expect(run.outcomes.some((o) => o.end > killedAt)).toBe(true);

      const won = run.outcomes.filter((o) => o.ok);
      expect(won.length).toBeGreaterThan(0);
      expect(won.length).toBeLessThanOrEqual(size);
      for (const o of run.outcomes.filter((x) => !x.ok)) {
        expect(["exhausted", "unavailable", "conflict"], `${o.publicIP}: ${o.code} ${o.message}`).toContain(
          o.code,
        );
        expect(o.message).toMatch(/^[a-z].*[a-z0-9)?]$/i);
        expect(o.message).not.toMatch(/\n\s+at /);
      }

      await cluster.waitForLeader();
      const entries = await scan(cluster, prefix);
      expectConsistent(entries, net);
      const byKey = new Map(entries.map((e) => [e.key, e.publicIP]));
      for (const o of won) expect(byKey.get(o.key!), o.publicIP).toBe(o.publicIP);
    }, 90_000);
  });
});
