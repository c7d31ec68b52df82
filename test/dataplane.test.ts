/**
 * The VXLAN data plane in real network namespaces: three hosts on a bridge, leases built by
 * hand, plans applied with iproute2, traffic across the overlay checked with a TCP echo.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodeLeaseValue,
  isPodnetError,
  type Lease,
  type LeaseAttrs,
  parseIPv4Cidr,
} from "@podnet/ipam-core";
import {
  applyDataPlane,
  compareKernel,
  type DataPlanePlan,
  planDataPlane,
  type ResolvedConfig,
  readKernelState,
  readKernelStateFor,
  removeDataPlane,
  validateConfig,
  vtepMacFor,
} from "@podnet/netcfg";
import { ipIn, type LabHost, netnsUnavailableReason, reach, useNetnsLab } from "@podnet/test-harness/netns";
import { describe, expect, it } from "vitest";

function config(backend: Record<string, unknown> = {}): ResolvedConfig {
  const result = validateConfig({ Network: "10.5.0.0/16", Backend: { Type: "vxlan", ...backend } });
  return result.resolved ?? expect.fail(JSON.stringify(result.errors));
}

/** Host i's lease: subnet 10.5.i.0/24, its underlay address, a VtepMAC derived from both. */
function leaseOf(i: number, host: LabHost): Lease {
  const subnet = `10.5.${i}.0/24`;
  const attrs: LeaseAttrs = {
    publicIP: host.ip,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: JSON.stringify({ VNI: 1, VtepMAC: vtepMacFor(`${subnet} ${host.ip}`) }),
  };
  return {
    key: `/coreos.com/network/subnets/10.5.${i}.0-24`,
    subnet: { ipv4: parseIPv4Cidr(subnet) ?? expect.fail(subnet) },
    attrs,
    value: encodeLeaseValue(attrs),
    etcdLease: "1",
    modRevision: 1,
    createRevision: 1,
  };
}

const skipReason = netnsUnavailableReason();

describe.skipIf(skipReason !== null)(
  `the VXLAN data plane in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    const lab = useNetnsLab(3, { echo: true });
    const hosts = () => lab().hosts;
    const leases = () => hosts().map((h, i) => leaseOf(i + 1, h));
    const vtep = (i: number) => `10.5.${i + 1}.0`;
    const planFor = (i: number, opts: { cfg?: ResolvedConfig; peers?: Lease[] } = {}): DataPlanePlan => {
      const host = hosts()[i] ?? expect.fail(`no host ${i}`);
      return planDataPlane({
        config: opts.cfg ?? config(),
        own: leases()[i] ?? expect.fail(`no lease ${i}`),
        peers: opts.peers ?? leases(),
        underlay: { dev: host.dev, ip: host.ip, mtu: host.mtu, directNets: [lab().underlayNet] },
      });
    };
    const applyAll = async (cfg?: ResolvedConfig) =>
      Promise.all(hosts().map((h, i) => applyDataPlane(planFor(i, cfg ? { cfg } : {}), { netns: h.ns })));
    const expectFullMesh = async () => {
      const pairs = hosts().flatMap((a) => hosts().flatMap((b, j) => (a === b ? [] : [[a, b, j] as const])));
      const answers = await Promise.all(pairs.map(([a, , j]) => reach(a.ns, vtep(j))));
      expect(answers).toEqual(pairs.map(([, b]) => b.ns));
    };

    it("programs every host so each reaches every other host's overlay address", async () => {
      const results = await applyAll();
      for (const r of results) expect(r.changes.length).toBeGreaterThan(0);
      const h1 = hosts()[0] ?? expect.fail("no host");
      const state = await readKernelState("flannel.1", { netns: h1.ns });
      expect(state.device).toMatchObject({
        kind: "vxlan",
        vni: 1,
        port: 8472,
        local: h1.ip,
        dev: "eth0",
        learning: false,
        gbp: false,
        mtu: 1450,
        mac: vtepMacFor(`10.5.1.0/24 ${h1.ip}`),
        up: true,
        addresses: ["10.5.1.0/32"],
      });
      expect(state.neighbours.map((n) => `${n.ip} ${n.mac} ${n.state}`).sort()).toEqual([
        `10.5.2.0 ${vtepMacFor(`10.5.2.0/24 ${hosts()[1]?.ip}`)} PERMANENT`,
        `10.5.3.0 ${vtepMacFor(`10.5.3.0/24 ${hosts()[2]?.ip}`)} PERMANENT`,
      ]);
      expect(compareKernel(planFor(0), state).filter((c) => c.status !== "ok")).toEqual([]);
      await expectFullMesh();
    });

    it("a second apply changes nothing", async () => {
      for (const r of await applyAll()) expect(r.changes).toEqual([]);
    });

    it("restores a route deleted by hand", async () => {
      const h1 = hosts()[0] ?? expect.fail("no host");
      await ipIn(h1.ns, ["route", "del", "10.5.2.0/24"]);
      const plan = planFor(0);
      const before = compareKernel(plan, await readKernelStateFor(plan, { netns: h1.ns }));
      expect(before.filter((c) => c.status !== "ok")).toEqual([
        { entry: "10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink", kind: "route", status: "missing" },
      ]);
      const { changes } = await applyDataPlane(plan, { netns: h1.ns });
      expect(changes.map((c) => `${c.kind}:${c.action}`)).toEqual(["route:replace"]);
      expect(await reach(h1.ns, vtep(1))).toBe(hosts()[1]?.ns);
    });

    it("reports and repairs a wrong MAC and a stranger's entries", async () => {
      const h1 = hosts()[0] ?? expect.fail("no host");
      await ipIn(h1.ns, [
        "neigh",
        "replace",
        "10.5.2.0",
        "lladdr",
        "0e:00:00:00:00:99",
        "dev",
        "flannel.1",
        "nud",
        "permanent",
      ]);
      await ipIn(h1.ns, [
        "neigh",
        "replace",
        "10.5.9.0",
        "lladdr",
        "0e:00:00:00:00:09",
        "dev",
        "flannel.1",
        "nud",
        "permanent",
      ]);
      await ipIn(h1.ns, ["route", "replace", "10.5.9.0/24", "via", "10.5.9.0", "dev", "flannel.1", "onlink"]);
      const plan = planFor(0);
      const report = compareKernel(plan, await readKernelStateFor(plan, { netns: h1.ns }));
      expect(report.filter((c) => c.status !== "ok")).toEqual([
        {
          entry: `10.5.2.0 lladdr ${plan.neighbours.find((n) => n.ip === "10.5.2.0")?.mac} dev flannel.1`,
          kind: "neighbour",
          status: "wrong-mac",
          detail: "has 0e:00:00:00:00:99",
        },
        { entry: "10.5.9.0/24 via 10.5.9.0 dev flannel.1 onlink", kind: "route", status: "stale" },
        { entry: "10.5.9.0 lladdr 0e:00:00:00:00:09 dev flannel.1", kind: "neighbour", status: "stale" },
      ]);
      const { changes } = await applyDataPlane(plan, { netns: h1.ns });
      expect(changes.map((c) => `${c.kind}:${c.action}`)).toEqual([
        "route:delete",
        "neighbour:delete",
        "neighbour:replace",
      ]);
      const after = compareKernel(plan, await readKernelStateFor(plan, { netns: h1.ns }));
      expect(after.every((c) => c.status === "ok")).toBe(true);
      expect(await reach(h1.ns, vtep(1))).toBe(hosts()[1]?.ns);
    });

    it("deletes a gone peer's neighbour, fdb entry and route", async () => {
      const h1 = hosts()[0] ?? expect.fail("no host");
      const h3Mac = vtepMacFor(`10.5.3.0/24 ${hosts()[2]?.ip}`);
      const without3 = planFor(0, { peers: leases().slice(0, 2) });
      const { changes } = await applyDataPlane(without3, { netns: h1.ns });
      expect(changes.map((c) => `${c.kind}:${c.action}`)).toEqual([
        "route:delete",
        "neighbour:delete",
        "fdb:delete",
      ]);
      const state = await readKernelState("flannel.1", { netns: h1.ns });
      expect(state.routes.map((r) => r.dst)).toEqual(["10.5.2.0/24"]);
      expect(state.neighbours.map((n) => n.ip)).toEqual(["10.5.2.0"]);
      expect(state.fdb.some((f) => f.mac === h3Mac)).toBe(false);
      expect(await reach(h1.ns, vtep(2), 500)).toBeNull();
      await applyDataPlane(planFor(0), { netns: h1.ns });
      expect(await reach(h1.ns, vtep(2))).toBe(hosts()[2]?.ns);
    });

    it("re-creates a device deleted by hand", async () => {
      const h2 = hosts()[1] ?? expect.fail("no host");
      expect(await removeDataPlane("flannel.1", { netns: h2.ns })).toBe(true);
      expect(await removeDataPlane("flannel.1", { netns: h2.ns })).toBe(false);
      expect(await readKernelState("flannel.1", { netns: h2.ns })).toEqual({
        neighbours: [],
        fdb: [],
        routes: [],
      });
      const { changes } = await applyDataPlane(planFor(1), { netns: h2.ns });
      expect(changes[0]).toMatchObject({ kind: "device", action: "create" });
      await expectFullMesh();
    });

    it("with DirectRouting, routes peers on the segment via their PublicIP, and back", async () => {
      const direct = config({ DirectRouting: true });
      await applyAll(direct);
      const h1 = hosts()[0] ?? expect.fail("no host");
      const state = await readKernelStateFor(planFor(0, { cfg: direct }), { netns: h1.ns });
      expect(state.neighbours).toEqual([]);
      expect(state.fdb).toEqual([]);
      expect(state.routes.map((r) => `${r.dst} via ${r.via} dev ${r.dev}`).sort()).toEqual([
        `10.5.2.0/24 via ${hosts()[1]?.ip} dev eth0`,
        `10.5.3.0/24 via ${hosts()[2]?.ip} dev eth0`,
      ]);
      await expectFullMesh();
      for (const r of await applyAll(direct)) expect(r.changes).toEqual([]);
      await applyAll();
      for (const r of await applyAll()) expect(r.changes).toEqual([]);
      await expectFullMesh();
    });
  },
);

describe("a missing iproute2", () => {
  it("gives a one-line PodnetError naming the tool", async () => {
    const empty = await mkdtemp(join(tmpdir(), "podnet-nopath-"));
    const path = process.env["PATH"];
    process.env["PATH"] = empty;
    try {
      const err = await readKernelState("flannel.1").then(
        () => expect.fail("no error"),
        (e: unknown) => e,
      );
      expect(isPodnetError(err, "host")).toBe(true);
      expect(err instanceof Error && err.message).toMatch(/^the 'ip' command \(iproute2\) is not installed/);
      expect(err instanceof Error && err.message.includes("\n")).toBe(false);
    } finally {
      process.env["PATH"] = path;
      await rm(empty, { recursive: true, force: true });
    }
  });
});
