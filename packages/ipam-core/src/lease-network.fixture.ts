/** Test fixtures: the lease networks the tests hand out subnets from (not built: see tsconfig.json). */
import { parseIPv4, parseIPv4Cidr, parseIPv6, parseIPv6Cidr } from "./address.js";
import type { LeaseNetwork } from "./lease.js";
import type { SubnetRange4, SubnetRange6 } from "./subnet-range.js";

/** `value`, or a thrown error naming the text a test got wrong. */
function parsed<T>(value: T | null, text: string): T {
  if (value === null) throw new Error(`fixture: "${text}" does not parse`);
  return value;
}

/** The /`subnetLen` subnets of IPv4 `cidr` from `min` to `max`, e.g. `range4("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0")`. */
export function range4(cidr: string, subnetLen: number, min: string, max: string): SubnetRange4 {
  return {
    network: parsed(parseIPv4Cidr(cidr), cidr),
    subnetLen,
    min: parsed(parseIPv4(min), min),
    max: parsed(parseIPv4(max), max),
  };
}

/** The /`subnetLen` subnets of IPv6 `cidr` from `min` to `max`. */
export function range6(cidr: string, subnetLen: number, min: string, max: string): SubnetRange6 {
  return {
    network: parsed(parseIPv6Cidr(cidr), cidr),
    subnetLen,
    min: parsed(parseIPv6(min), min),
    max: parsed(parseIPv6(max), max),
  };
}

/** An IPv4-only lease network (the arguments of {@link range4}). */
export function network4(cidr: string, subnetLen: number, min: string, max: string): LeaseNetwork {
  return { ipv4: range4(cidr, subnetLen, min, max) };
}

/** 10.5.0.0/16 in /24s from 10.5.1.0 to 10.5.255.0: flannel's defaults for the README's network. */
export const NET_10_5: LeaseNetwork = network4("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0");

/** 10.0.0.0/8 in /24s from 10.0.1.0 to 10.255.255.0: 65,535 subnets, as in the benchmarks. */
export const NET_10_8: LeaseNetwork = network4("10.0.0.0/8", 24, "10.0.1.0", "10.255.255.0");

/** {@link NET_10_5} with fc00::/48 in /64s from fc00:0:0:1:: to fc00:0:0:ffff:: (flannel's IPv6 defaults). */
export const DUAL_10_5: LeaseNetwork = {
  ...NET_10_5,
  ipv6: range6("fc00::/48", 64, "fc00:0:0:1::", "fc00:0:0:ffff::"),
};
