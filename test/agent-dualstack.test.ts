/**
 * `podnet agent` with IPv6, end to end: three hosts on a bridge with IPv4 and IPv6 underlay
 * addresses, etcd in the switch namespace, one agent per host. Each network has its own
 * prefix, VNI and ranges, and its agents stop with --release-on-exit before the next one, so
 * the cases do not see each other's devices. Reachability is `ping` over the overlay.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { podnetBuilt } from "@podnet/test-harness/cli";
import { ETCD_BIN, etcdAvailable } from "@podnet/test-harness/etcd";
import { ipIn, netnsUnavailableReason } from "@podnet/test-harness/netns";
import { tempDir } from "@podnet/test-harness/tmp";
import { useTempDirs } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentLab, agents, okIn, until } from "./agent-lab.js";

const skipReason = !etcdAvailable()
  ? `etcd is not installed (${ETCD_BIN})`
  : !podnetBuilt()
    ? "podnet is not built; run `pnpm run build`"
    : netnsUnavailableReason();

const HOSTS = [1, 2, 3] as const;

describe.skipIf(skipReason !== null)(
  `podnet agent with IPv6${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    useTempDirs();
    let lab: AgentLab;

    beforeAll(async () => {
      lab = await AgentLab.create(3, await tempDir("podnet-agent-v6-"), { ipv6: true });
    }, 120_000);

    afterAll(async () => {
      await lab?.destroy();
    }, 60_000);

    /** Pushes `config` under `prefix` with the built podnet. */
    async function pushConfig(prefix: string, config: object): Promise<void> {
      const file = join(lab.dir, `${prefix.replaceAll("/", "_")}.json`);
      await writeFile(file, JSON.stringify(config));
      const set = await lab.podnet(["--prefix", prefix, "config", "set", file]);
      expect(set.code, set.stderr).toBe(0);
    }

    /** Starts the three agents at the same moment on `prefix`. */
    function startAll(prefix: string, extra: readonly string[] = []): void {
      for (const i of HOSTS) {
        lab.startAgent(i, ["--etcd-prefix", prefix, "--release-on-exit", ...extra], {
          tag: prefix.replaceAll("/", "-"),
        });
      }
    }

    /** Stops every agent with SIGTERM and waits for exit status 0. */
    async function stopAll(): Promise<void> {
      for (const a of [...agents.values()]) {
        if (a.child.exitCode !== null) continue;
        a.child.kill("SIGTERM");
        expect(await a.exit).toBe(0);
      }
      agents.clear();
    }

    const pingMesh = async (addresses: readonly string[]) => {
      for (const from of HOSTS) {
        for (const to of HOSTS) {
          if (from === to) continue;
          const address = addresses[to - 1] ?? "";
          await until(`host ${from} pings ${address}`, () => lab.pings(from, address));
        }
      }
    };

    /** `podnet route --kernel` on host i (its own lease by its subnet file): exit status and output. */
    const routeKernel = async (i: number, prefix: string) => {
      const agent = agents.get(lab.host(i).ns);
      return lab.podnet(
        ["--prefix", prefix, "route", "--kernel", "--subnet-file", agent?.subnetFile ?? ""],
        lab.host(i).ns,
      );
    };

    it("connects three dual-stack hosts over IPv4 and IPv6, agents started together", async () => {
      const prefix = "/dual";
      await pushConfig(prefix, {
        Network: "10.6.0.0/16",
        EnableIPv6: true,
        IPv6Network: "fc00:6::/48",
        Backend: { Type: "vxlan", VNI: 6 },
      });
      startAll(prefix, ["--ip-masq"]);
      const v4 = await until("every host wrote IPv4 lines", () =>
        Promise.all(HOSTS.map((i) => lab.overlayIp(i))),
      );
      const v6 = await until("every host wrote IPv6 lines", () =>
        Promise.all(HOSTS.map((i) => lab.overlayIpv6(i))),
      );
      await pingMesh(v4);
      await pingMesh(v6);
      // The lease is flanneld's dual-stack key and value: A-24&B-64, PublicIPv6 and BackendV6Data.
      const key = `${prefix}/subnets/${v4[0]}-24&${v6[0]}-64`;
      const value = await lab.etcdctl(["get", "--print-value-only", key]);
      expect(value.trim()).toMatch(
        /^\{"PublicIP":"192\.0\.2\.11","PublicIPv6":"2001:db8::11","BackendType":"vxlan","BackendData":\{"VNI":6,"VtepMAC":"([0-9a-f:]{17})"\},"BackendV6Data":\{"VNI":6,"VtepMAC":"([0-9a-f:]{17})"\}\}$/,
      );
      // flannel-v6.6 is the IPv6 VTEP: its own MAC, the one in BackendV6Data.
      const link = JSON.parse(await ipIn(lab.host(1).ns, ["-j", "-d", "link", "show", "flannel-v6.6"])) as {
        address: string;
        linkinfo: { info_data: { id: number; local6: string } };
      }[];
      expect(link[0]?.linkinfo.info_data).toMatchObject({ id: 6, local6: "2001:db8::11" });
      expect(value).toContain(`"BackendV6Data":{"VNI":6,"VtepMAC":"${link[0]?.address}"}`);
      expect(await lab.subnetFile(1)).toBe(
        `FLANNEL_NETWORK=10.6.0.0/16\nFLANNEL_SUBNET=${v4[0]?.replace(/\.0$/, ".1")}/24\n` +
          `FLANNEL_IPV6_NETWORK=fc00:6::/48\nFLANNEL_IPV6_SUBNET=${v6[0]}1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
      );
      // IPv6 peers: neighbour, fdb and an onlink route on flannel-v6.6.
      const routes6 = await ipIn(lab.host(1).ns, ["-6", "route", "show", "dev", "flannel-v6.6"]);
      expect(routes6).toMatch(new RegExp(`^${v6[1]}/64 via ${v6[1]} (metric \\d+ )?onlink`, "m"));
      // --ip-masq masquerades IPv6 with ip6tables.
      const nat6 = await until("host 1 has its ip6tables masquerade rules", async () => {
        const text = await okIn(lab.host(1).ns, ["ip6tables-save", "-t", "nat"]);
        return text.includes(`-A PODNET-POSTRTG -s fc00:6::/48 ! -d ff00::/8 `) && text;
      });
      expect(nat6).toContain(`-A PODNET-POSTRTG -s ${v6[0]}/64 -d fc00:6::/48 `);
      // route --kernel shows both devices and finds nothing wrong.
      for (const i of HOSTS) {
        const r = await routeKernel(i, prefix);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain("flannel-v6.6");
      }
    }, 150_000);

    it("drops a deleted lease's IPv4 and IPv6 entries on every other host", async () => {
      const prefix = "/dual";
      const [v4, v6] = [await lab.overlayIp(3), await lab.overlayIpv6(3)];
      await lab.etcdctl(["del", `${prefix}/subnets/${v4}-24&${v6}-64`]);
      expect(await agents.get(lab.host(3).ns)?.exit).toBe(1);
      for (const i of [1, 2]) {
        await until(`host ${i} drops host 3's IPv4 and IPv6 entries`, async () => {
          const ns = lab.host(i).ns;
          const [r4, r6, n6, f6] = await Promise.all([
            ipIn(ns, ["-4", "route", "show"]),
            ipIn(ns, ["-6", "route", "show"]),
            ipIn(ns, ["-6", "neigh", "show", "dev", "flannel-v6.6"]),
            okIn(ns, ["bridge", "fdb", "show", "dev", "flannel-v6.6"]),
          ]);
          return (
            !r4.includes(`${v4}/24`) &&
            !r6.includes(`${v6}/64`) &&
            !n6.includes(`${v6} `) &&
            !f6.includes(`dst ${AgentLab.underlayIpv6(3)} `)
          );
        });
      }
      agents.delete(lab.host(3).ns);
      await stopAll();
    }, 90_000);

    it("with DirectRouting, routes same-segment peers via their addresses, and route --kernel agrees", async () => {
      const prefix = "/direct";
      await pushConfig(prefix, {
        Network: "10.7.0.0/16",
        EnableIPv6: true,
        IPv6Network: "fc00:7::/48",
        Backend: { Type: "vxlan", VNI: 7, DirectRouting: true },
      });
      startAll(prefix);
      const v4 = await until("every host wrote IPv4 lines", () =>
        Promise.all(HOSTS.map((i) => lab.overlayIp(i))),
      );
      const v6 = await until("every host wrote IPv6 lines", () =>
        Promise.all(HOSTS.map((i) => lab.overlayIpv6(i))),
      );
      await until("host 1 routes host 2 directly", async () =>
        (await ipIn(lab.host(1).ns, ["-4", "route", "show"])).includes(
          `${v4[1]}/24 via ${lab.host(2).ip} dev eth0`,
        ),
      );
      await until("host 1 routes host 2 directly over IPv6", async () =>
        (await ipIn(lab.host(1).ns, ["-6", "route", "show"])).includes(
          `${v6[1]}/64 via ${AgentLab.underlayIpv6(2)} dev eth0`,
        ),
      );
      for (const i of HOSTS) {
        const r = await routeKernel(i, prefix);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(/all \d+ entries match the kernel/);
      }
      // doctor plans as the agent does (DirectRouting included) and checks both devices.
      for (const i of HOSTS) {
        const agent = agents.get(lab.host(i).ns);
        const r = await lab.podnet(
          ["--prefix", prefix, "doctor", "--subnet-file", agent?.subnetFile ?? "", "-o", "json"],
          lab.host(i).ns,
        );
        const report = JSON.parse(r.stdout) as {
          ok: boolean;
          checks: { name: string; status: string; detail: string }[];
        };
        const failed = report.checks.filter((c) => c.status === "fail");
        expect(failed, JSON.stringify(failed)).toEqual([]);
        expect(report.checks.map((c) => c.name)).toEqual(
          expect.arrayContaining(["device", "routes", "device-v6", "address-v6", "routes-v6"]),
        );
        expect(report.checks.find((c) => c.name === "routes-v6")?.status).toBe("ok");
      }
      await stopAll();
    }, 120_000);

    it("connects three hosts on an IPv6-only network", async () => {
      const prefix = "/v6only";
      await pushConfig(prefix, {
        EnableIPv4: false,
        EnableIPv6: true,
        IPv6Network: "fc00:8::/48",
        Backend: { Type: "vxlan", VNI: 8 },
      });
      startAll(prefix);
      const v6 = await until("every host wrote IPv6 lines", () =>
        Promise.all(HOSTS.map((i) => lab.overlayIpv6(i))),
      );
      await pingMesh(v6);
      expect(await lab.subnetFile(1)).not.toContain("FLANNEL_SUBNET=");
      expect((await ipIn(lab.host(1).ns, ["link", "show"])).includes("flannel.8")).toBe(false);
      const keys = await lab.etcdctl(["get", "--keys-only", "--prefix", `${prefix}/subnets/`]);
      expect(keys.trim().split("\n").filter(Boolean)).toHaveLength(3);
      expect(keys).toMatch(/&fc00:8:0:[0-9a-f]+::-64$/m);
      await stopAll();
    }, 120_000);
  },
);
