/**
 * The difference between a data-plane plan and the kernel's state, as changes and as the
 * `ip -batch` / `bridge -batch` lines that make them; and the same comparison as a report for
 * `podnet route --kernel`. Pure: apply.ts does the reading and the running.
 */

import { formatIPv4, parseIPv4, parseIPv4Cidr } from "@podnet/ipam-core";
import type { KernelDevice, KernelFdb, KernelNeighbour, KernelRoute, KernelState } from "./kernel-state.js";
import {
  type DataPlanePlan,
  type PeerContext,
  type PeerPlan,
  type PlannedDevice,
  type PlannedFdb,
  type PlannedNeighbour,
  type PlannedRoute,
  peerRoute,
} from "./plan.js";

/** The kernel's VXLAN port when a device is created without one. */
const KERNEL_VXLAN_PORT = 8472;

/** One change to the kernel; `reason` says why, for the agent's log. */
export type DataPlaneChange =
  | { readonly kind: "device"; readonly action: "delete"; readonly name: string; readonly reason: string }
  | {
      readonly kind: "device";
      readonly action: "create";
      readonly device: PlannedDevice;
      readonly reason: string;
    }
  | {
      readonly kind: "device";
      readonly action: "set";
      readonly name: string;
      readonly mtu?: number;
      readonly mac?: string;
      readonly up?: true;
      readonly reason: string;
    }
  | {
      readonly kind: "address";
      readonly action: "replace" | "delete";
      readonly dev: string;
      readonly address: string;
      readonly reason: string;
    }
  | {
      readonly kind: "neighbour";
      readonly action: "replace" | "delete";
      readonly dev: string;
      readonly ip: string;
      /** The MAC to set (replace) or the one found (delete). */
      readonly mac: string;
      readonly reason: string;
    }
  | {
      readonly kind: "fdb";
      readonly action: "replace" | "delete";
      readonly dev: string;
      readonly mac: string;
      readonly dst: string;
      readonly reason: string;
    }
  | {
      readonly kind: "route";
      readonly action: "replace" | "delete";
      readonly route: PlannedRoute;
      readonly reason: string;
    };

/** One line of `podnet route --kernel`: a planned or found entry and how the kernel matches the plan. */
export interface KernelComparison {
  /** The entry in iproute2's words, e.g. `10.5.7.0/24 via 10.5.7.0 dev flannel.1 onlink`. */
  readonly entry: string;
  readonly kind: "route" | "neighbour" | "fdb" | "device";
  /** ok; missing from the kernel; stale (in the kernel but not, or not so, in the plan); the wrong MAC. */
  readonly status: "ok" | "missing" | "stale" | "wrong-mac";
  readonly detail?: string;
}

type Status = KernelComparison["status"];

/** The per-entry comparison both the diff and the report are built from. */
type Finding =
  | {
      kind: "neighbour";
      status: Status;
      planned?: PlannedNeighbour;
      found?: KernelNeighbour;
      detail?: string;
    }
  | { kind: "fdb"; status: Status; planned?: PlannedFdb; found?: KernelFdb; detail?: string }
  | { kind: "route"; status: Status; planned?: PlannedRoute; found?: KernelRoute; detail?: string };

/**
 * The changes that turn `state` into `plan`, in the order to run them: the device (a device
 * that cannot be changed in place is deleted and re-created), its address; then deletions of
 * stale routes, neighbours and fdb entries; then per peer neighbour → fdb → route. An equal
 * state gives no changes.
 */
export function diffDataPlane(plan: DataPlanePlan, state: KernelState): DataPlaneChange[] {
  const name = plan.device.name;
  const device = findDevice(plan, state.device);
  const changes: DataPlaneChange[] = [];
  let entries = state;
  if (device.recreate) {
    if (state.device !== undefined)
      changes.push({ kind: "device", action: "delete", name, reason: device.detail ?? "" });
    changes.push({
      kind: "device",
      action: "create",
      device: plan.device,
      reason: device.detail ?? "missing",
    });
    // A new device starts empty: whatever the old one held went with it (direct routes stay).
    entries = { neighbours: [], fdb: [], routes: state.routes.filter((r) => r.dev !== name) };
  } else if (Object.keys(device.set).length > 0) {
    changes.push({ kind: "device", action: "set", name, ...device.set, reason: device.detail ?? "" });
  }
  const addresses = device.recreate ? [] : (state.device?.addresses ?? []);
  if (!addresses.includes(plan.device.address)) {
    changes.push({
      kind: "address",
      action: "replace",
      dev: name,
      address: plan.device.address,
      reason: "missing",
    });
  }
  for (const address of addresses) {
    if (address !== plan.device.address) {
      changes.push({
        kind: "address",
        action: "delete",
        dev: name,
        address,
        reason: "not this host's lease",
      });
    }
  }

  const findings = compareEntries(plan, entries);
  const stale = (kind: Finding["kind"]) =>
    findings.filter((f) => f.kind === kind && f.status === "stale" && !f.planned);
  // Deletions in reverse order of creation: a route goes before the neighbour it resolves through.
  for (const f of stale("route")) {
    if (f.kind === "route" && f.found)
      changes.push({ kind: "route", action: "delete", route: f.found, reason: "stale" });
  }
  for (const f of stale("neighbour")) {
    if (f.kind === "neighbour" && f.found) {
      changes.push({
        kind: "neighbour",
        action: "delete",
        dev: name,
        ip: f.found.ip,
        mac: f.found.mac,
        reason: "stale",
      });
    }
  }
  for (const f of stale("fdb")) {
    if (f.kind === "fdb" && f.found) {
      changes.push({
        kind: "fdb",
        action: "delete",
        dev: name,
        mac: f.found.mac,
        dst: f.found.dst,
        reason: "stale",
      });
    }
  }
  for (const f of findings) {
    if (f.status === "ok") continue;
    const reason = f.detail ?? f.status;
    if (f.kind === "neighbour" && f.planned) {
      changes.push({ kind: "neighbour", action: "replace", dev: name, ...f.planned, reason });
    } else if (f.kind === "fdb" && f.planned) {
      changes.push({ kind: "fdb", action: "replace", dev: name, ...f.planned, reason });
    } else if (f.kind === "route" && f.planned) {
      changes.push({ kind: "route", action: "replace", route: f.planned, reason });
    }
  }
  return changes;
}

/**
 * Compares the plan with the kernel entry by entry, for `podnet route --kernel`: the device,
 * then per peer its neighbour, fdb entry and route, then what the kernel holds beyond the plan.
 */
export function compareKernel(plan: DataPlanePlan, state: KernelState): KernelComparison[] {
  const name = plan.device.name;
  const device = findDevice(plan, state.device);
  const out: KernelComparison[] = [
    {
      entry: name,
      kind: "device",
      status: device.status,
      ...(device.detail !== undefined && { detail: device.detail }),
    },
  ];
  for (const f of compareEntries(plan, state)) {
    const entry =
      f.kind === "neighbour"
        ? neighbourText(name, f.planned ?? f.found)
        : f.kind === "fdb"
          ? fdbText(name, f.planned ?? f.found)
          : routeText(f.planned ?? f.found);
    out.push({ entry, kind: f.kind, status: f.status, ...(f.detail !== undefined && { detail: f.detail }) });
  }
  return out;
}

/** The `ip -batch` lines for the changes (fdb changes are left to {@link toBridgeBatch}). */
export function toIpBatch(changes: readonly DataPlaneChange[]): string[] {
  const lines: string[] = [];
  for (const c of changes) {
    switch (c.kind) {
      case "device":
        if (c.action === "delete") lines.push(`link del ${c.name}`);
        else if (c.action === "create") lines.push(linkAdd(c.device), `link set ${c.device.name} up`);
        else {
          const opts = [
            ...(c.mac !== undefined ? ["address", c.mac] : []),
            ...(c.mtu !== undefined ? ["mtu", String(c.mtu)] : []),
            ...(c.up ? ["up"] : []),
          ];
          lines.push(`link set ${c.name} ${opts.join(" ")}`);
        }
        break;
      case "address":
        lines.push(`addr ${c.action === "replace" ? "replace" : "del"} ${c.address} dev ${c.dev}`);
        break;
      case "neighbour":
        lines.push(
          c.action === "replace"
            ? `neigh replace ${c.ip} lladdr ${c.mac} dev ${c.dev} nud permanent`
            : `neigh del ${c.ip} dev ${c.dev}`,
        );
        break;
      case "route": {
        const r = c.route;
        lines.push(
          c.action === "replace"
            ? `route replace ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? " onlink" : ""}`
            : `route del ${r.dst} via ${r.via} dev ${r.dev}`,
        );
        break;
      }
      case "fdb":
        break;
    }
  }
  return lines;
}

/** The `bridge -batch` lines for the fdb changes, in order. */
export function toBridgeBatch(changes: readonly DataPlaneChange[]): string[] {
  return changes.flatMap((c) => {
    if (c.kind !== "fdb") return [];
    return c.action === "replace"
      ? [`fdb replace ${c.mac} dev ${c.dev} dst ${c.dst} self permanent`]
      : [`fdb del ${c.mac} dev ${c.dev} dst ${c.dst} self`];
  });
}

/** One line describing a change, for logs: `add route 10.5.7.0/24 via 10.5.7.0 dev flannel.1 onlink (missing)`. */
export function describeChange(c: DataPlaneChange): string {
  const verb = c.action === "delete" ? "delete" : c.action === "create" ? "create" : "set";
  const why = c.reason === "" ? "" : ` (${c.reason})`;
  switch (c.kind) {
    case "device":
      return `${verb} device ${c.action === "create" ? c.device.name : c.name}${why}`;
    case "address":
      return `${verb} address ${c.address} dev ${c.dev}${why}`;
    case "neighbour":
      return `${verb} neighbour ${neighbourText(c.dev, c)}${why}`;
    case "fdb":
      return `${verb} fdb ${fdbText(c.dev, c)}${why}`;
    case "route":
      return `${verb} route ${routeText(c.route)}${why}`;
  }
}

// ---- comparison ----

function findDevice(
  plan: DataPlanePlan,
  dev: KernelDevice | undefined,
): { status: Status; detail?: string; recreate: boolean; set: { mtu?: number; mac?: string; up?: true } } {
  const want = plan.device;
  if (dev === undefined) return { status: "missing", recreate: true, set: {} };
  const fixed: string[] = [];
  const differs = (what: string, found: unknown, wanted: unknown) => {
    if (found !== wanted) fixed.push(`${what} ${String(found ?? "none")}, want ${String(wanted)}`);
  };
  differs("kind", dev.kind, "vxlan");
  differs("vni", dev.vni, want.vni);
  differs("port", dev.port, want.port ?? KERNEL_VXLAN_PORT);
  differs("local", dev.local, want.local);
  differs("dev", dev.dev, want.dev);
  differs("learning", dev.learning, want.learning);
  differs("gbp", dev.gbp, want.gbp);
  const set: { mtu?: number; mac?: string; up?: true } = {};
  const settable: string[] = [];
  if (dev.mtu !== want.mtu) {
    set.mtu = want.mtu;
    settable.push(`mtu ${dev.mtu}, want ${want.mtu}`);
  }
  if (dev.mac !== want.mac) {
    set.mac = want.mac;
    settable.push(`mac ${dev.mac}, want ${want.mac}`);
  }
  if (!dev.up) {
    set.up = true;
    settable.push("down");
  }
  if (!dev.addresses.includes(want.address)) settable.push(`no address ${want.address}`);
  const extra = dev.addresses.filter((a) => a !== want.address);
  if (extra.length > 0) settable.push(`extra address ${extra.join(", ")}`);
  const all = [...fixed, ...settable];
  const detail = all.length > 0 ? all.join("; ") : undefined;
  const onlyMac = fixed.length === 0 && settable.length === 1 && set.mac !== undefined;
  const status: Status = all.length === 0 ? "ok" : onlyMac ? "wrong-mac" : "stale";
  return { status, ...(detail !== undefined && { detail }), recreate: fixed.length > 0, set };
}

/** Plan entries in spec order (per peer: neighbour, fdb, route), then the kernel's extra entries. */
function compareEntries(plan: DataPlanePlan, state: KernelState): Finding[] {
  const neighbours = new Map(state.neighbours.map((n) => [n.ip, n]));
  const fdbPairs = new Set(state.fdb.map((f) => fdbKey(f)));
  const fdbByMac = new Map<string, KernelFdb[]>();
  for (const f of state.fdb) fdbByMac.set(f.mac, [...(fdbByMac.get(f.mac) ?? []), f]);
  const routes = new Map(state.routes.map((r) => [r.dst, r]));

  const out: Finding[] = [];
  const planNeighbours = new Map(plan.neighbours.map((n) => [n.ip, n]));
  const planFdb = new Map(plan.fdb.map((f) => [f.mac, f]));
  const done = new Set<PlannedNeighbour | PlannedFdb>();
  const neighbour = (n: PlannedNeighbour) => {
    done.add(n);
    const found = neighbours.get(n.ip);
    if (found === undefined) return out.push({ kind: "neighbour", status: "missing", planned: n });
    const permanent = found.state.split(",").includes("PERMANENT");
    if (found.mac !== n.mac) {
      const was = found.mac === "" ? "no MAC" : found.mac;
      return out.push({ kind: "neighbour", status: "wrong-mac", planned: n, found, detail: `has ${was}` });
    }
    if (!permanent) {
      return out.push({
        kind: "neighbour",
        status: "stale",
        planned: n,
        found,
        detail: `${found.state}, not PERMANENT`,
      });
    }
    return out.push({ kind: "neighbour", status: "ok", planned: n, found });
  };
  const fdb = (f: PlannedFdb) => {
    done.add(f);
    if (fdbPairs.has(fdbKey(f))) return out.push({ kind: "fdb", status: "ok", planned: f });
    const other = fdbByMac.get(f.mac);
    const detail = other !== undefined ? `points to ${other.map((o) => o.dst).join(", ")}` : undefined;
    return out.push({ kind: "fdb", status: "missing", planned: f, ...(detail !== undefined && { detail }) });
  };
  for (const r of plan.routes) {
    const n = r.dev === plan.device.name ? planNeighbours.get(r.via) : undefined;
    if (n !== undefined) {
      neighbour(n);
      const f = planFdb.get(n.mac);
      if (f !== undefined) fdb(f);
    }
    const found = routes.get(r.dst);
    if (found === undefined) {
      out.push({ kind: "route", status: "missing", planned: r });
    } else if (found.via !== r.via || found.dev !== r.dev || found.onlink !== r.onlink) {
      out.push({ kind: "route", status: "stale", planned: r, found, detail: `is ${routeText(found)}` });
    } else {
      out.push({ kind: "route", status: "ok", planned: r, found });
    }
  }
  // Entries no route refers to (not made by planDataPlane, but a plan is a plain value).
  for (const n of plan.neighbours) if (!done.has(n)) neighbour(n);
  for (const f of plan.fdb) if (!done.has(f)) fdb(f);

  const plannedDst = new Set(plan.routes.map((r) => r.dst));
  for (const r of state.routes)
    if (!plannedDst.has(r.dst)) out.push({ kind: "route", status: "stale", found: r });
  for (const n of state.neighbours) {
    // Only permanent neighbours are made by hand or by an agent; the kernel manages the others.
    if (!planNeighbours.has(n.ip) && n.state.split(",").includes("PERMANENT")) {
      out.push({ kind: "neighbour", status: "stale", found: n });
    }
  }
  const plannedPairs = new Set(plan.fdb.map((f) => fdbKey(f)));
  for (const f of state.fdb)
    if (!plannedPairs.has(fdbKey(f))) out.push({ kind: "fdb", status: "stale", found: f });
  return out;
}

function fdbKey(f: { mac: string; dst: string }): string {
  return `${f.mac}|${f.dst}`;
}

function neighbourText(dev: string, n: { ip: string; mac: string } | undefined): string {
  return n === undefined ? "" : `${n.ip} lladdr ${n.mac === "" ? "none" : n.mac} dev ${dev}`;
}

function fdbText(dev: string, f: { mac: string; dst: string } | undefined): string {
  return f === undefined ? "" : `${f.mac} dev ${dev} dst ${f.dst}`;
}

function routeText(r: PlannedRoute | KernelRoute | undefined): string {
  return r === undefined ? "" : `${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? " onlink" : ""}`;
}

function linkAdd(d: PlannedDevice): string {
  // dstport 0 asks for the kernel default (8472) without iproute2's warning.
  const parts = [
    `link add ${d.name} address ${d.mac} mtu ${d.mtu} type vxlan id ${d.vni} local ${d.local} dev ${d.dev}`,
    `dstport ${d.port ?? 0}`,
    d.learning ? "learning" : "nolearning",
    ...(d.gbp ? ["gbp"] : []),
  ];
  return parts.join(" ");
}

// ---- per-peer changes (the agent's compact path) ----

/** The programmed peers as the agent keeps them, looked up the ways the kernel's entries need. */
export interface PeerTable {
  readonly context: PeerContext;
  /** The programmed peer whose subnet's network address is `net`. */
  byNet(net: number): PeerPlan | undefined;
  /** The programmed peer with this VtepMAC. */
  byMac(mac: string): PeerPlan | undefined;
  /** Every planned peer. */
  peers(): Iterable<PeerPlan>;
}

/** A peer entry to (re)write, and why. */
export interface PeerFix {
  readonly peer: PeerPlan;
  readonly reason: string;
}

/**
 * Changes to peers' entries: deletions of what the kernel holds beyond the plan, then the
 * entries to write. Run as {@link peerBatches} orders them: routes are deleted first and written last.
 */
export interface PeerChanges {
  readonly routeDels: KernelRoute[];
  readonly neighbourDels: { readonly ip: string; readonly mac: string }[];
  readonly fdbDels: KernelFdb[];
  readonly neighbourSets: PeerFix[];
  readonly fdbSets: PeerFix[];
  readonly routeSets: PeerFix[];
}

/** An empty set of peer changes, to fill. */
export function noPeerChanges(): PeerChanges {
  return { routeDels: [], neighbourDels: [], fdbDels: [], neighbourSets: [], fdbSets: [], routeSets: [] };
}

/** How many entries the changes delete or write in all. */
export function peerChangeCount(c: PeerChanges): number {
  return (
    c.routeDels.length +
    c.neighbourDels.length +
    c.fdbDels.length +
    c.neighbourSets.length +
    c.fdbSets.length +
    c.routeSets.length
  );
}

function samePeer(a: PeerPlan, b: PeerPlan): boolean {
  return (
    a.net === b.net &&
    a.prefix === b.prefix &&
    a.mac === b.mac &&
    a.publicIp === b.publicIp &&
    a.direct === b.direct
  );
}

/**
 * Adds to `out` what turns one peer's entries from `before` (what was programmed, if anything)
 * into `after` (what should be, if anything), without looking at the kernel.
 */
export function diffPeer(
  context: PeerContext,
  before: PeerPlan | undefined,
  after: PeerPlan | undefined,
  reason: string,
  out: PeerChanges,
): void {
  if (before !== undefined && after !== undefined && samePeer(before, after)) return;
  if (before !== undefined) {
    const sameDst = after !== undefined && after.net === before.net && after.prefix === before.prefix;
    if (!sameDst) out.routeDels.push(peerRoute(context, before));
    if (!before.direct) {
      const vtep = formatIPv4(before.net);
      if (after === undefined || after.direct || after.net !== before.net)
        out.neighbourDels.push({ ip: vtep, mac: before.mac });
      if (
        after === undefined ||
        after.direct ||
        after.mac !== before.mac ||
        after.publicIp !== before.publicIp
      )
        out.fdbDels.push({ mac: before.mac, dst: formatIPv4(before.publicIp) });
    }
  }
  if (after !== undefined) {
    if (!after.direct) {
      out.neighbourSets.push({ peer: after, reason });
      out.fdbSets.push({ peer: after, reason });
    }
    out.routeSets.push({ peer: after, reason });
  }
}

/**
 * Compares the kernel's peer entries with the table as they stream past (see
 * streamKernelEntries), keeping nothing of the kernel but the differences; {@link finish}
 * adds the planned entries the kernel lacks. The same decisions as {@link diffDataPlane}.
 */
export class PeerDiff {
  private readonly out = noPeerChanges();
  private readonly neighbourOk = new Set<PeerPlan>();
  private readonly fdbOk = new Set<PeerPlan>();
  private readonly routeOk = new Set<PeerPlan>();
  /** Planned routes the kernel has differently, with what it has. */
  private readonly routeFix = new Map<PeerPlan, string>();
  private readonly neighbourFix = new Map<PeerPlan, string>();
  /** Other dsts the kernel has for a planned MAC. */
  private readonly fdbOthers = new Map<PeerPlan, string[]>();

  constructor(private readonly table: PeerTable) {}

  /** Compares one kernel neighbour entry with the plan. */
  neighbour(n: KernelNeighbour): void {
    const ip = parseIPv4(n.ip);
    const peer = ip === null ? undefined : this.table.byNet(ip);
    if (peer === undefined || peer.direct) {
      // Only permanent neighbours are made by hand or by an agent; the kernel manages the others.
      if (n.state.split(",").includes("PERMANENT")) this.out.neighbourDels.push({ ip: n.ip, mac: n.mac });
      return;
    }
    if (n.mac !== peer.mac) this.neighbourFix.set(peer, `has ${n.mac === "" ? "no MAC" : n.mac}`);
    else if (!n.state.split(",").includes("PERMANENT"))
      this.neighbourFix.set(peer, `${n.state}, not PERMANENT`);
    else this.neighbourOk.add(peer);
  }

  /** Compares one kernel fdb entry with the plan. */
  fdb(f: KernelFdb): void {
    const peer = this.table.byMac(f.mac);
    if (peer !== undefined && !peer.direct) {
      if (formatIPv4(peer.publicIp) === f.dst) {
        this.fdbOk.add(peer);
        return;
      }
      const others = this.fdbOthers.get(peer);
      if (others === undefined) this.fdbOthers.set(peer, [f.dst]);
      else others.push(f.dst);
    }
    this.out.fdbDels.push(f);
  }

  /** Compares one kernel route with the plan. */
  route(r: KernelRoute): void {
    const net = parseIPv4Cidr(r.dst);
    const peer = net === null ? undefined : this.table.byNet(net.ip);
    if (peer === undefined || net === null || peer.prefix !== net.prefix) {
      this.out.routeDels.push(r);
      return;
    }
    const want = peerRoute(this.table.context, peer);
    if (want.via === r.via && want.dev === r.dev && want.onlink === r.onlink) this.routeOk.add(peer);
    else if (!this.routeOk.has(peer)) this.routeFix.set(peer, `is ${routeText(r)}`);
  }

  /** The changes: stale entries' deletions, then per peer what is missing or wrong. */
  finish(): PeerChanges {
    const out = this.out;
    for (const peer of this.table.peers()) {
      if (!peer.direct) {
        if (!this.neighbourOk.has(peer))
          out.neighbourSets.push({ peer, reason: this.neighbourFix.get(peer) ?? "missing" });
        if (!this.fdbOk.has(peer)) {
          const others = this.fdbOthers.get(peer);
          out.fdbSets.push({
            peer,
            reason: others === undefined ? "missing" : `points to ${others.join(", ")}`,
          });
        }
      }
      if (!this.routeOk.has(peer)) out.routeSets.push({ peer, reason: this.routeFix.get(peer) ?? "missing" });
    }
    return out;
  }
}

/**
 * The batches that make `changes`, in order, as line generators (nothing is joined up front):
 * `ip` deleting routes then neighbours; `bridge` deleting then writing fdb entries; `ip`
 * writing neighbours then routes. So a route is deleted first and written last. Empty
 * batches are left out.
 */
export function peerBatches(
  context: PeerContext,
  changes: PeerChanges,
): {
  /** The tool that runs the batch. */
  tool: "ip" | "bridge";
  /** Whether the batch only deletes. */
  deletesOnly: boolean;
  /** The batch's lines, produced as the tool reads them. */
  lines: () => Iterable<string>;
}[] {
  const dev = context.device;
  const batches: { tool: "ip" | "bridge"; deletesOnly: boolean; lines: () => Iterable<string> }[] = [];
  if (changes.routeDels.length + changes.neighbourDels.length > 0) {
    batches.push({
      tool: "ip",
      deletesOnly: true,
      *lines() {
        for (const r of changes.routeDels) yield `route del ${r.dst} via ${r.via} dev ${r.dev}`;
        for (const n of changes.neighbourDels) yield `neigh del ${n.ip} dev ${dev}`;
      },
    });
  }
  if (changes.fdbDels.length + changes.fdbSets.length > 0) {
    batches.push({
      tool: "bridge",
      deletesOnly: changes.fdbSets.length === 0,
      *lines() {
        for (const f of changes.fdbDels) yield `fdb del ${f.mac} dev ${dev} dst ${f.dst} self`;
        for (const { peer } of changes.fdbSets)
          yield `fdb replace ${peer.mac} dev ${dev} dst ${formatIPv4(peer.publicIp)} self permanent`;
      },
    });
  }
  if (changes.neighbourSets.length + changes.routeSets.length > 0) {
    batches.push({
      tool: "ip",
      deletesOnly: false,
      *lines() {
        for (const { peer } of changes.neighbourSets)
          yield `neigh replace ${formatIPv4(peer.net)} lladdr ${peer.mac} dev ${dev} nud permanent`;
        for (const { peer } of changes.routeSets) {
          const r = peerRoute(context, peer);
          yield `route replace ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? " onlink" : ""}`;
        }
      },
    });
  }
  return batches;
}

/** Log lines for peer changes, in the words of {@link describeChange}. */
export function describePeerChanges(context: PeerContext, c: PeerChanges): string[] {
  const dev = context.device;
  return [
    ...c.routeDels.map((r) => `delete route ${routeText(r)} (stale)`),
    ...c.neighbourDels.map((n) => `delete neighbour ${neighbourText(dev, n)} (stale)`),
    ...c.fdbDels.map((f) => `delete fdb ${fdbText(dev, f)} (stale)`),
    ...c.neighbourSets.map(
      ({ peer, reason }) =>
        `set neighbour ${neighbourText(dev, { ip: formatIPv4(peer.net), mac: peer.mac })} (${reason})`,
    ),
    ...c.fdbSets.map(
      ({ peer, reason }) =>
        `set fdb ${fdbText(dev, { mac: peer.mac, dst: formatIPv4(peer.publicIp) })} (${reason})`,
    ),
    ...c.routeSets.map(({ peer, reason }) => `set route ${routeText(peerRoute(context, peer))} (${reason})`),
  ];
}

/** `3 route delete, 1,000 fdb replace`: counts per kind, for a big change. */
export function summarisePeerChanges(c: PeerChanges): string {
  const parts: [number, string][] = [
    [c.routeDels.length, "route delete"],
    [c.neighbourDels.length, "neighbour delete"],
    [c.fdbDels.length, "fdb delete"],
    [c.neighbourSets.length, "neighbour replace"],
    [c.fdbSets.length, "fdb replace"],
    [c.routeSets.length, "route replace"],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n} ${what}`)
    .join(", ");
}
