/**
 * Where to cut a listing of `<prefix>/subnets/` into sub-ranges of about the same number of
 * keys, for `Store.scan`'s `splits`. flannel and podnet pick a lease's subnet uniformly
 * over the network's range, so the stored keys spread like the keys of the whole range: the
 * lexicographic quantiles of the keys of an even sample of the range's subnets cut them
 * evenly. The cuts only decide how the work is shared out: keys of any shape (foreign ones, or
 * subnets outside the range) still fall in one sub-range or another.
 */
import { subnetsPrefix } from "./keys.js";
import type { LeaseNetwork } from "./lease.js";
import { formatLeaseKey } from "./lease-codec.js";
import { rangeSize, subnetAt } from "./subnet-range.js";

/** Sub-ranges of a large lease listing fetched at once: measured at 65,000 leases on etcd 3.4 (see README). */
export const LEASE_SCAN_PARTS = 4;

/** The fewest subnets a range holds per sub-range worth a request of its own. */
const MIN_SUBNETS_PER_PART = 1024;

/** Sampled subnets per sub-range: enough that a quantile lands within a few percent of the true one. */
const SAMPLE_PER_PART = 64;

/**
 * The keys to cut `<prefix>/subnets/` at into `parts` sub-ranges of about equal size, sorted;
 * none for a network too small to be worth cutting. Deterministic (no random sample).
 */
export function leaseKeySplits(prefix: string, network: LeaseNetwork, parts = LEASE_SCAN_PARTS): string[] {
  const dir = subnetsPrefix(prefix);
  const names: string[] = [];
  if (network.ipv4 !== undefined) {
    const range = network.ipv4;
    const size = rangeSize(range);
    const n = partsFor(parts, size);
    const samples = Math.min(size, n * SAMPLE_PER_PART);
    for (let i = 0; i < samples && n > 1; i++) {
      const net = subnetAt(range, Math.floor(((2 * i + 1) * size) / (2 * samples)));
      if (net !== null) names.push(formatLeaseKey({ ipv4: net }));
    }
    return quantiles(dir, names, n);
  }
  if (network.ipv6 !== undefined) {
    const range = network.ipv6;
    const size = rangeSize(range);
    const n = partsFor(
      parts,
      size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size),
    );
    const samples = BigInt(n * SAMPLE_PER_PART) < size ? BigInt(n * SAMPLE_PER_PART) : size;
    for (let i = 0n; i < samples && n > 1; i++) {
      const net = subnetAt(range, ((2n * i + 1n) * size) / (2n * samples));
      // An IPv6-only lease's key carries flannel's zero IPv4 network first.
      if (net !== null) names.push(formatLeaseKey({ ipv4: { ip: 0, prefix: 0 }, ipv6: net }));
    }
    return quantiles(dir, names, n);
  }
  return [];
}

/** How many sub-ranges a range of `size` subnets is cut into. */
function partsFor(parts: number, size: number): number {
  return Math.max(1, Math.min(Math.floor(parts), Math.floor(size / MIN_SUBNETS_PER_PART)));
}

/** The `parts - 1` inner quantiles of the names, as full keys, sorted, each once. */
function quantiles(dir: string, names: string[], parts: number): string[] {
  if (parts < 2 || names.length === 0) return [];
  // Code-unit order is etcd's byte order for these ASCII names.
  names.sort();
  const cuts: string[] = [];
  for (let j = 1; j < parts; j++) {
    const key = dir + (names[Math.floor((j * names.length) / parts)] as string);
    if (cuts[cuts.length - 1] !== key) cuts.push(key);
  }
  return cuts;
}
