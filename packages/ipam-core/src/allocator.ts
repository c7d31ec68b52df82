/**
 * The allocation policy (flannel-compat.md section 6), pure: given a listing, the network and
 * this host's attributes, decide which subnet the host should hold. No I/O, no clock; the
 * randomness is passed in. The registry carries the decision out against etcd.
 */
import {
  formatIPv4,
  formatIPv6,
  type IPv4Net,
  type IPv6Net,
  ipv4NetsOverlap,
  ipv6NetsOverlap,
  maskIPv4,
} from "./address.js";
import { PodnetError } from "./errors.js";
import type { Lease, LeaseListing, LeaseNetwork } from "./lease.js";
import { isReservation } from "./lease.js";
import { hasIPv4, type LeaseAttrs, type LeaseSubnet } from "./lease-codec.js";
import {
  freeIPv4,
  freeSubnets,
  rangeContains,
  rangeSize,
  type SubnetRange4,
  type SubnetRange6,
} from "./subnet-range.js";

/** What the allocator needs to decide. */
export interface AllocationInput {
  readonly listing: LeaseListing;
  readonly network: LeaseNetwork;
  /** This host's lease attributes; `publicIP` identifies its leases. */
  readonly attrs: LeaseAttrs;
  /** The subnet the host held before (e.g. from its subnet file): a hint, taken only if free. */
  readonly previous?: LeaseSubnet;
  /** Uniform in [0, 1), like Math.random. */
  readonly random: () => number;
  /** Subnets already tried and lost in a race: treated as taken. */
  readonly exclude?: readonly LeaseSubnet[];
}

/** The allocator's decision; `stale` are this host's leases that no longer fit and should go. */
export type AllocationDecision =
  | { readonly kind: "reuse"; readonly lease: Lease; readonly stale: readonly Lease[] }
  | { readonly kind: "previous"; readonly subnet: LeaseSubnet; readonly stale: readonly Lease[] }
  | { readonly kind: "new"; readonly subnet: LeaseSubnet; readonly stale: readonly Lease[] };

/** Whether a lease subnet fits the network: right families, length and shape, inside Min..Max. */
export function leaseFits(network: LeaseNetwork, subnet: LeaseSubnet): boolean {
  if (network.ipv4 === undefined && network.ipv6 === undefined) return false;
  const v4ok =
    network.ipv4 !== undefined
      ? hasIPv4(subnet) && rangeContains(network.ipv4, subnet.ipv4)
      : !hasIPv4(subnet);
  const v6ok =
    network.ipv6 !== undefined
      ? subnet.ipv6 !== undefined && rangeContains(network.ipv6, subnet.ipv6)
      : subnet.ipv6 === undefined;
  return v4ok && v6ok;
}

/**
 * Decides what this host should hold: its own fitting lease or reservation (a reservation
 * preferred), else the previous subnet if nothing overlaps it, else a uniformly random free
 * subnet among all free ones. Throws PodnetError("exhausted") when none is free.
 */
export function decideAllocation(input: AllocationInput): AllocationDecision {
  const mine = input.listing.leases.filter((l) => l.attrs.publicIP === input.attrs.publicIP);
  return decideFrom({ mine, occupied: OccupiedSubnets.of(input.listing) }, input);
}

/**
 * What {@link decideFrom} needs of a listing: this host's leases (its PublicIP's, in key
 * order) and every subnet that occupies space. Registries build this without decoding values.
 */
export interface AllocationView {
  readonly mine: readonly Lease[];
  readonly occupied: OccupiedSubnets;
}

/** {@link decideAllocation} over a prepared view instead of a decoded listing. */
export function decideFrom(
  view: AllocationView,
  input: Omit<AllocationInput, "listing" | "attrs">,
): AllocationDecision {
  const { mine } = view;
  const fitting = mine.filter((l) => leaseFits(input.network, l.subnet));
  // A reservation the admin made for this host wins over a lease it happens to hold too.
  const reuse = fitting.find(isReservation) ?? fitting[0];
  // Non-fitting reservations are the admin's to remove; only expiring leases are cleaned up.
  const stale = mine.filter((l) => !leaseFits(input.network, l.subnet) && !isReservation(l));
  if (reuse !== undefined) return { kind: "reuse", lease: reuse, stale };
  const { previous } = input;
  const exclude = input.exclude ?? [];
  if (
    previous !== undefined &&
    leaseFits(input.network, previous) &&
    !view.occupied.overlaps(previous) &&
    !exclude.some((s) => subnetsOverlap(s, previous))
  ) {
    return { kind: "previous", subnet: previous, stale };
  }
  return {
    kind: "new",
    subnet: pickFrom(view.occupied, input.network, input.random, exclude),
    stale,
  };
}

/**
 * Every subnet that occupies space (leases, reservations, damaged entries; foreign keys
 * never do), kept flat: IPv4 parts as parallel number arrays, IPv6 parts as networks.
 */
export class OccupiedSubnets {
  /** IPv4 network addresses; `len4[i]` is the prefix length of `ip4[i]`. */
  readonly ip4: number[] = [];
  readonly len4: number[] = [];
  readonly v6: IPv6Net[] = [];

  /** The occupied subnets of a decoded listing. */
  static of(listing: LeaseListing): OccupiedSubnets {
    const out = new OccupiedSubnets();
    for (const l of listing.leases) out.add(l.subnet);
    for (const d of listing.damaged) out.add(d.subnet);
    return out;
  }

  /** Marks a subnet (either family) as occupied. */
  add(subnet: LeaseSubnet): void {
    if (hasIPv4(subnet)) this.addIPv4(subnet.ipv4.ip, subnet.ipv4.prefix);
    if (subnet.ipv6 !== undefined) this.v6.push(subnet.ipv6);
  }

  /** Marks an IPv4 subnet as occupied, from its integer address and prefix length. */
  addIPv4(ip: number, prefix: number): void {
    this.ip4.push(ip);
    this.len4.push(prefix);
    const index = this.index4;
    if (index === undefined) return;
    if (prefix === index.len) index.same.add(ip);
    else index.other.push(ip, prefix);
  }

  /** The IPv4 networks by whether their length is `len` (a set) or not (ip, prefix pairs); kept as they are added. */
  private index4: { len: number; same: Set<number>; other: number[] } | undefined;

  /**
   * Whether the IPv4 subnet `ip`/`len` is free of every occupied network: O(1) with a set of
   * the networks of length `len` (nearly all of them: leases are SubnetLen long) plus a scan
   * of the few others.
   */
  freeIPv4(ip: number, len: number): boolean {
    let index = this.index4;
    if (index?.len !== len) {
      index = { len, same: new Set(), other: [] };
      for (let i = 0; i < this.ip4.length; i++) {
        if (this.len4[i] === len) index.same.add(this.ip4[i]!);
        else index.other.push(this.ip4[i]!, this.len4[i]!);
      }
      this.index4 = index;
    }
    if (index.same.has(ip)) return false;
    const { other } = index;
    for (let i = 0; i < other.length; i += 2) {
      const p = Math.min(len, other[i + 1]!);
      if (maskIPv4(ip, p) === maskIPv4(other[i]!, p)) return false;
    }
    return true;
  }

  /** Whether any occupied subnet overlaps `subnet` (in either family, as {@link subnetsOverlap}). */
  overlaps(subnet: LeaseSubnet): boolean {
    if (hasIPv4(subnet)) {
      const { ip, prefix } = subnet.ipv4;
      for (let i = 0; i < this.ip4.length; i++) {
        const p = Math.min(prefix, this.len4[i]!);
        if (maskIPv4(ip, p) === maskIPv4(this.ip4[i]!, p)) return true;
      }
    }
    const v6 = subnet.ipv6;
    return v6 !== undefined && this.v6.some((o) => ipv6NetsOverlap(o, v6));
  }
}

/**
 * A uniformly random free subnet (both families on dual stack), after a lost race with the
 * subnets already tried excluded. Throws PodnetError("exhausted") when none is free.
 */
export function pickFreeSubnet(
  listing: LeaseListing,
  network: LeaseNetwork,
  random: () => number,
  exclude: readonly LeaseSubnet[] = [],
): LeaseSubnet {
  return pickFrom(OccupiedSubnets.of(listing), network, random, exclude);
}

function pickFrom(
  occupied: OccupiedSubnets,
  network: LeaseNetwork,
  random: () => number,
  exclude: readonly LeaseSubnet[],
): LeaseSubnet {
  let ipv4: IPv4Net | undefined;
  let ipv6: IPv6Net | undefined;
  if (network.ipv4 !== undefined) ipv4 = sampleFreeIPv4(occupied, network.ipv4, random, exclude);
  if (network.ipv4 !== undefined && ipv4 === undefined) {
    const free = freeIPv4(network.ipv4, (mark) => {
      const { ip4, len4 } = occupied;
      for (let i = 0; i < ip4.length; i++) mark(ip4[i]!, len4[i]!);
      for (const s of exclude) if (hasIPv4(s)) mark(s.ipv4.ip, s.ipv4.prefix);
    });
    if (free.count === 0) throw exhaustedError(network.ipv4);
    ipv4 = free.nth(Math.min(free.count - 1, Math.floor(random() * free.count))) ?? undefined;
  }
  if (network.ipv6 !== undefined) {
    const free = freeSubnets(network.ipv6, [
      ...occupied.v6,
      ...exclude.flatMap((s) => (s.ipv6 !== undefined ? [s.ipv6] : [])),
    ]);
    if (free.count === 0n) throw exhaustedError(network.ipv6);
    ipv6 = free.nth(randomBelow(free.count, random)) ?? undefined;
  }
  if (ipv4 === undefined && ipv6 === undefined) {
    throw new PodnetError("invalid", "the network has neither an IPv4 nor an IPv6 range to lease from");
  }
  // flannel writes an IPv6-only lease with the zero IPv4 network in front (0.0.0.0-0&...).
  return { ipv4: ipv4 ?? { ip: 0, prefix: 0 }, ...(ipv6 !== undefined ? { ipv6 } : {}) };
}

/** Ranges smaller than this are counted exactly: cheap, and deterministic for a given `random`. */
const SAMPLE_MIN_SIZE = 4096;
/** Sampling stops paying above this share taken (the draws a miss needs grow as 1 / ln(share)). */
const SAMPLE_MAX_TAKEN = 0.99;
/** How unlikely it should be that every draw misses, so the exact count runs (it is right either way). */
const SAMPLE_MISS_ODDS = 1e-14;

/**
 * A uniformly random free IPv4 subnet found by drawing subnets of the whole range until one is
 * free, in a range of 4,096 subnets or more of which at most 99% is taken, with as many draws as
 * make a miss of every one less likely than 1e-14 (24 at a quarter taken, ~3,200 at 99%);
 * undefined otherwise, or when every draw missed. Accepting the first free draw is uniform over
 * the free subnets, as the exact count-and-rank below is; it just costs a few set lookups
 * instead of a pass over every lease, which a long-running registry would pay on each acquire.
 */
function sampleFreeIPv4(
  occupied: OccupiedSubnets,
  range: SubnetRange4,
  random: () => number,
  exclude: readonly LeaseSubnet[],
): IPv4Net | undefined {
  const size = rangeSize(range);
  const taken = (occupied.ip4.length + exclude.length) / size;
  if (size < SAMPLE_MIN_SIZE || taken > SAMPLE_MAX_TAKEN) return undefined;
  const tries = taken <= 0 ? 1 : Math.ceil(Math.log(SAMPLE_MISS_ODDS) / Math.log(taken));
  const step = 2 ** (32 - range.subnetLen);
  for (let t = 0; t < tries; t++) {
    const i = Math.min(size - 1, Math.floor(random() * size));
    const net = { ip: range.min + i * step, prefix: range.subnetLen };
    if (!occupied.freeIPv4(net.ip, net.prefix)) continue;
    if (exclude.some((s) => hasIPv4(s) && ipv4NetsOverlap(s.ipv4, net))) continue;
    return net;
  }
  return undefined;
}

/** The out-of-subnets error for a range, naming it and how many subnets it holds. */
export function exhaustedError(range: SubnetRange4 | SubnetRange6): PodnetError {
  const text =
    typeof range.min === "bigint"
      ? `${formatIPv6(range.min)} … ${formatIPv6(range.max as bigint)} (/${range.subnetLen})`
      : `${formatIPv4(range.min)} … ${formatIPv4(range.max as number)} (/${range.subnetLen})`;
  const size =
    typeof range.min === "bigint" ? rangeSize(range as SubnetRange6) : rangeSize(range as SubnetRange4);
  return new PodnetError(
    "exhausted",
    `out of subnets: every subnet of ${text}, ${size} in all, is leased or reserved; release unused leases or widen the network`,
  );
}

/** Whether two lease subnets overlap in either family. */
export function subnetsOverlap(a: LeaseSubnet, b: LeaseSubnet): boolean {
  if (hasIPv4(a) && hasIPv4(b) && ipv4NetsOverlap(a.ipv4, b.ipv4)) return true;
  return a.ipv6 !== undefined && b.ipv6 !== undefined && ipv6NetsOverlap(a.ipv6, b.ipv6);
}

/** A uniform bigint in [0, n), from 32-bit draws with 64 spare bits so the modulo bias vanishes. */
function randomBelow(n: bigint, random: () => number): bigint {
  const bits = n.toString(2).length + 64;
  let acc = 0n;
  for (let have = 0; have < bits; have += 32) {
    acc = (acc << 32n) | BigInt(Math.floor(random() * 2 ** 32) >>> 0);
  }
  return acc % n;
}
