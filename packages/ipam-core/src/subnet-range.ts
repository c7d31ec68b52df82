/**
 * The subnets a network hands out: every `subnetLen` block from `min` to `max` inclusive, and
 * the search for free ones among the taken leases. The search sorts the taken intervals once
 * and walks the gaps between them, so it costs O(taken log taken) whatever the range's size:
 * a /8 cut into /24s and an IPv6 /16 cut into /64s cost the same.
 *
 * IPv4 ranges count with `number` (at most 2^32 subnets, always exact); IPv6 ranges count with
 * `bigint`. Each function is overloaded on the range's family.
 */
import { type IPv4Net, type IPv6Net, maskIPv4, maskIPv6 } from "./address.js";

/**
 * The IPv4 subnets of `network` of length `subnetLen` whose network addresses run from `min`
 * to `max` inclusive. `min` and `max` are subnet network addresses on `subnetLen` boundaries
 * (flannel's SubnetMin and SubnetMax; the config validator guarantees the boundaries).
 */
export interface SubnetRange4 {
  readonly network: IPv4Net;
  readonly subnetLen: number;
  readonly min: number;
  readonly max: number;
}

/** The IPv6 twin of {@link SubnetRange4}: addresses and counts are bigints. */
export interface SubnetRange6 {
  readonly network: IPv6Net;
  readonly subnetLen: number;
  readonly min: bigint;
  readonly max: bigint;
}

/** The free subnets of a range given its taken leases, computed once and queried many times. */
export interface FreeSubnets<N extends number | bigint, Net> {
  /** How many subnets of the range no taken lease overlaps. */
  readonly count: N;
  /** The free subnet of rank `n` (0-based, ascending); null when `n` is not below `count`. */
  nth(n: N): Net | null;
  /** The `k` lowest free subnets, ascending (fewer when fewer are free). */
  first(k: number): Net[];
  /** The free part of min..max as the fewest CIDRs, ascending (prefixes up to subnetLen). */
  cidrs(): Net[];
}

/** Free IPv4 subnets; see {@link freeSubnets}. */
export type FreeSubnets4 = FreeSubnets<number, IPv4Net>;
/** Free IPv6 subnets; see {@link freeSubnets}. */
export type FreeSubnets6 = FreeSubnets<bigint, IPv6Net>;

/** The number of subnets in the range (0 when max < min). */
export function rangeSize(range: SubnetRange4): number;
export function rangeSize(range: SubnetRange6): bigint;
export function rangeSize(range: SubnetRange4 | SubnetRange6): number | bigint {
  return is6(range) ? sizeOf(BIG, range) : sizeOf(NUM, range);
}

/** The subnet at 0-based `index` in the range; null when the index is outside it. */
export function subnetAt(range: SubnetRange4, index: number): IPv4Net | null;
export function subnetAt(range: SubnetRange6, index: bigint): IPv6Net | null;
export function subnetAt(
  range: SubnetRange4 | SubnetRange6,
  index: number | bigint,
): IPv4Net | IPv6Net | null {
  if (is6(range)) return typeof index === "bigint" ? at(BIG, range, index) : null;
  return typeof index === "number" ? at(NUM, range, index) : null;
}

/** The index of the range's subnet that contains address `ip`; null when no subnet does. */
export function subnetIndexOf(range: SubnetRange4, ip: number): number | null;
export function subnetIndexOf(range: SubnetRange6, ip: bigint): bigint | null;
export function subnetIndexOf(
  range: SubnetRange4 | SubnetRange6,
  ip: number | bigint,
): number | bigint | null {
  if (is6(range)) return typeof ip === "bigint" ? indexOf(BIG, range, ip) : null;
  return typeof ip === "number" ? indexOf(NUM, range, ip) : null;
}

/** Whether `net` is one of the range's subnets: length subnetLen, host bits zero, within min..max. */
export function rangeContains(range: SubnetRange4, net: IPv4Net): boolean;
export function rangeContains(range: SubnetRange6, net: IPv6Net): boolean;
export function rangeContains(range: SubnetRange4 | SubnetRange6, net: IPv4Net | IPv6Net): boolean {
  if (is6(range))
    return typeof net.ip === "bigint" && contains(BIG, range, { ip: net.ip, prefix: net.prefix });
  return typeof net.ip === "number" && contains(NUM, range, { ip: net.ip, prefix: net.prefix });
}

/**
 * The free subnets of the range: those no `taken` network overlaps, whatever the taken
 * network's length (a /23 lease blocks two /24s, a /16 blocks all inside it). Taken networks
 * need not be masked or inside the range.
 */
export function freeSubnets(range: SubnetRange4, taken: Iterable<IPv4Net>): FreeSubnets4;
export function freeSubnets(range: SubnetRange6, taken: Iterable<IPv6Net>): FreeSubnets6;
export function freeSubnets(
  range: SubnetRange4 | SubnetRange6,
  taken: Iterable<IPv4Net> | Iterable<IPv6Net>,
): FreeSubnets4 | FreeSubnets6 {
  if (is6(range)) return new FreeMap(BIG, range, only(taken, "bigint"));
  return new FreeMap(NUM, range, only(taken, "number"));
}

/** The count and ranks of free IPv4 subnets, as {@link freeSubnets} gives them. */
export interface FreeIPv4 {
  /** How many subnets of the range are free. */
  readonly count: number;
  /** The free subnet of rank `n` (0-based, ascending); null when `n` is not below `count`. */
  nth(n: number): IPv4Net | null;
}

/** Ranges up to this many subnets are tracked in a byte per subnet (4 MB at most). */
const BITMAP_LIMIT = 1 << 22;

/**
 * {@link freeSubnets} for IPv4 with the taken networks given by a callback that calls `mark`
 * for each: no network objects, no sort. Small ranges (a /8 cut into /24s is 65,535 subnets)
 * use a byte per subnet; larger ones fall back to the gap walk. Same counts, same ranks.
 */
export function freeIPv4(
  range: SubnetRange4,
  each: (mark: (ip: number, prefix: number) => void) => void,
): FreeIPv4 {
  const size = sizeOf(NUM, range);
  if (size > BITMAP_LIMIT) {
    const taken: IPv4Net[] = [];
    each((ip, prefix) => taken.push({ ip, prefix }));
    return new FreeMap(NUM, range, taken);
  }
  const blocked = new Uint8Array(size);
  let used = 0;
  const step = 2 ** (32 - range.subnetLen);
  const last = range.min + size * step - 1; // last address of the range
  each((ip, prefix) => {
    if (!(prefix >= 0 && prefix <= 32) || size === 0) return;
    const start = maskIPv4(ip, prefix);
    const end = start + 2 ** (32 - prefix) - 1;
    if (end < range.min || start > last) return;
    const lo = Math.floor((Math.max(start, range.min) - range.min) / step);
    const hi = Math.floor((Math.min(end, last) - range.min) / step);
    for (let i = lo; i <= hi; i++) {
      if (blocked[i] === 0) {
        blocked[i] = 1;
        used++;
      }
    }
  });
  const count = size - used;
  return {
    count,
    nth(n: number): IPv4Net | null {
      if (!(n >= 0 && n < count) || !Number.isInteger(n)) return null;
      // A byte scan: 65,535 subnets take some 50 µs, far below the etcd round trip.
      let seen = 0;
      for (let i = 0; i < size; i++) {
        if (blocked[i] === 0 && seen++ === n) return { ip: range.min + i * step, prefix: range.subnetLen };
      }
      return null;
    },
  };
}

/** How many subnets of the range are free; see {@link freeSubnets}. */
export function countFree(range: SubnetRange4, taken: Iterable<IPv4Net>): number;
export function countFree(range: SubnetRange6, taken: Iterable<IPv6Net>): bigint;
export function countFree(
  range: SubnetRange4 | SubnetRange6,
  taken: Iterable<IPv4Net> | Iterable<IPv6Net>,
): number | bigint {
  return pick(range, taken).map.count;
}

/** The free subnet of rank `n` (0-based, ascending), so callers can pick uniformly among all free. */
export function nthFree(range: SubnetRange4, taken: Iterable<IPv4Net>, n: number): IPv4Net | null;
export function nthFree(range: SubnetRange6, taken: Iterable<IPv6Net>, n: bigint): IPv6Net | null;
export function nthFree(
  range: SubnetRange4 | SubnetRange6,
  taken: Iterable<IPv4Net> | Iterable<IPv6Net>,
  n: number | bigint,
): IPv4Net | IPv6Net | null {
  const free = pick(range, taken);
  if (free.family === 6) return typeof n === "bigint" ? free.map.nth(n) : null;
  return typeof n === "number" ? free.map.nth(n) : null;
}

/** The `k` lowest free subnets, ascending (flannel picks among the first 100 of these). */
export function firstFree(range: SubnetRange4, taken: Iterable<IPv4Net>, k: number): IPv4Net[];
export function firstFree(range: SubnetRange6, taken: Iterable<IPv6Net>, k: number): IPv6Net[];
export function firstFree(
  range: SubnetRange4 | SubnetRange6,
  taken: Iterable<IPv4Net> | Iterable<IPv6Net>,
  k: number,
): IPv4Net[] | IPv6Net[] {
  return pick(range, taken).map.first(k);
}

/** The free part of the range's min..max compacted into the fewest CIDRs, ascending. */
export function freeCidrs(range: SubnetRange4, taken: Iterable<IPv4Net>): IPv4Net[];
export function freeCidrs(range: SubnetRange6, taken: Iterable<IPv6Net>): IPv6Net[];
export function freeCidrs(
  range: SubnetRange4 | SubnetRange6,
  taken: Iterable<IPv4Net> | Iterable<IPv6Net>,
): IPv4Net[] | IPv6Net[] {
  return pick(range, taken).map.cidrs();
}

// ---- one implementation for both families, over a small arithmetic dictionary ----

type Int = number | bigint;

interface Net<T extends Int> {
  readonly ip: T;
  readonly prefix: number;
}

interface Range<T extends Int> {
  readonly network: Net<T>;
  readonly subnetLen: number;
  readonly min: T;
  readonly max: T;
}

interface Ops<T extends Int> {
  readonly bits: number;
  readonly zero: T;
  readonly one: T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  /** Floor division of non-negative values. */
  div(a: T, b: T): T;
  cmp(a: T, b: T): number;
  /** 2 ** k. */
  pow2(k: number): T;
  mask(ip: T, prefix: number): T;
}

const NUM: Ops<number> = {
  bits: 32,
  zero: 0,
  one: 1,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => Math.floor(a / b),
  cmp: (a, b) => a - b,
  pow2: (k) => 2 ** k,
  mask: maskIPv4,
};

const BIG: Ops<bigint> = {
  bits: 128,
  zero: 0n,
  one: 1n,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  cmp: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  pow2: (k) => 1n << BigInt(k),
  mask: maskIPv6,
};

function is6(range: SubnetRange4 | SubnetRange6): range is SubnetRange6 {
  return typeof range.min === "bigint";
}

type Picked = { family: 4; map: FreeMap<number> } | { family: 6; map: FreeMap<bigint> };

function pick(range: SubnetRange4 | SubnetRange6, taken: Iterable<IPv4Net> | Iterable<IPv6Net>): Picked {
  if (is6(range)) return { family: 6, map: new FreeMap(BIG, range, only(taken, "bigint")) };
  return { family: 4, map: new FreeMap(NUM, range, only(taken, "number")) };
}

// The overloads already pin the family; this keeps the implementation honest without casts.
function only(taken: Iterable<IPv4Net> | Iterable<IPv6Net>, kind: "number"): Net<number>[];
function only(taken: Iterable<IPv4Net> | Iterable<IPv6Net>, kind: "bigint"): Net<bigint>[];
function only(taken: Iterable<IPv4Net> | Iterable<IPv6Net>, kind: "number" | "bigint"): Net<Int>[] {
  const out: Net<Int>[] = [];
  for (const net of taken) if (typeof net.ip === kind) out.push(net);
  return out;
}

function subnetSize<T extends Int>(o: Ops<T>, r: Range<T>): T {
  return o.pow2(o.bits - r.subnetLen);
}

function sizeOf<T extends Int>(o: Ops<T>, r: Range<T>): T {
  if (o.cmp(r.max, r.min) < 0) return o.zero;
  return o.add(o.div(o.sub(r.max, r.min), subnetSize(o, r)), o.one);
}

function at<T extends Int>(o: Ops<T>, r: Range<T>, index: T): Net<T> | null {
  if (o.cmp(index, o.zero) < 0 || o.cmp(index, sizeOf(o, r)) >= 0) return null;
  return { ip: o.add(r.min, o.mul(index, subnetSize(o, r))), prefix: r.subnetLen };
}

function indexOf<T extends Int>(o: Ops<T>, r: Range<T>, ip: T): T | null {
  const size = sizeOf(o, r);
  if (o.cmp(ip, r.min) < 0 || o.cmp(size, o.zero) === 0) return null;
  const index = o.div(o.sub(ip, r.min), subnetSize(o, r));
  return o.cmp(index, size) < 0 ? index : null;
}

function contains<T extends Int>(o: Ops<T>, r: Range<T>, net: Net<T>): boolean {
  return (
    net.prefix === r.subnetLen &&
    o.mask(net.ip, net.prefix) === net.ip &&
    o.cmp(net.ip, r.min) >= 0 &&
    o.cmp(net.ip, r.max) <= 0 &&
    o.mask(net.ip, r.network.prefix) === o.mask(r.network.ip, r.network.prefix)
  );
}

interface Interval<T> {
  lo: T;
  hi: T;
}

/** Free subnet indices as sorted disjoint gaps, with the count of free subnets before each. */
class FreeMap<T extends Int> implements FreeSubnets<T, Net<T>> {
  readonly count: T;
  private readonly gaps: Interval<T>[] = [];
  private readonly before: T[] = [];

  constructor(
    private readonly o: Ops<T>,
    private readonly r: Range<T>,
    taken: readonly Net<T>[],
  ) {
    const size = sizeOf(o, r);
    const step = subnetSize(o, r);
    const blocked: Interval<T>[] = [];
    if (o.cmp(size, o.zero) > 0) {
      const last = o.sub(o.add(r.min, o.mul(size, step)), o.one); // last address of the range
      for (const t of taken) {
        if (!(t.prefix >= 0 && t.prefix <= o.bits)) continue;
        const start = o.mask(t.ip, t.prefix);
        const end = o.sub(o.add(start, o.pow2(o.bits - t.prefix)), o.one);
        if (o.cmp(end, r.min) < 0 || o.cmp(start, last) > 0) continue;
        const from = o.cmp(start, r.min) > 0 ? start : r.min;
        const to = o.cmp(end, last) < 0 ? end : last;
        blocked.push({ lo: o.div(o.sub(from, r.min), step), hi: o.div(o.sub(to, r.min), step) });
      }
    }
    blocked.sort((a, b) => o.cmp(a.lo, b.lo));
    let cursor = o.zero; // lowest index not yet known to be blocked
    let count = o.zero;
    const addGap = (lo: T, hi: T) => {
      this.gaps.push({ lo, hi });
      this.before.push(count);
      count = o.add(count, o.add(o.sub(hi, lo), o.one));
    };
    for (const b of blocked) {
      if (o.cmp(b.lo, cursor) > 0) addGap(cursor, o.sub(b.lo, o.one));
      const next = o.add(b.hi, o.one);
      if (o.cmp(next, cursor) > 0) cursor = next;
    }
    if (o.cmp(cursor, size) < 0) addGap(cursor, o.sub(size, o.one));
    this.count = count;
  }

  nth(n: T): Net<T> | null {
    const o = this.o;
    if (o.cmp(n, o.zero) < 0 || o.cmp(n, this.count) >= 0) return null;
    let lo = 0;
    let hi = this.gaps.length - 1;
    while (lo < hi) {
      // the last gap whose `before` is <= n
      const mid = (lo + hi + 1) >>> 1;
      if (o.cmp(this.before[mid]!, n) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const gap = this.gaps[lo]!;
    return this.subnet(o.add(gap.lo, o.sub(n, this.before[lo]!)));
  }

  first(k: number): Net<T>[] {
    const o = this.o;
    const out: Net<T>[] = [];
    for (const gap of this.gaps) {
      for (let i = gap.lo; o.cmp(i, gap.hi) <= 0 && out.length < k; i = o.add(i, o.one)) {
        out.push(this.subnet(i));
      }
      if (out.length >= k) break;
    }
    return out;
  }

  cidrs(): Net<T>[] {
    const { o, r } = this;
    const step = subnetSize(o, r);
    const out: Net<T>[] = [];
    for (const gap of this.gaps) {
      let start = o.add(r.min, o.mul(gap.lo, step));
      const end = o.sub(o.add(r.min, o.mul(o.add(gap.hi, o.one), step)), o.one);
      while (o.cmp(start, end) <= 0) {
        // grow the block while it stays aligned and inside the gap
        let prefix = r.subnetLen;
        while (prefix > 0) {
          const wider = prefix - 1;
          const blockEnd = o.sub(o.add(start, o.pow2(o.bits - wider)), o.one);
          if (o.mask(start, wider) !== start || o.cmp(blockEnd, end) > 0) break;
          prefix = wider;
        }
        out.push({ ip: start, prefix });
        start = o.add(start, o.pow2(o.bits - prefix));
      }
    }
    return out;
  }

  private subnet(index: T): Net<T> {
    return {
      ip: this.o.add(this.r.min, this.o.mul(index, subnetSize(this.o, this.r))),
      prefix: this.r.subnetLen,
    };
  }
}
