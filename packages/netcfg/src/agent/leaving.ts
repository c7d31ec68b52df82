/**
 * What the agent does to the host's NAT and what it leaves behind: the masquerade rules kept
 * per family by each reconcile, and `--release-on-exit` (release the lease, never a
 * reservation; delete the devices and the rules) so peers drop this host.
 */
import {
  formatIPv4Cidr,
  formatIPv6Cidr,
  formatLeaseKey,
  hasIPv4,
  isReservation,
  type Lease,
  type LeaseNetwork,
  type LeaseRegistry,
} from "@podnet/ipam-core";
import type { AddressFamily } from "../host/family.js";
import type { HostTarget } from "../host/iproute.js";
import { ensureMasquerade, MASQ_CHAIN, removeMasquerade } from "../host/masquerade.js";
import type { FamilyPlane } from "./family-plane.js";

/** The pod network and this host's subnet of each family the lease has, as CIDRs. */
function masqueradePairs(network: LeaseNetwork, own: Lease): [string, string, AddressFamily][] {
  const pairs: [string, string, AddressFamily][] = [];
  if (network.ipv4 !== undefined && hasIPv4(own.subnet))
    pairs.push([formatIPv4Cidr(network.ipv4.network), formatIPv4Cidr(own.subnet.ipv4), 4]);
  if (network.ipv6 !== undefined && own.subnet.ipv6 !== undefined)
    pairs.push([formatIPv6Cidr(network.ipv6.network), formatIPv6Cidr(own.subnet.ipv6), 6]);
  return pairs;
}

/** Keeps the masquerade rules for the pod network and this host's subnet, per family (ip6tables for IPv6). */
export async function keepMasquerade(
  network: LeaseNetwork,
  own: Lease,
  target: HostTarget,
  log: (line: string) => void,
): Promise<void> {
  for (const [net, subnet, family] of masqueradePairs(network, own)) {
    const why = await ensureMasquerade(net, subnet, target, family);
    if (why !== undefined) log(`set the masquerade rules for ${net} (chain ${MASQ_CHAIN}; ${why})`);
  }
}

/** What leaving needs. */
export interface LeaveContext {
  readonly registry: LeaseRegistry;
  readonly own: Lease;
  readonly planes: readonly FamilyPlane[];
  readonly network: LeaseNetwork;
  readonly ipMasq: boolean;
  readonly target: HostTarget;
  log(line: string): void;
}

/** `--release-on-exit`: the lease (a reservation is kept, and said so), the devices, the rules. */
export async function releaseHost(ctx: LeaveContext): Promise<void> {
  const name = formatLeaseKey(ctx.own.subnet);
  const why = (err: unknown) => (err instanceof Error ? err.message : String(err));
  try {
    if (isReservation(ctx.own)) {
      ctx.log(
        `kept ${name}: it is a reservation, which --release-on-exit never deletes ('podnet lease unreserve' does)`,
      );
    } else {
      await ctx.registry.release(ctx.own);
      ctx.log(`released lease ${name}`);
    }
  } catch (err) {
    ctx.log(`could not release lease ${name}: ${why(err)}`);
  }
  for (const plane of ctx.planes) {
    try {
      if (await plane.remove()) ctx.log(`deleted ${plane.name} and its neighbours, fdb entries and routes`);
    } catch (err) {
      ctx.log(`could not delete ${plane.name}: ${why(err)}`);
    }
  }
  if (!ctx.ipMasq) return;
  const families: AddressFamily[] = [
    ...(ctx.network.ipv4 !== undefined ? [4 as const] : []),
    ...(ctx.network.ipv6 !== undefined ? [6 as const] : []),
  ];
  for (const family of families) {
    const tool = family === 6 ? "ip6tables" : "iptables";
    try {
      if (await removeMasquerade(ctx.target, family))
        ctx.log(`deleted the masquerade rules (${tool} chain ${MASQ_CHAIN})`);
    } catch (err) {
      ctx.log(`could not delete the ${tool} masquerade rules: ${why(err)}`);
    }
  }
}
