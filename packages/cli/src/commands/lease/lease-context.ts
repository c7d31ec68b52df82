/**
 * What every lease command needs before it acts: the registry over the connected store, the
 * network config read and validated, and leases found by subnet or address.
 */
import {
  hasIPv4,
  ipv4NetContains,
  ipv6NetContains,
  type Lease,
  type LeaseListing,
  type LeaseNetwork,
  LeaseRegistry,
  type LeaseSubnet,
  PodnetError,
} from "@podnet/ipam-core";
import type { ResolvedConfig } from "@podnet/netcfg";
import type { Context } from "../../context.js";
import { type LeaseView, listingWarnings } from "../../print/lease.js";
import { progress } from "../../print/progress.js";
import { type TtlLookup, ttlOf } from "../../ttl-policy.js";
import type { LeaseTarget } from "./flags.js";

/** The registry of the context's prefix. */
export async function openRegistry(ctx: Context, ttlSeconds?: number): Promise<LeaseRegistry> {
  const store = await ctx.store();
  const reading = progress("reading leases");
  return new LeaseRegistry(store, {
    prefix: ctx.globals.prefix,
    ...(ttlSeconds !== undefined && { ttlSeconds }),
    // Long listings (tens of thousands of leases) show how far they got on a terminal.
    onListProgress: (keys, last) => (last ? reading.done() : reading.update(keys)),
  });
}

/** The network config from etcd, validated; a missing or invalid one is a one-sentence error. */
export async function loadNetwork(
  ctx: Context,
): Promise<{ resolved: ResolvedConfig; network: LeaseNetwork }> {
  const { loadNetwork } = await import("@podnet/netcfg");
  return loadNetwork(await ctx.store(), ctx.globals.prefix);
}

/** Whether a lease is the one a SUBNET names (an IPv4 part alone matches a dual-stack lease). */
export function sameSubnet(lease: LeaseSubnet, wanted: LeaseSubnet): boolean {
  if (hasIPv4(wanted)) {
    if (!hasIPv4(lease) || lease.ipv4.ip !== wanted.ipv4.ip || lease.ipv4.prefix !== wanted.ipv4.prefix) {
      return false;
    }
  }
  if (wanted.ipv6 === undefined) return true;
  return (
    lease.ipv6 !== undefined && lease.ipv6.ip === wanted.ipv6.ip && lease.ipv6.prefix === wanted.ipv6.prefix
  );
}

/** The leases a SUBNET or IP names: the subnet itself, or those containing or owned by the address. */
export function findLeases(listing: LeaseListing, target: LeaseTarget): Lease[] {
  if (target.kind === "subnet") return listing.leases.filter((l) => sameSubnet(l.subnet, target.subnet));
  if (target.kind === "owner") return listing.leases.filter((l) => l.attrs.publicIP === target.publicIP);
  const { ipv4, ipv6 } = target;
  const owned = listing.leases.filter((l) =>
    ipv4 !== undefined ? l.attrs.publicIP === target.text : l.attrs.publicIPv6 === target.text,
  );
  const containing = listing.leases.filter((l) =>
    ipv4 !== undefined
      ? hasIPv4(l.subnet) && ipv4NetContains(l.subnet.ipv4, ipv4)
      : ipv6 !== undefined && l.subnet.ipv6 !== undefined && ipv6NetContains(l.subnet.ipv6, ipv6),
  );
  return [...new Set([...containing, ...owned])];
}

/** Opens the registry, lists once and returns the leases a SUBNET or IP names; not-found when none. */
export async function requireLeases(
  ctx: Context,
  target: LeaseTarget,
): Promise<{ registry: LeaseRegistry; listing: LeaseListing; found: Lease[] }> {
  const registry = await openRegistry(ctx);
  const listing = await registry.list();
  const found = findLeases(listing, target);
  if (found.length === 0) throw noLeaseError(listing, target);
  return { registry, listing, found };
}

/** The leases with their remaining TTLs, in one batch of TTL lookups. */
export async function viewsOf(
  registry: LeaseRegistry,
  leases: readonly Lease[],
  listing?: LeaseListing,
): Promise<LeaseView[]> {
  const ttls = await registry.ttls(listing ?? { revision: 0, leases: [...leases], foreign: [], damaged: [] });
  return leases.map((lease) => ({
    lease,
    ttlSeconds: lease.etcdLease === "0" ? null : (ttls.get(lease.etcdLease) ?? -1),
  }));
}

/** The leases with their TTLs as a lookup found them (undefined where it did not look). */
export function viewsWith(leases: readonly Lease[], lookup: TtlLookup): LeaseView[] {
  return leases.map((lease) => ({ lease, ttlSeconds: ttlOf(lookup, lease.etcdLease) }));
}

/** Writes one warning per damaged or foreign entry on stderr. */
export function warnAboutListing(listing: LeaseListing): void {
  for (const line of listingWarnings(listing)) process.stderr.write(`podnet: warning: ${line}\n`);
}

/** A not-found error for a SUBNET or IP that names no lease, mentioning a damaged entry there. */
export function noLeaseError(listing: LeaseListing, target: LeaseTarget): PodnetError {
  const damaged =
    target.kind === "subnet" ? listing.damaged.find((d) => sameSubnet(d.subnet, target.subnet)) : undefined;
  if (damaged !== undefined) {
    return new PodnetError(
      "not-found",
      `${damaged.key} is not a lease: its value is damaged (${damaged.reason})`,
    );
  }
  const what =
    target.kind === "subnet"
      ? `no lease holds subnet ${target.text}`
      : target.kind === "owner"
        ? `${target.text} holds no lease`
        : `no lease holds or belongs to ${target.text}`;
  return new PodnetError("not-found", `${what}; 'podnet lease list' shows the leases`);
}
