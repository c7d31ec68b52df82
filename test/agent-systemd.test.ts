/**
 * `podnet agent` as a service, end to end in network namespaces with a real etcd: systemd's
 * notification protocol (a unix datagram socket as NOTIFY_SOCKET, read by a small python3
 * receiver, since Node has no AF_UNIX datagram socket), a flanneld unit's ExecStart line run
 * unchanged, and health that tells the truth through etcd killed and frozen.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { podnetBuilt } from "@podnet/test-harness/cli";
import { ETCD_BIN, etcdAvailable } from "@podnet/test-harness/etcd";
import { ipIn, netnsUnavailableReason } from "@podnet/test-harness/netns";
import { tempDir } from "@podnet/test-harness/tmp";
import { useTempDirs } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentLab, agents, until } from "./agent-lab.js";

const python = spawnOk("python3");
const skipReason = !etcdAvailable()
  ? `etcd is not installed (${ETCD_BIN})`
  : !podnetBuilt()
    ? "podnet is not built; run `pnpm run build`"
    : !spawnOk("systemd-notify")
      ? "systemd-notify is not installed"
      : netnsUnavailableReason();

function spawnOk(cmd: string): boolean {
  try {
    return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
  } catch {
    return false;
  }
}

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode().replace("\\n", " | "), flush=True)
`;

/** A unix datagram socket that collects what is sent to it, one message per entry. */
interface NotifySocket {
  readonly path: string;
  readonly messages: string[];
  close(): void;
}

async function notifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn("python3", ["-c", RECEIVER, path], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const messages: string[] = [];
  let buffered = "";
  await new Promise<void>((ready, fail) => {
    child.on("error", fail);
    child.stdout?.on("data", (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "listening") ready();
        else messages.push(line);
      }
    });
  });
  return { path, messages, close: () => child.kill("SIGKILL") };
}

describe.skipIf(skipReason !== null || !python)(
  `podnet agent as a service${skipReason ? ` (skipped: ${skipReason})` : !python ? " (skipped: python3 is not installed)" : ""}`,
  () => {
    useTempDirs();
    let lab: AgentLab;

    beforeAll(async () => {
      lab = await AgentLab.create(2, await tempDir("podnet-agent-systemd-"));
      const file = join(lab.dir, "network.json");
      await writeFile(file, '{"Network":"10.9.0.0/16","Backend":{"Type":"vxlan","VNI":9}}');
      const set = await lab.podnet(["config", "set", file]);
      expect(set.code, set.stderr).toBe(0);
    }, 120_000);

    afterAll(async () => {
      await lab?.destroy();
    }, 60_000);

    it("tells systemd READY=1 only once the peers are programmed, STATUS= on the way, STOPPING=1 on SIGTERM", async () => {
      lab.startAgent(2, [], { tag: "-notify" });
      const peerIp = await until("host 2 has its subnet", () => lab.overlayIp(2));
      const sock = await notifySocket(join(lab.dir, "notify.sock"));
      try {
        const agent = lab.startAgent(1, [], {
          tag: "-notify",
          env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "400000" },
        });
        const ready = await until("READY=1 arrives", async () =>
          sock.messages.find((m) => m.includes("READY=1")),
        );
        // At that moment the peer is programmed already: its route is in the kernel.
        expect(await ipIn(lab.host(1).ns, ["-4", "route", "show"])).toContain(
          `${peerIp}/24 via ${peerIp} dev flannel.9 onlink`,
        );
        expect(ready).toMatch(/STATUS=ready: 1 peer\(s\) on flannel\.9/);
        const before = sock.messages.slice(0, sock.messages.indexOf(ready));
        expect(before.some((m) => m.startsWith("STATUS=not ready"))).toBe(true);
        expect(sock.messages.filter((m) => m.includes("READY=1"))).toHaveLength(1);
        await until("the watchdog is fed", async () => sock.messages.includes("WATCHDOG=1"));
        agent.child.kill("SIGTERM");
        expect(await agent.exit).toBe(0);
        expect(sock.messages.some((m) => m.startsWith("STOPPING=1"))).toBe(true);
      } finally {
        sock.close();
      }
      const other = agents.get(lab.host(2).ns);
      other?.child.kill("SIGTERM");
      expect(await other?.exit).toBe(0);
      agents.clear();
    }, 90_000);

    it("starts from a flanneld unit's ExecStart line unchanged (Go flags, -v=2, --ip-masq=true)", async () => {
      const unit = await readFile(new URL("./fixtures/flanneld.service", import.meta.url), "utf8");
      const line = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
      const [binary, ...flags] = line.split(/\s+/);
      expect(binary).toBe("/usr/bin/flanneld");
      const subnetFile = join(lab.dir, "flanneld-unit.env");
      // Only the subnet file moves (the test must not write /run/flannel); every other flag is as written.
      const args = flags.map((f) => (f.startsWith("-subnet-file=") ? `-subnet-file=${subnetFile}` : f));
      expect(args).toContain("-v=2");
      expect(args).toContain("--ip-masq=true");
      const h = lab.host(1);
      const child = spawn("ip", ["netns", "exec", h.ns, process.execPath, lab.bin, "agent", ...args], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      const agent = lab.track(h, child, subnetFile);
      await until("the agent wrote its subnet file", async () =>
        (await readFile(subnetFile, "utf8")).includes("FLANNEL_IPMASQ=true"),
      );
      await until("it is ready", async () =>
        (await lab.fetchHealth(1, 9102, "/readyz")).startsWith("200 ready"),
      );
      // -v=2 is glog's verbosity: debug lines are on, and the agent did not print a version and exit.
      expect(agent.child.exitCode).toBeNull();
      expect(agent.log()).toContain(`using interface eth0`);
      agent.child.kill("SIGTERM");
      expect(await agent.exit).toBe(0);
      agents.clear();
    }, 90_000);

    it("keeps /healthz 200 and the pings going through etcd killed and frozen, and says so", async () => {
      const flags = ["--healthz-port", "9103", "--etcd-probe-interval", "500ms"];
      const a1 = lab.startAgent(1, flags, { tag: "-outage" });
      lab.startAgent(2, [], { tag: "-outage" });
      const [ip1, ip2] = await until("both hosts have subnets", () =>
        Promise.all([lab.overlayIp(1), lab.overlayIp(2)]),
      );
      await until("host 1 pings host 2", () => lab.pings(1, ip2));
      await until("host 1 is ready", async () =>
        (await lab.fetchHealth(1, 9103, "/readyz")).startsWith("200 ready"),
      );
      const metric = async (name: string) => {
        const text = await lab.fetchHealth(1, 9103, "/metrics");
        return new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];
      };
      expect(await metric("podnet_etcd_up")).toBe("1");

      for (const how of ["killed", "frozen"] as const) {
        const mark = a1.log().length;
        if (how === "killed") await lab.stopEtcd();
        else lab.freezeEtcd(true);
        await until(
          `podnet_etcd_up goes 0 (etcd ${how})`,
          async () => (await metric("podnet_etcd_up")) === "0",
        );
        const health = await lab.fetchHealth(1, 9103, "/healthz");
        expect(health).toMatch(/^200 ok: data plane kept; etcd unreachable for \d/);
        expect(a1.log().slice(mark)).toMatch(/etcd stopped answering \(data plane kept as it is/);
        // The data plane works through the outage: every ping answers, no waiting.
        for (let n = 0; n < 3; n++) {
          expect(await lab.pings(1, ip2)).toBe(true);
          expect(await lab.pings(2, ip1)).toBe(true);
        }
        if (how === "killed") await lab.startEtcd();
        else lab.freezeEtcd(false);
        await until(
          `podnet_etcd_up goes back to 1 (etcd ${how})`,
          async () => (await metric("podnet_etcd_up")) === "1",
        );
        expect(a1.log().slice(mark)).toMatch(/etcd answers again after an outage of \d+(\.\d)?s/);
        expect((await lab.fetchHealth(1, 9103, "/healthz")).trim()).toBe("200 ok");
      }
      expect(Number(await metric("podnet_etcd_outages_total"))).toBeGreaterThanOrEqual(2);
      expect(Number(await metric("podnet_last_sync_timestamp_seconds"))).toBeGreaterThan(
        Date.now() / 1000 - 60,
      );
    }, 150_000);
  },
);
