/**
 * The subnet ranges a resolved config hands out, in ipam-core's terms: the bridge between the
 * config document (strings, as flanneld resolves them) and the allocator (integers). Pure.
 */
import {
  type LeaseNetwork,
  maskIPv4,
  maskIPv6,
  PodnetError,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  parseIPv6Cidr,
  type SubnetRange4,
  type SubnetRange6,
} from "@podnet/ipam-core";
import type { ResolvedConfig } from "./schema.js";

/**
 * The IPv4 and IPv6 subnet ranges of a resolved config (a family only when it is enabled and
 * resolved). Throws an `invalid` PodnetError when a resolved field does not parse, which the
 * validator rules out.
 */
export function leaseNetworkOf(resolved: ResolvedConfig): LeaseNetwork {
  const ipv4 = resolved.EnableIPv4 ? range4(resolved) : undefined;
  const ipv6 = resolved.EnableIPv6 ? range6(resolved) : undefined;
  if (ipv4 === undefined && ipv6 === undefined) {
    throw new PodnetError("invalid", "the network config enables neither an IPv4 nor an IPv6 network");
  }
  return { ...(ipv4 && { ipv4 }), ...(ipv6 && { ipv6 }) };
}

function range4(r: ResolvedConfig): SubnetRange4 | undefined {
  if (r.Network === undefined) return undefined;
  const net = parseIPv4Cidr(r.Network);
  const min = r.SubnetMin === undefined ? null : parseIPv4(r.SubnetMin);
  const max = r.SubnetMax === undefined ? null : parseIPv4(r.SubnetMax);
  if (net === null || min === null || max === null || r.SubnetLen === undefined) {
    throw unresolved("Network, SubnetLen, SubnetMin and SubnetMax");
  }
  return {
    network: { ip: maskIPv4(net.ip, net.prefix), prefix: net.prefix },
    subnetLen: r.SubnetLen,
    min,
    max,
  };
}

function range6(r: ResolvedConfig): SubnetRange6 | undefined {
  if (r.IPv6Network === undefined) return undefined;
  const net = parseIPv6Cidr(r.IPv6Network);
  const min = r.IPv6SubnetMin === undefined ? null : parseIPv6(r.IPv6SubnetMin);
  const max = r.IPv6SubnetMax === undefined ? null : parseIPv6(r.IPv6SubnetMax);
  if (net === null || min === null || max === null || r.IPv6SubnetLen === undefined) {
    throw unresolved("IPv6Network, IPv6SubnetLen, IPv6SubnetMin and IPv6SubnetMax");
  }
  return {
    network: { ip: maskIPv6(net.ip, net.prefix), prefix: net.prefix },
    subnetLen: r.IPv6SubnetLen,
    min,
    max,
  };
}

function unresolved(fields: string): PodnetError {
  return new PodnetError("invalid", `the network config's ${fields} are not resolved; validate it first`);
}
