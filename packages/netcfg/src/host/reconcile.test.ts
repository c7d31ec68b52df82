import { describe, expect, it } from "vitest";
import type { KernelState } from "./kernel-state.js";
import type { DataPlanePlan } from "./plan.js";
import { compareKernel, describeChange, diffDataPlane, toBridgeBatch, toIpBatch } from "./reconcile.js";

const PLAN: DataPlanePlan = {
  device: {
    name: "flannel.1",
    vni: 1,
    local: "192.0.2.1",
    dev: "eth0",
    learning: false,
    gbp: false,
    mtu: 1450,
    mac: "0e:00:00:00:00:01",
    address: "10.5.1.0/32",
    family: 4,
  },
  network: "10.5.0.0/16",
  neighbours: [
    { ip: "10.5.2.0", mac: "0e:00:00:00:00:02" },
    { ip: "10.5.3.0", mac: "0e:00:00:00:00:03" },
  ],
  fdb: [
    { mac: "0e:00:00:00:00:02", dst: "192.0.2.2" },
    { mac: "0e:00:00:00:00:03", dst: "192.0.2.3" },
  ],
  routes: [
    { dst: "10.5.2.0/24", via: "10.5.2.0", dev: "flannel.1", onlink: true },
    { dst: "10.5.3.0/24", via: "10.5.3.0", dev: "flannel.1", onlink: true },
    { dst: "10.5.4.0/24", via: "192.0.2.4", dev: "eth0", onlink: false },
  ],
  skipped: [],
};

/** The kernel state that matches a plan exactly. */
function stateOf(plan: DataPlanePlan): KernelState {
  const d = plan.device;
  return {
    device: {
      name: d.name,
      kind: "vxlan",
      vni: d.vni,
      port: d.port ?? 8472,
      local: d.local,
      dev: d.dev,
      learning: d.learning,
      gbp: d.gbp,
      mtu: d.mtu,
      mac: d.mac,
      up: true,
      addresses: [d.address],
    },
    neighbours: plan.neighbours.map((n) => ({ ...n, state: "PERMANENT" })),
    fdb: plan.fdb.map((f) => ({ ...f })),
    routes: plan.routes.map((r) => ({ ...r })),
  };
}

describe("diffDataPlane", () => {
  it("finds nothing to do when the kernel matches the plan", () => {
    expect(diffDataPlane(PLAN, stateOf(PLAN))).toEqual([]);
    expect(compareKernel(PLAN, stateOf(PLAN)).every((c) => c.status === "ok")).toBe(true);
  });

  it("creates everything in spec order on an empty kernel", () => {
    const changes = diffDataPlane(PLAN, { neighbours: [], fdb: [], routes: [] });
    expect(changes.map((c) => `${c.kind}:${c.action}`)).toEqual([
      "device:create",
      "address:replace",
      "neighbour:replace",
      "fdb:replace",
      "route:replace",
      "neighbour:replace",
      "fdb:replace",
      "route:replace",
      "route:replace",
    ]);
    expect(toIpBatch(changes)).toEqual([
      "link add flannel.1 address 0e:00:00:00:00:01 mtu 1450 type vxlan id 1 local 192.0.2.1 dev eth0 dstport 0 nolearning",
      "link set flannel.1 up",
      "addr replace 10.5.1.0/32 dev flannel.1",
      "neigh replace 10.5.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1 nud permanent",
      "route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink",
      "neigh replace 10.5.3.0 lladdr 0e:00:00:00:00:03 dev flannel.1 nud permanent",
      "route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink",
      "route replace 10.5.4.0/24 via 192.0.2.4 dev eth0",
    ]);
    expect(toBridgeBatch(changes)).toEqual([
      "fdb replace 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.2 self permanent",
      "fdb replace 0e:00:00:00:00:03 dev flannel.1 dst 192.0.2.3 self permanent",
    ]);
  });

  it("writes port, learning and gbp into the device", () => {
    const plan = { ...PLAN, device: { ...PLAN.device, port: 4789, learning: true, gbp: true } };
    const [line] = toIpBatch(diffDataPlane(plan, { neighbours: [], fdb: [], routes: [] }));
    expect(line).toMatch(/ dstport 4789 learning gbp$/);
  });

  it("deletes a gone peer's route, then its neighbour, then its fdb entry", () => {
    const state = stateOf(PLAN);
    const plan = {
      ...PLAN,
      neighbours: PLAN.neighbours.slice(1),
      fdb: PLAN.fdb.slice(1),
      routes: PLAN.routes.slice(1),
    };
    const changes = diffDataPlane(plan, state);
    expect(toIpBatch(changes)).toEqual([
      "route del 10.5.2.0/24 via 10.5.2.0 dev flannel.1",
      "neigh del 10.5.2.0 dev flannel.1",
    ]);
    expect(toBridgeBatch(changes)).toEqual(["fdb del 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.2 self"]);
    expect(changes.map((c) => c.kind)).toEqual(["route", "neighbour", "fdb"]);
  });

  it("deletes a gone direct-routing peer's route on the underlay", () => {
    const plan = { ...PLAN, routes: PLAN.routes.slice(0, 2) };
    expect(toIpBatch(diffDataPlane(plan, stateOf(PLAN)))).toEqual([
      "route del 10.5.4.0/24 via 192.0.2.4 dev eth0",
    ]);
  });

  it("replaces a neighbour with the wrong MAC or not permanent, and a moved fdb entry", () => {
    const state = stateOf(PLAN);
    const changes = diffDataPlane(PLAN, {
      ...state,
      neighbours: [
        { ip: "10.5.2.0", mac: "0e:00:00:00:00:99", state: "PERMANENT" },
        { ip: "10.5.3.0", mac: "0e:00:00:00:00:03", state: "REACHABLE" },
      ],
      fdb: [
        { mac: "0e:00:00:00:00:02", dst: "192.0.2.99" },
        { mac: "0e:00:00:00:00:03", dst: "192.0.2.3" },
      ],
    });
    expect(toIpBatch(changes)).toEqual([
      "neigh replace 10.5.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1 nud permanent",
      "neigh replace 10.5.3.0 lladdr 0e:00:00:00:00:03 dev flannel.1 nud permanent",
    ]);
    expect(toBridgeBatch(changes)).toEqual([
      "fdb del 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.99 self",
      "fdb replace 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.2 self permanent",
    ]);
  });

  it("leaves neighbours the kernel manages alone", () => {
    const state = stateOf(PLAN);
    const neighbours = [...state.neighbours, { ip: "10.5.9.0", mac: "", state: "FAILED" }];
    expect(diffDataPlane(PLAN, { ...state, neighbours })).toEqual([]);
  });

  it("replaces a route with the wrong gateway", () => {
    const state = stateOf(PLAN);
    const routes = state.routes.map((r) => (r.dst === "10.5.3.0/24" ? { ...r, via: "10.5.33.0" } : r));
    expect(toIpBatch(diffDataPlane(PLAN, { ...state, routes }))).toEqual([
      "route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink",
    ]);
  });

  it("sets mtu, mac, up and the address in place, and removes other addresses", () => {
    const state = stateOf(PLAN);
    const device = state.device ?? expect.fail("no device");
    const changes = diffDataPlane(PLAN, {
      ...state,
      device: { ...device, mtu: 1500, mac: "0e:00:00:00:00:aa", up: false, addresses: ["10.5.77.0/32"] },
    });
    expect(toIpBatch(changes)).toEqual([
      "link set flannel.1 address 0e:00:00:00:00:01 mtu 1450 up",
      "addr replace 10.5.1.0/32 dev flannel.1",
      "addr del 10.5.77.0/32 dev flannel.1",
    ]);
  });

  it("re-creates a device it cannot change in place, and programs it from scratch", () => {
    const state = stateOf(PLAN);
    const device = state.device ?? expect.fail("no device");
    const changes = diffDataPlane(PLAN, { ...state, device: { ...device, vni: 2, port: 4789 } });
    const lines = toIpBatch(changes);
    expect(lines[0]).toBe("link del flannel.1");
    expect(lines[1]).toMatch(/^link add flannel.1 /);
    // The direct route on the underlay survives the device, so it is left as it is.
    expect(lines.filter((l) => l.startsWith("route"))).toHaveLength(2);
    expect(toBridgeBatch(changes)).toHaveLength(2);
    expect(describeChange(changes[0] ?? expect.fail("no change"))).toBe(
      "delete device flannel.1 (vni 2, want 1; port 4789, want 8472)",
    );
  });
});

describe("compareKernel", () => {
  it("reports missing, stale and wrong-mac entries in plan order, then the kernel's extras", () => {
    const state = stateOf(PLAN);
    const report = compareKernel(PLAN, {
      ...state,
      neighbours: [
        { ip: "10.5.2.0", mac: "0e:00:00:00:00:99", state: "PERMANENT" },
        { ip: "10.5.8.0", mac: "0e:00:00:00:00:08", state: "PERMANENT" },
      ],
      fdb: [
        { mac: "0e:00:00:00:00:02", dst: "192.0.2.2" },
        { mac: "0e:00:00:00:00:08", dst: "192.0.2.8" },
      ],
      routes: [
        state.routes[0] ?? expect.fail(""),
        { dst: "10.5.8.0/24", via: "10.5.8.0", dev: "flannel.1", onlink: true },
      ],
    });
    expect(report).toEqual([
      { entry: "flannel.1", kind: "device", status: "ok" },
      {
        entry: "10.5.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1",
        kind: "neighbour",
        status: "wrong-mac",
        detail: "has 0e:00:00:00:00:99",
      },
      { entry: "0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.2", kind: "fdb", status: "ok" },
      { entry: "10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink", kind: "route", status: "ok" },
      { entry: "10.5.3.0 lladdr 0e:00:00:00:00:03 dev flannel.1", kind: "neighbour", status: "missing" },
      { entry: "0e:00:00:00:00:03 dev flannel.1 dst 192.0.2.3", kind: "fdb", status: "missing" },
      { entry: "10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink", kind: "route", status: "missing" },
      { entry: "10.5.4.0/24 via 192.0.2.4 dev eth0", kind: "route", status: "missing" },
      { entry: "10.5.8.0/24 via 10.5.8.0 dev flannel.1 onlink", kind: "route", status: "stale" },
      { entry: "10.5.8.0 lladdr 0e:00:00:00:00:08 dev flannel.1", kind: "neighbour", status: "stale" },
      { entry: "0e:00:00:00:00:08 dev flannel.1 dst 192.0.2.8", kind: "fdb", status: "stale" },
    ]);
  });

  it("reports a missing device and a device with another MAC", () => {
    expect(compareKernel(PLAN, { neighbours: [], fdb: [], routes: [] })[0]).toEqual({
      entry: "flannel.1",
      kind: "device",
      status: "missing",
    });
    const state = stateOf(PLAN);
    const device = state.device ?? expect.fail("no device");
    expect(compareKernel(PLAN, { ...state, device: { ...device, mac: "0e:00:00:00:00:aa" } })[0]).toEqual({
      entry: "flannel.1",
      kind: "device",
      status: "wrong-mac",
      detail: "mac 0e:00:00:00:00:aa, want 0e:00:00:00:00:01",
    });
  });
});
