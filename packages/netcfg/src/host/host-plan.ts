/**
 * This host's data plane, planned from the same inputs by the agent and by every view
 * (`podnet route --kernel`, `podnet doctor`): the config, the leases, this host's lease and
 * the underlay facts. With DirectRouting, the underlay's connected networks decide which
 * peers get a plain route, so a view that left them out would call a healthy host broken.
 */
import type { Lease } from "@podnet/ipam-core";
import { DEFAULT_OVERLAY_MTU, underlayMtuFor } from "../config/overlay.js";
import type { ResolvedConfig } from "../config/schema.js";
import type { AddressFamily } from "./family.js";
import {
  type DataPlanePlan,
  type PeerContext,
  type PlannedDevice,
  planDataPlane,
  planDevice,
  type UnderlayInfo,
} from "./plan.js";

/** What the host knows of its underlay interface (the agent's findUnderlay gives these). */
export interface UnderlayFacts {
  /** The interface, e.g. `eth0`. */
  readonly dev: string;
  /** Its IPv4 address, the IPv4 tunnel's local end. */
  readonly ip: string;
  readonly mtu: number;
  /** Its connected IPv4 networks (`192.0.2.0/24`). */
  readonly networks: readonly string[];
  /** Its global IPv6 address, the IPv6 tunnel's local end. */
  readonly ip6?: string;
  /** Its connected global IPv6 networks. */
  readonly networks6?: readonly string[];
}

/** What an overlay device tells of the underlay it runs over (a kernel device or a link as read). */
export interface DeviceUnderlay {
  /** The underlay interface the device is bound to. */
  readonly dev?: string;
  /** The tunnel's local address. */
  readonly local?: string;
  readonly mtu: number;
}

/**
 * A running host's underlay facts, read back from its overlay devices (the interface and
 * local addresses the agent gave them) and that interface's connected networks, so a view
 * plans exactly what the agent programmed. Falls back to the lease's public addresses.
 */
export function underlayFactsOf(
  own: Lease,
  devices: { readonly v4?: DeviceUnderlay; readonly v6?: DeviceUnderlay },
  nets: { readonly networks?: readonly string[]; readonly networks6?: readonly string[] } = {},
): UnderlayFacts {
  const first = devices.v4 ?? devices.v6;
  const ip6 = devices.v6?.local ?? own.attrs.publicIPv6;
  return {
    dev: first?.dev ?? "",
    ip: devices.v4?.local ?? own.attrs.publicIP,
    // The device's MTU is taken as found: the views compare routes, neighbours and fdb entries.
    mtu: underlayMtuFor(first?.mtu ?? DEFAULT_OVERLAY_MTU),
    networks: nets.networks ?? [],
    ...(ip6 != null && { ip6 }),
    networks6: nets.networks6 ?? [],
  };
}

/** What {@link planHost} takes. */
export interface HostPlanInput {
  readonly config: ResolvedConfig;
  /** Every lease (this host's own among them is skipped). */
  readonly leases: readonly Lease[];
  /** This host's lease (ipam-core's findHostLease). */
  readonly own: Lease;
  readonly underlay: UnderlayFacts;
}

/** The families a config's data plane has: 4 with EnableIPv4, 6 with EnableIPv6, in that order. */
export function hostFamilies(config: ResolvedConfig): AddressFamily[] {
  return [...(config.EnableIPv4 ? [4 as const] : []), ...(config.EnableIPv6 ? [6 as const] : [])];
}

/** One family's share of the underlay facts, as the planner takes it. */
export function underlayInfoFor(underlay: UnderlayFacts, family: AddressFamily): UnderlayInfo {
  return family === 6
    ? { dev: underlay.dev, ip: underlay.ip6 ?? "", mtu: underlay.mtu, directNets: underlay.networks6 ?? [] }
    : { dev: underlay.dev, ip: underlay.ip, mtu: underlay.mtu, directNets: underlay.networks };
}

/** One family's device and per-peer context (the agent's incremental path); throws as planDevice does. */
export function planHostDevice(
  input: Omit<HostPlanInput, "leases">,
  family: AddressFamily,
): { device: PlannedDevice; context: PeerContext } {
  return planDevice({ ...input, underlay: underlayInfoFor(input.underlay, family), family });
}

/**
 * This host's plan for one family (default: the config's first), the same the agent programs.
 * Throws a PodnetError ("invalid") when the config is not vxlan or the own lease lacks the family.
 */
export function planHost(
  input: HostPlanInput,
  family: AddressFamily = hostFamilies(input.config)[0] ?? 4,
): DataPlanePlan {
  return planDataPlane({
    config: input.config,
    own: input.own,
    peers: input.leases,
    underlay: underlayInfoFor(input.underlay, family),
    family,
  });
}
