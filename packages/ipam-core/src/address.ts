/**
 * Address math on integers: IPv4 addresses are unsigned 32-bit numbers, IPv6 addresses are
 * 128-bit bigints. Parsing follows Go's net.ParseIP (what flannel uses): dotted quads without
 * leading zeros, IPv6 with `::` and an optional embedded IPv4 tail, no zone.
 * User-typed CIDRs and masks are checked by ip-cidr and netmask first (cidr-input.ts); this
 * file stays hand-written because every listing runs it per key (ip-cidr is ~30x slower).
 */

/** An IPv4 network: `ip` is an unsigned 32-bit integer, not necessarily masked. */
export interface IPv4Net {
  readonly ip: number;
  readonly prefix: number;
}

/** An IPv6 network: `ip` is a 128-bit unsigned bigint, not necessarily masked. */
export interface IPv6Net {
  readonly ip: bigint;
  readonly prefix: number;
}

const IPV6_ALL = (1n << 128n) - 1n;

/** Parses a dotted-quad IPv4 address; null when it is not one. */
export function parseIPv4(text: string): number | null {
  // One pass over the characters, no split: the views parse 65,000 PublicIPs.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return null;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return null; // leading zero: Go rejects it
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return null;
    } else return null;
  }
  if (dots !== 3 || digits === 0) return null;
  return value * 256 + octet;
}

/** Formats an unsigned 32-bit integer as a dotted quad. */
export function formatIPv4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** The length of {@link formatIPv4}'s text, without making it (for writers padding columns). */
export function ipv4TextLength(ip: number): number {
  const octet = (n: number) => (n >= 100 ? 3 : n >= 10 ? 2 : 1);
  return 3 + octet(ip >>> 24) + octet((ip >>> 16) & 255) + octet((ip >>> 8) & 255) + octet(ip & 255);
}

/** The IPv4 netmask of a prefix length, as an unsigned 32-bit integer. */
export function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network address of `ip` under `prefix`. */
export function maskIPv4(ip: number, prefix: number): number {
  return (ip & ipv4Mask(prefix)) >>> 0;
}

/** Parses `a.b.c.d/len`; null when it is not an IPv4 CIDR. Host bits are kept. */
export function parseIPv4Cidr(text: string): IPv4Net | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const ip = parseIPv4(text.slice(0, slash));
  const prefix = parsePrefix(text.slice(slash + 1), 32);
  if (ip === null || prefix === null) return null;
  return { ip, prefix };
}

/** Formats an IPv4 network as `a.b.c.d/len` (the address as given, not masked). */
export function formatIPv4Cidr(net: IPv4Net): string {
  return `${formatIPv4(net.ip)}/${net.prefix}`;
}

/** Whether `ip` lies inside `net`. */
export function ipv4NetContains(net: IPv4Net, ip: number): boolean {
  return maskIPv4(ip, net.prefix) === maskIPv4(net.ip, net.prefix);
}

/** Whether two IPv4 networks share any address. */
export function ipv4NetsOverlap(a: IPv4Net, b: IPv4Net): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return maskIPv4(a.ip, prefix) === maskIPv4(b.ip, prefix);
}

/** The number of addresses in a prefix of the given length. */
export function ipv4Size(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Parses an IPv6 address (with `::` and an optional dotted IPv4 tail); null when not one. */
export function parseIPv6(text: string): bigint | null {
  if (text.length < 2 || text.length > 45 || text.includes("%")) return null;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) >= 0) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith("::")) head = head.slice(0, -1); // drop the separator before the IPv4 tail
  }
  const dbl = head.indexOf("::");
  if (dbl >= 0 && head.indexOf("::", dbl + 1) >= 0) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (g.length === 0 || g.length > 4) return null;
      const v = Number.parseInt(g, 16);
      if (!/^[0-9a-fA-F]+$/.test(g) || Number.isNaN(v)) return null;
      out.push(v);
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (left === null || right === null) return null;
    const fill = 8 - left.length - right.length - tail.length;
    if (fill < 1) return null;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
  } else {
    const all = parseGroups(head);
    if (all === null) return null;
    groups = [...all, ...tail];
    if (groups.length !== 8) return null;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Formats an IPv6 address in canonical compressed lower-case form (RFC 5952, as Go does). */
export function formatIPv6(ip: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip >> BigInt(i * 16)) & 0xffffn));
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    // IPv4-mapped: Go prints these as plain dotted quads; keep the mapped form explicit.
    return `::ffff:${formatIPv4(Number(ip & 0xffffffffn))}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** The IPv6 netmask of a prefix length. */
export function ipv6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (IPV6_ALL << BigInt(128 - prefix)) & IPV6_ALL;
}

/** The network address of `ip` under `prefix`. */
export function maskIPv6(ip: bigint, prefix: number): bigint {
  return ip & ipv6Mask(prefix);
}

/** Parses `addr/len`; null when it is not an IPv6 CIDR. Host bits are kept. */
export function parseIPv6Cidr(text: string): IPv6Net | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const ip = parseIPv6(text.slice(0, slash));
  const prefix = parsePrefix(text.slice(slash + 1), 128);
  if (ip === null || prefix === null) return null;
  return { ip, prefix };
}

/** Formats an IPv6 network as `addr/len`. */
export function formatIPv6Cidr(net: IPv6Net): string {
  return `${formatIPv6(net.ip)}/${net.prefix}`;
}

/** Whether `ip` lies inside `net`. */
export function ipv6NetContains(net: IPv6Net, ip: bigint): boolean {
  return maskIPv6(ip, net.prefix) === maskIPv6(net.ip, net.prefix);
}

/** Whether two IPv6 networks share any address. */
export function ipv6NetsOverlap(a: IPv6Net, b: IPv6Net): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return maskIPv6(a.ip, prefix) === maskIPv6(b.ip, prefix);
}

function parsePrefix(text: string, max: number): number | null {
  if (!/^(0|[1-9][0-9]?[0-9]?)$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/** An address of either family: a number (IPv4) or a bigint (IPv6). */
export type AnyAddress = number | bigint;

/** The address in iproute2's words (dotted IPv4, compressed lower-case IPv6), by its own family. */
export function formatAddress(ip: AnyAddress): string {
  return typeof ip === "bigint" ? formatIPv6(ip) : formatIPv4(ip);
}

/** `10.5.7.0/24` or `fc00:0:0:7::/64`, by the address's own family. */
export function formatCidr(ip: AnyAddress, prefix: number): string {
  return typeof ip === "bigint" ? formatIPv6Cidr({ ip, prefix }) : formatIPv4Cidr({ ip, prefix });
}
