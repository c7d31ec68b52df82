/**
 * The VXLAN data plane a host should have (flannel-compat.md section 9), as a pure function
 * of the config, the host's own lease and the other hosts' leases. No kernel access here:
 * reading the kernel is kernel-state.ts, the diff is reconcile.ts, applying it is apply.ts.
 * One plan per address family: `flannel.<VNI>` for IPv4, `flannel-v6.<VNI>` for IPv6 (each
 * with its own VtepMAC, from BackendData and BackendV6Data).
 */
import { createHash } from "node:crypto";
import {
  hasIPv4,
  type IPv4Net,
  type IPv6Net,
  type Lease,
  PodnetError,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  parseIPv6Cidr,
  parseVxlanData,
  type VxlanData,
  vxlanDataOf,
  vxlanV6DataOf,
} from "@podnet/ipam-core";
import { overlayMtu, vxlanDeviceName } from "../config/overlay.js";
import type { ResolvedConfig } from "../config/schema.js";
import { type AddressFamily, formatAddress, formatCidr, netContains, type PeerAddress } from "./family.js";

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
  /** The lease's network address as a /32 (`10.5.52.0/32`), or a /128 for IPv6. */
  readonly address: string;
  readonly family: AddressFamily;
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

/** The host facts one family's plan needs: the underlay interface, its address and MTU. */
export interface UnderlayInfo {
  readonly dev: string;
  /** This host's tunnel address of the family (IPv4, or IPv6 for the IPv6 plan). */
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
  /** The family to plan; default 4. */
  readonly family?: AddressFamily;
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
  /** The peer's subnet network address (also its VTEP address) in the context's family. */
  readonly net: PeerAddress;
  readonly prefix: number;
  /** Its VtepMAC (of the family's device), normalised. */
  readonly mac: string;
  /** Its PublicIP (PublicIPv6 for IPv6). */
  readonly publicIp: PeerAddress;
  readonly direct: boolean;
}

export type { AddressFamily, PeerAddress } from "./family.js";

/** What planning a single peer needs; fixed for the life of an agent. */
export interface PeerContext {
  readonly family: AddressFamily;
  readonly vni: number;
  /** flannel.<VNI> or flannel-v6.<VNI>. */
  readonly device: string;
  /** The underlay interface (DirectRouting routes leave by it). */
  readonly underlayDev: string;
  /** This host's public address of the family: a peer claiming it is a stale lease of ours. */
  readonly ownIp: PeerAddress;
  /** This host's VtepMAC of the family: a peer using it would steal our traffic. */
  readonly ownMac: string;
  /**
   * This host's own subnet of the family: a peer lease overlapping it (a clash in etcd that
   * `ipam check` reports) would route our own pods away, and the kernel refuses a route whose
   * gateway is one of our addresses.
   */
  readonly ownNet: IPv4Net | IPv6Net;
  readonly directNets: readonly (IPv4Net | IPv6Net)[];
}

/**
 * The device and the per-peer context of one family for a config, own lease and underlay.
 * Throws a PodnetError ("invalid") when the config is not vxlan, does not enable the family,
 * or the own lease cannot carry a VTEP of it.
 */
export function planDevice(input: Omit<PlanInput, "peers">): { device: PlannedDevice; context: PeerContext } {
  const { config, own, underlay } = input;
  const family = input.family ?? 4;
  const v6 = family === 6;
  const backend = config.Backend;
  if (backend.Type !== "vxlan") {
    throw new PodnetError(
      "invalid",
      `the network config's backend is ${backend.Type}, not vxlan; podnet programs only vxlan.`,
    );
  }
  const subnet = v6 ? own.subnet.ipv6 : hasIPv4(own.subnet) ? own.subnet.ipv4 : undefined;
  if (
    (v6 ? !config.EnableIPv6 || config.IPv6Network === undefined : config.Network === undefined) ||
    subnet === undefined
  ) {
    throw new PodnetError(
      "invalid",
      v6
        ? `this host's lease ${own.key} or the network has no IPv6 range.`
        : `this host's lease ${own.key} or the network has no IPv4 range.`,
    );
  }
  const ownData = v6
    ? parseVxlanData(own.attrs.backendV6Data, "BackendV6Data")
    : parseVxlanData(own.attrs.backendData);
  if (typeof ownData === "string") {
    throw new PodnetError("invalid", `this host's lease ${own.key} cannot be programmed: ${ownData}.`);
  }
  const ownIp = v6 ? parseIPv6(underlay.ip) : parseIPv4(underlay.ip);
  if (ownIp === null) {
    throw new PodnetError(
      "usage",
      `the underlay address "${underlay.ip}" is not an ${v6 ? "IPv6" : "IPv4"} address.`,
    );
  }
  const name = vxlanDeviceName(backend.VNI, v6);
  const device: PlannedDevice = {
    name,
    vni: backend.VNI,
    ...(backend.Port !== 0 && { port: backend.Port }),
    local: formatAddress(ownIp),
    dev: underlay.dev,
    learning: backend.Learning,
    gbp: backend.GBP,
    mtu: overlayMtu(backend, underlay.mtu, v6 ? 6 : 4).mtu,
    mac: ownData.vtepMac,
    address: `${formatAddress(subnet.ip)}/${v6 ? 128 : 32}`,
    family,
  };
  const context: PeerContext = {
    family,
    vni: backend.VNI,
    device: name,
    underlayDev: underlay.dev,
    ownIp,
    ownMac: ownData.vtepMac,
    ownNet: subnet,
    directNets: backend.DirectRouting ? parseDirectNets(underlay.directNets ?? [], family) : [],
  };
  return { device, context };
}

/**
 * Plans one peer lease on its own for the context's family: its compact plan, or why it is
 * not programmed. Conflicts between peers (a VtepMAC used twice) are the caller's to resolve.
 */
export function planPeer(context: PeerContext, peer: Lease): PeerPlan | string {
  if (context.family === 6) {
    const subnet = peer.subnet.ipv6;
    if (subnet === undefined) return "it has no IPv6 subnet";
    const data = vxlanV6DataOf(peer.attrs);
    if (typeof data === "string") return data;
    if (data.vni !== context.vni) return `its VNI is ${data.vni}, not ${context.vni}`;
    const text = peer.attrs.publicIPv6;
    const publicIp = text === null ? null : parseIPv6(text);
    if (publicIp === null) return "it has no PublicIPv6";
    if (publicIp === context.ownIp) return "its PublicIPv6 is this host's own";
    const clash = overlapsOwn(context, subnet);
    if (clash !== undefined) return clash;
    return {
      key: peer.key,
      net: subnet.ip,
      prefix: subnet.prefix,
      mac: ownCopy(data.vtepMac),
      publicIp,
      direct: context.directNets.some((net) => netContains(net, publicIp)),
    };
  }
  if (!hasIPv4(peer.subnet)) return "it has no IPv4 subnet";
  const data = vxlanDataOf(peer.attrs);
  if (typeof data === "string") return data;
  if (data.vni !== context.vni) return `its VNI is ${data.vni}, not ${context.vni}`;
  const publicIp = parseIPv4(peer.attrs.publicIP);
  // A second lease with our own PublicIP is a stale lease of this host: tunnelling to ourselves loops.
  if (publicIp === null) return "its PublicIP is not IPv4";
  if (publicIp === context.ownIp) return "its PublicIP is this host's own";
  const clash = overlapsOwn(context, peer.subnet.ipv4);
  if (clash !== undefined) return clash;
  return {
    key: peer.key,
    net: peer.subnet.ipv4.ip,
    prefix: peer.subnet.ipv4.prefix,
    mac: ownCopy(data.vtepMac),
    publicIp,
    direct: context.directNets.some((net) => netContains(net, publicIp)),
  };
}

/** Why a peer's subnet of the context's family cannot be programmed beside this host's own, if it overlaps it. */
function overlapsOwn(context: PeerContext, net: IPv4Net | IPv6Net): string | undefined {
  const own = context.ownNet;
  const overlap = own.prefix <= net.prefix ? netContains(own, net.ip) : netContains(net, own.ip);
  return overlap
    ? `its subnet ${formatCidr(net.ip, net.prefix)} overlaps this host's own ${formatCidr(own.ip, own.prefix)}`
    : undefined;
}

/**
 * A string that holds only its own characters. A VtepMAC read from a lease value is a slice
 * of it, and a slice keeps the whole value alive: ~140 bytes per peer kept for 17. (A joined
 * array is a new flat string in V8.)
 */
function ownCopy(text: string): string {
  return text.split(":").join(":");
}

/** A peer plan's route, as the plan lists it. */
export function peerRoute(context: PeerContext, p: PeerPlan): PlannedRoute {
  const dst = formatCidr(p.net, p.prefix);
  return p.direct
    ? { dst, via: formatAddress(p.publicIp), dev: context.underlayDev, onlink: false }
    : { dst, via: formatAddress(p.net), dev: context.device, onlink: true };
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
    network: (device.family === 6 ? config.IPv6Network : config.Network) ?? "",
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
      plan.fdb.push({ mac: p.mac, dst: formatAddress(p.publicIp) });
    }
    plan.routes.push(route);
  }
  return plan;
}

function parseDirectNets(texts: readonly string[], family: AddressFamily): (IPv4Net | IPv6Net)[] {
  return texts.map((text) => {
    const net = family === 6 ? parseIPv6Cidr(text) : parseIPv4Cidr(text);
    if (net === null) {
      throw new PodnetError(
        "usage",
        `the direct-routing network "${text}" is not an ${family === 6 ? "IPv6" : "IPv4"} CIDR.`,
      );
    }
    return net;
  });
}
