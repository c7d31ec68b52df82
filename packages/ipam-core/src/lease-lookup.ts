/**
 * Finding the leases a person names: by subnet (an IPv4 part alone names a dual-stack lease),
 * by owner, or by an address (the lease containing it, or the leases it owns).
 */
import { ipv4NetContains, ipv6NetContains } from "./address.js";
import { sameSubnet } from "./host-lease.js";
import type { Lease, LeaseListing } from "./lease.js";
import { hasIPv4, type LeaseSubnet } from "./lease-codec.js";

/** What a lease is looked up by: a SUBNET, an owner's PublicIP, or any IP address. */
export type LeaseTarget =
  | { readonly kind: "subnet"; readonly subnet: LeaseSubnet; readonly text: string }
  | { readonly kind: "ip"; readonly ipv4?: number; readonly ipv6?: bigint; readonly text: string }
  | { readonly kind: "owner"; readonly publicIP: string; readonly text: string };

/** The leases a target names: the subnet itself, the owner's, or those containing or owned by the address. */
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
