/**
 * This host's lease: acquired (or reused) with VtepMACs that stay the same across restarts,
 * renewed by the registry's guarded keep-alive, and checked when etcd shows its key changed.
 */
import {
  encodeVxlanData,
  formatLeaseKey,
  hasIPv4,
  isPodnetError,
  type KeepAliveHandle,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseNetwork,
  type LeaseRegistry,
  type LeaseSubnet,
  normaliseMac,
  vxlanDataOf,
  vxlanV6DataOf,
} from "@podnet/ipam-core";
import { vxlanDeviceName } from "../config/overlay.js";
import type { HostTarget } from "../host/iproute.js";
import { readKernelDevice } from "../host/kernel-state.js";
import { vtepMacFor } from "../host/plan.js";
import { readSubnetFile } from "../host/subnet-file.js";
import { retrying } from "./retry.js";

/** Who this host is in its lease. */
export interface OwnIdentity {
  /** The lease's PublicIP (the IPv4 underlay address; `0.0.0.0` on a host without one). */
  readonly publicIP: string;
  /** The lease's PublicIPv6, when the network has IPv6. */
  readonly publicIPv6?: string;
}

/** What acquiring needs. */
export interface AcquireContext {
  readonly registry: LeaseRegistry;
  readonly network: LeaseNetwork;
  readonly vni: number;
  readonly identity: OwnIdentity;
  readonly subnetFile: string;
  readonly target: HostTarget;
  readonly signal: AbortSignal;
  log(line: string): void;
}

/** etcd prints lease ids in hex (`etcdctl lease list`); podnet keeps them decimal internally. */
export function hexLeaseId(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** Acquires or reuses this host's lease (v4, v6 or both as the network has them); undefined when stopped. */
export async function acquireOwnLease(ctx: AcquireContext): Promise<Lease | undefined> {
  const { registry, network, vni, identity } = ctx;
  const macs = await retrying("look up this host's VTEP MAC", () => stableMacs(ctx), ctx);
  if (macs === undefined) return undefined;
  let previous: LeaseSubnet | undefined;
  try {
    previous = (await readSubnetFile(ctx.subnetFile))?.previousSubnet();
  } catch (err) {
    ctx.log(`ignoring the previous subnet: ${err instanceof Error ? err.message : String(err)}`);
  }
  const attrs: LeaseAttrs = {
    publicIP: identity.publicIP,
    publicIPv6: network.ipv6 !== undefined ? (identity.publicIPv6 ?? null) : null,
    backendType: "vxlan",
    ...(macs.v4 !== undefined && { backendData: encodeVxlanData({ vni, vtepMac: macs.v4 }) }),
    ...(macs.v6 !== undefined && { backendV6Data: encodeVxlanData({ vni, vtepMac: macs.v6 }) }),
  };
  const usable = previous !== undefined && (network.ipv4 === undefined || hasIPv4(previous));
  const result = await retrying(
    "acquire a lease",
    () => registry.acquire({ network, attrs, ...(usable && { previous }) }),
    ctx,
    ["unavailable", "conflict", "exhausted"],
  );
  if (result === undefined) return undefined;
  for (const gone of result.removed) {
    ctx.log(
      `deleted this host's old lease ${formatLeaseKey(gone.subnet)}: it no longer fits the network config`,
    );
  }
  const how = {
    reused: "reused this host's lease",
    previous: "took the previous subnet again",
    new: "leased a new subnet",
  };
  const lease = result.lease;
  const macText = [macs.v4, macs.v6 && `IPv6 VtepMAC ${macs.v6}`].filter(Boolean).join(", ");
  ctx.log(
    `${how[result.outcome]} ${formatLeaseKey(lease.subnet)} (VtepMAC ${macText}, etcd lease ${lease.etcdLease === "0" ? "none: a reservation" : hexLeaseId(lease.etcdLease)})`,
  );
  return lease;
}

/**
 * Each family's VTEP MAC: the existing device's, else the one in this host's lease, else one
 * derived from the public address (so a restart never makes peers reprogram).
 */
async function stableMacs(ctx: AcquireContext): Promise<{ v4?: string; v6?: string }> {
  const { network, vni, identity, target } = ctx;
  const listing = await ctx.registry.list();
  const mine = listing.leases.filter(
    (l) =>
      (network.ipv4 !== undefined && l.attrs.publicIP === identity.publicIP) ||
      (identity.publicIPv6 !== undefined && l.attrs.publicIPv6 === identity.publicIPv6),
  );
  const pick = async (v6: boolean, seed: string): Promise<string> => {
    const device = await readKernelDevice(vxlanDeviceName(vni, v6), target);
    const fromDevice = device?.kind === "vxlan" ? normaliseMac(device.mac) : null;
    if (fromDevice !== null) return fromDevice;
    for (const lease of mine) {
      const data = v6 ? vxlanV6DataOf(lease.attrs) : vxlanDataOf(lease.attrs);
      if (typeof data !== "string") return data.vtepMac;
    }
    return vtepMacFor(seed);
  };
  return {
    ...(network.ipv4 !== undefined && { v4: await pick(false, `podnet/${identity.publicIP}/vni=${vni}`) }),
    ...(network.ipv6 !== undefined && {
      v6: await pick(true, `podnet/${identity.publicIPv6 ?? identity.publicIP}/vni=${vni}/v6`),
    }),
  };
}

/** What the keep-alive reports. */
export interface KeepAliveEvents {
  renewed(lease: Lease, remainingSeconds: number): void;
  lost(reason: string): void;
  failed(err: Error): void;
}

/** Renews `own` as flanneld does (when the margin remains, retrying a failure every minute at most). */
export function keepOwnLease(
  registry: LeaseRegistry,
  own: Lease,
  renewMarginSeconds: number,
  events: KeepAliveEvents,
): KeepAliveHandle {
  const ttl = registry.ttlSeconds;
  return registry.keepAlive(own, {
    // A margin as long as the TTL makes keepAlive renew at a third of it.
    renewMarginSeconds,
    retryIntervalSeconds: Math.max(1, Math.min(60, Math.floor(ttl / 10))),
    onRenewed: (lease, remaining) => events.renewed(lease, remaining),
    onLost: (err) => events.lost(err.message),
    onError: (err) => events.failed(err),
  });
}

/** What an event on this host's own key means: lost, unchanged (ours), or rewritten (check it). */
export type OwnEventVerdict =
  | { readonly kind: "lost"; readonly reason: string }
  | { readonly kind: "ours" }
  | { readonly kind: "check" };

/** Judges an event on this host's own key: gone, damaged or taken is lost; our own bytes are ours; anything else is checked. */
export function judgeOwnEvent(e: LeaseEvent, own: Lease): OwnEventVerdict {
  const name = formatLeaseKey(own.subnet);
  if (e.type === "removed") {
    return {
      kind: "lost",
      reason: `the lease on ${name} was ${e.expired ? "revoked or expired" : "deleted"} in etcd`,
    };
  }
  if (e.type === "damaged")
    return { kind: "lost", reason: `the lease on ${name} was overwritten with a damaged value` };
  if (e.type !== "changed" && e.type !== "added") return { kind: "ours" };
  if (e.lease.attrs.publicIP !== own.attrs.publicIP) {
    return { kind: "lost", reason: `the lease on ${name} was taken by ${e.lease.attrs.publicIP}` };
  }
  return e.lease.value === own.value && e.lease.etcdLease === own.etcdLease
    ? { kind: "ours" }
    : { kind: "check" };
}

/** Whether a rewrite of our key is still ours: the renewed lease, or why it is lost (or a transient failure). */
export async function checkRewrittenLease(
  registry: LeaseRegistry,
  own: Lease,
): Promise<{ lease: Lease } | { lost: string } | { error: string }> {
  try {
    return { lease: await registry.renew(own) };
  } catch (err) {
    if (isPodnetError(err, "conflict") || isPodnetError(err, "not-found")) return { lost: err.message };
    return { error: String(err) };
  }
}
