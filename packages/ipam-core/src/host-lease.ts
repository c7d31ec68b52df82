/**
 * Which lease is "this host's": one rule for the allocator, the agent and every view
 * (`route --kernel`, `ifconfig`, `doctor`). A host is named by its PublicIP; a host that
 * does not say who it is is found by its subnet file's subnet, then by its device's address.
 */
import { parseIPv4, parseIPv6 } from "./address.js";
import { isReservation, type Lease, type LeaseListing } from "./lease.js";
import { hasIPv4, type LeaseSubnet, subnetName } from "./lease-codec.js";

/** Whether a lease's subnet is the one `wanted` names; an IPv4 part alone matches a dual-stack lease. */
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

/** Of one host's leases (key order), the one that is its own: a reservation the admin made wins. */
export function pickHostLease(owned: readonly Lease[]): Lease | undefined {
  return owned.find(isReservation) ?? owned[0];
}

/** Whether `lease` belongs to the host with this public address (its PublicIP, or its PublicIPv6). */
export function ownedBy(lease: Lease, publicIp: string): boolean {
  if (lease.attrs.publicIP === publicIp) return true;
  const v6 = lease.attrs.publicIPv6;
  if (v6 === null) return false;
  const a = parseIPv6(v6);
  const b = parseIPv6(publicIp);
  return a !== null && a === b;
}

/** How a host's lease may be found, strongest first. */
export interface HostLeaseHints {
  /** The host's public address (IPv4, or IPv6 for an IPv6-only host). */
  readonly publicIp?: string;
  /** The subnet its subnet file names (FLANNEL_SUBNET read back). */
  readonly subnetFileSubnet?: LeaseSubnet;
  /** Where the subnet file is, for messages. */
  readonly subnetFile?: string;
  /** The addresses of its overlay device, `10.5.52.0/32` (flanneld gives it the lease's network address). */
  readonly deviceAddresses?: readonly string[];
  /** The overlay device, for messages. */
  readonly device?: string;
}

/** This host's lease and how it was found, or why none was; `others` are further leases of its PublicIP. */
export type HostLeaseMatch =
  | {
      readonly lease: Lease;
      readonly foundBy: "public-ip" | "subnet-file" | "device";
      readonly others: readonly Lease[];
    }
  | { readonly lease: undefined; readonly why: string };

/**
 * Finds this host's lease: by its public address when given (a reservation first, as when it
 * acquires), else by the subnet its subnet file names, else by its overlay device's /32 (or
 * /128) address. `why` says, in one sentence, what was looked at when nothing matched.
 */
export function findHostLease(listing: LeaseListing, hints: HostLeaseHints): HostLeaseMatch {
  if (hints.publicIp !== undefined) {
    const ip = hints.publicIp;
    const owned = listing.leases.filter((l) => ownedBy(l, ip));
    const lease = pickHostLease(owned);
    if (lease === undefined) return { lease: undefined, why: `${ip} holds no lease` };
    return { lease, foundBy: "public-ip", others: owned.filter((l) => l !== lease) };
  }
  const notes: string[] = [];
  const wanted = hints.subnetFileSubnet;
  if (wanted !== undefined) {
    const lease = listing.leases.find((l) => sameSubnet(l.subnet, wanted));
    if (lease !== undefined) return { lease, foundBy: "subnet-file", others: [] };
    notes.push(
      `${hints.subnetFile ?? "the subnet file"} names ${subnetName(wanted)}, but no lease holds it (this host has lost its lease)`,
    );
  } else if (hints.subnetFile !== undefined) {
    notes.push(`no subnet in ${hints.subnetFile}`);
  }
  for (const address of hints.deviceAddresses ?? []) {
    const [ip = "", prefix] = address.split("/");
    const v4 = prefix === "32" ? parseIPv4(ip) : null;
    const v6 = prefix === "128" ? parseIPv6(ip) : null;
    const lease = listing.leases.find(
      (l) =>
        (v4 !== null && hasIPv4(l.subnet) && l.subnet.ipv4.ip === v4) ||
        (v6 !== null && l.subnet.ipv6 !== undefined && l.subnet.ipv6.ip === v6),
    );
    if (lease !== undefined) return { lease, foundBy: "device", others: [] };
  }
  if (hints.device !== undefined) {
    notes.push(
      hints.deviceAddresses === undefined
        ? `no local ${hints.device}`
        : `no lease matches ${hints.device}'s address`,
    );
  }
  notes.push("give --public-ip to find it by owner");
  return { lease: undefined, why: notes.join("; ") };
}
