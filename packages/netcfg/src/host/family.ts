/**
 * The two address families of the data plane in one place: an IPv4 address is a number, an
 * IPv6 address a bigint (ipam-core's forms), so a peer's addresses say their family themselves.
 */
import {
  type AnyAddress,
  type IPv4Net,
  type IPv6Net,
  ipv4NetContains,
  ipv6NetContains,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  parseIPv6Cidr,
} from "@podnet/ipam-core";

/** 4 for `flannel.<VNI>`, 6 for `flannel-v6.<VNI>`. */
export type AddressFamily = 4 | 6;

/** An address of either family: a number (IPv4) or a bigint (IPv6). */
export type PeerAddress = AnyAddress;

// The family-generic printers live in ipam-core with the rest of the address rules; netcfg's
// API keeps offering them here.
export { formatAddress, formatCidr } from "@podnet/ipam-core";

/** An address of the family, or null. */
export function parseAddress(family: AddressFamily, text: string): PeerAddress | null {
  return family === 6 ? parseIPv6(text) : parseIPv4(text);
}

/** A CIDR of the family, or null. */
export function parseCidr(family: AddressFamily, text: string): IPv4Net | IPv6Net | null {
  return family === 6 ? parseIPv6Cidr(text) : parseIPv4Cidr(text);
}

/** Whether `net` (of the same family as `ip`) contains `ip`. */
export function netContains(net: IPv4Net | IPv6Net, ip: PeerAddress): boolean {
  return typeof ip === "bigint"
    ? typeof net.ip === "bigint" && ipv6NetContains(net as IPv6Net, ip)
    : typeof net.ip === "number" && ipv4NetContains(net as IPv4Net, ip);
}

/** The family of a CIDR text (by its colon), for kernel entries read without one. */
export function familyOf(text: string): AddressFamily {
  return text.includes(":") ? 6 : 4;
}

/** iproute2's family flag. */
export function familyFlag(family: AddressFamily): "-4" | "-6" {
  return family === 6 ? "-6" : "-4";
}
