/**
 * The VXLAN data plane a host should have (flannel-compat.md section 9), as a pure function
 * of the config, the host's own lease and the other hosts' leases. No kernel access here:
 * reading the kernel is kernel-state.ts, the diff is reconcile.ts, applying it is apply.ts.
 * IPv4 only for now: IPv6-only leases are skipped and no `flannel-v6.<VNI>` is planned.
 */
import { createHash } from "node:crypto";
import {
  formatIPv4,
  formatIPv4Cidr,
  hasIPv4,
  type IPv4Net,
  ipv4NetContains,
  type Lease,
  PodnetError,
  parseIPv4,
  parseIPv4Cidr,
  parseVxlanData,
  type VxlanData,
  vxlanDataOf,
} from "@podnet/ipam-core";
import { overlayMtu, vxlanDeviceName } from "../config/overlay.js";
import type { ResolvedConfig } from "../config/schema.js";

/** The flannel.<VNI> device as it should be. */
export interface PlannedDevice {
  readonly name: string;
  readonly vni: number;
  /** The UDP port; omitted means the kernel default (8472). */
  readonly port?: number;
  /** This host's public IP, the tunnel's local end. */
  readonly local: string;
  /** The underlay interface. */
  readonly dev: string;
  readonly learning: boolean;
  readonly gbp: boolean;
  /** The underlay MTU (or Backend.MTU) minus 50. */
  readonly mtu: number;
  /** This host's VtepMAC, as published in its lease. */
  readonly mac: string;
  /** The lease's network address as a /32, e.g. `10.5.52.0/32`. */
  readonly address: string;
}

/** A permanent neighbour: a peer's network address resolves to its VtepMAC. */
export interface PlannedNeighbour {
  readonly ip: string;
  readonly mac: string;
}

/** A permanent fdb entry on the VXLAN device: a peer's VtepMAC is reached at its PublicIP. */
export interface PlannedFdb {
  readonly mac: string;
  readonly dst: string;
}

/** A route to a peer's subnet: through the tunnel (onlink via its VTEP) or, DirectRouting, via its PublicIP. */
export interface PlannedRoute {
  /** The peer's subnet, `10.5.7.0/24`. */
  readonly dst: string;
  readonly via: string;
  /** The device the route leaves by: flannel.<VNI>, or the underlay for a direct route. */
  readonly dev: string;
  readonly onlink: boolean;
}

/** A lease the plan does not program, and why (one log line each). */
export interface SkippedLease {
  readonly key: string;
  readonly reason: string;
}

/** Everything a host's VXLAN data plane should hold. Lists are in the spec's order, one peer after another. */
export interface DataPlanePlan {
  readonly device: PlannedDevice;
  /** The overlay network (config `Network`); routes inside it on the underlay are the plan's to manage. */
  readonly network: string;
  readonly neighbours: PlannedNeighbour[];
  readonly fdb: PlannedFdb[];
  readonly routes: PlannedRoute[];
  readonly skipped: SkippedLease[];
}

/** The host facts the plan needs: the underlay interface, its address and MTU. */
export interface UnderlayInfo {
  readonly dev: string;
  /** This host's public IP (the lease's PublicIP). */
  readonly ip: string;
  readonly mtu: number;
  /** CIDRs on the same L2 segment as this host; with DirectRouting, peers inside get a plain route. */
  readonly directNets?: readonly string[];
}

/** What {@link planDataPlane} takes. */
export interface PlanInput {
  readonly config: ResolvedConfig;
  readonly own: Lease;
  readonly peers: readonly Lease[];
  readonly underlay: UnderlayInfo;
}

/** vxlan's BackendData: `{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}` (ipam-core's codec). */
export type VxlanBackendData = VxlanData;

/**
 * A stable locally-administered unicast MAC derived from `seed` (e.g. the lease subnet and
 * public IP), so a host keeps its VtepMAC across restarts and peers need not reprogram.
 */
export function vtepMacFor(seed: string): string {
  const digest = createHash("sha256").update(seed).digest();
  const bytes = [...digest.subarray(0, 6)];
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02; // unicast, locally administered
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * One peer's share of the data plane, compact: what the agent keeps per peer instead of its
 * whole lease. Tunnelled peers get a neighbour, an fdb entry and an onlink route via their
 * network address; `direct` peers (DirectRouting, same segment) only a route via `publicIp`.
 */
export interface PeerPlan {
  /** The lease key. */
  readonly key: string;
  /** The peer's subnet network address (also its VTEP address). */
  readonly net: number;
  readonly prefix: number;
  /** Its VtepMAC, normalised. */
  readonly mac: string;
  /** Its PublicIP. */
  readonly publicIp: number;
  readonly direct: boolean;
}

/** What planning a single peer needs; fixed for the life of an agent. */
export interface PeerContext {
  readonly vni: number;
  /** flannel.<VNI>. */
  readonly device: string;
  /** The underlay interface (DirectRouting routes leave by it). */
  readonly underlayDev: string;
  /** This host's public IP: a peer claiming it is a stale lease of ours. */
  readonly ownIp: number;
  /** This host's VtepMAC: a peer using it would steal our traffic. */
  readonly ownMac: string;
  readonly directNets: readonly IPv4Net[];
}

/**
 * The device and the per-peer context for a config, own lease and underlay. Throws a
 * PodnetError ("invalid") when the config is not vxlan or the own lease cannot carry a VTEP.
 */
export function planDevice(input: Omit<PlanInput, "peers">): { device: PlannedDevice; context: PeerContext } {
  const { config, own, underlay } = input;
  const backend = config.Backend;
  if (backend.Type !== "vxlan") {
    throw new PodnetError(
      "invalid",
      `the network config's backend is ${backend.Type}, not vxlan; podnet programs only vxlan.`,
    );
  }
  if (config.Network === undefined || !hasIPv4(own.subnet)) {
    throw new PodnetError(
      "invalid",
      "the network has no IPv4 range; podnet programs only IPv4 overlays for now.",
    );
  }
  const ownData = parseVxlanData(own.attrs.backendData);
  if (typeof ownData === "string") {
    throw new PodnetError("invalid", `this host's lease ${own.key} cannot be programmed: ${ownData}.`);
  }
  const ownIp = parseIPv4(underlay.ip);
  if (ownIp === null)
    throw new PodnetError("usage", `the underlay address "${underlay.ip}" is not an IPv4 address.`);
  const name = vxlanDeviceName(backend.VNI);
  const device: PlannedDevice = {
    name,
    vni: backend.VNI,
    ...(backend.Port !== 0 && { port: backend.Port }),
    local: underlay.ip,
    dev: underlay.dev,
    learning: backend.Learning,
    gbp: backend.GBP,
    mtu: overlayMtu(backend, underlay.mtu).mtu,
    mac: ownData.vtepMac,
    address: `${formatIPv4(own.subnet.ipv4.ip)}/32`,
  };
  const context: PeerContext = {
    vni: backend.VNI,
    device: name,
    underlayDev: underlay.dev,
    ownIp,
    ownMac: ownData.vtepMac,
    directNets: backend.DirectRouting ? parseDirectNets(underlay.directNets ?? []) : [],
  };
  return { device, context };
}

/**
 * Plans one peer lease on its own: its compact plan, or why it is not programmed. Conflicts
 * between peers (a VtepMAC used twice) are the caller's to resolve; our own MAC is checked here.
 */
export function planPeer(context: PeerContext, peer: Lease): PeerPlan | string {
  if (!hasIPv4(peer.subnet)) return "it has no IPv4 subnet; IPv6 peers are not programmed yet";
  const data = vxlanDataOf(peer.attrs);
  if (typeof data === "string") return data;
  if (data.vni !== context.vni) return `its VNI is ${data.vni}, not ${context.vni}`;
  const publicIp = parseIPv4(peer.attrs.publicIP);
  // A second lease with our own PublicIP is a stale lease of this host: tunnelling to ourselves loops.
  if (publicIp === null) return "its PublicIP is not IPv4";
  if (publicIp === context.ownIp) return "its PublicIP is this host's own";
  return {
    key: peer.key,
    net: peer.subnet.ipv4.ip,
    prefix: peer.subnet.ipv4.prefix,
    mac: data.vtepMac,
    publicIp,
    direct: context.directNets.some((net) => ipv4NetContains(net, publicIp)),
  };
}

/** A peer plan's route, as the plan lists it. */
export function peerRoute(context: PeerContext, p: PeerPlan): PlannedRoute {
  const dst = formatIPv4Cidr({ ip: p.net, prefix: p.prefix });
  return p.direct
    ? { dst, via: formatIPv4(p.publicIp), dev: context.underlayDev, onlink: false }
    : { dst, via: formatIPv4(p.net), dev: context.device, onlink: true };
}

/**
 * The desired data plane (spec section 9): the flannel.<VNI> device with the own lease's /32 and
 * VtepMAC, then for every other host's vxlan lease its neighbour, fdb entry and route (or only a
 * route via its PublicIP with DirectRouting on the same segment). Throws a PodnetError
 * ("invalid") when the config is not vxlan or the own lease cannot carry a VTEP.
 */
export function planDataPlane(input: PlanInput): DataPlanePlan {
  const { config, own, peers } = input;
  const { device, context } = planDevice(input);
  const plan: DataPlanePlan = {
    device,
    network: config.Network ?? "",
    neighbours: [],
    fdb: [],
    routes: [],
    skipped: [],
  };
  const macOwner = new Map<string, string>([[context.ownMac, own.key]]);
  const seen = new Set<string>([own.key]);
  for (const peer of peers) {
    if (seen.has(peer.key)) {
      if (peer.key !== own.key) plan.skipped.push({ key: peer.key, reason: "the lease is listed twice" });
      continue;
    }
    seen.add(peer.key);
    const p = planPeer(context, peer);
    if (typeof p === "string") {
      plan.skipped.push({ key: peer.key, reason: p });
      continue;
    }
    const macHolder = macOwner.get(p.mac);
    if (macHolder !== undefined) {
      plan.skipped.push({ key: peer.key, reason: `its VtepMAC ${p.mac} is already used by ${macHolder}` });
      continue;
    }
    macOwner.set(p.mac, peer.key);
    const route = peerRoute(context, p);
    if (!p.direct) {
      plan.neighbours.push({ ip: route.via, mac: p.mac });
      plan.fdb.push({ mac: p.mac, dst: peer.attrs.publicIP });
    }
    plan.routes.push(route);
  }
  return plan;
}

function parseDirectNets(texts: readonly string[]) {
  return texts.map((text) => {
    const net = parseIPv4Cidr(text);
    if (net === null)
      throw new PodnetError("usage", `the direct-routing network "${text}" is not an IPv4 CIDR.`);
    return net;
  });
}
