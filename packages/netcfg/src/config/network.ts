/**
 * flannel's network rules (CheckNetworkConfig): derive SubnetLen, SubnetMin and SubnetMax for
 * each enabled family, in flannel's order, with flannel's messages; the first failure wins.
 */
import {
  checkCidr,
  formatIPv4,
  formatIPv6,
  type IPv4Net,
  type IPv6Net,
  ipv4NetContains,
  ipv6NetContains,
  maskIPv4,
  maskIPv6,
  parseIPv4,
  parseIPv6,
} from "@podnet/ipam-core";
import { type Diagnostic, error } from "./diagnostic.js";
import type { NetworkDocument } from "./schema.js";

/** Maps a canonical top-level field name to its JSON pointer as spelled in the document. */
export type FieldPointer = (field: string) => string;

/** A resolved IPv4 subnet range: masked network, subnet length, first and last subnet. */
export interface IPv4Range {
  readonly net: IPv4Net;
  readonly subnetLen: number;
  readonly min: number;
  readonly max: number;
}

/** A resolved IPv6 subnet range. */
export interface IPv6Range {
  readonly net: IPv6Net;
  readonly subnetLen: number;
  readonly min: bigint;
  readonly max: bigint;
}

/** The outcome of flannel's rules: the ranges of the enabled families, or the first failure. */
export type NetworkResolution =
  | { readonly ok: true; readonly v4?: IPv4Range; readonly v6?: IPv6Range }
  | { readonly ok: false; readonly error: Diagnostic };

/** Runs flannel's CheckNetworkConfig on a typed document. */
export function resolveNetwork(doc: NetworkDocument, at: FieldPointer): NetworkResolution {
  let v4: IPv4Range | undefined;
  let v6: IPv6Range | undefined;
  if (doc.EnableIPv4) {
    const r = resolveIPv4(doc, at);
    if ("error" in r) return { ok: false, error: r.error };
    v4 = r;
  }
  if (doc.EnableIPv6) {
    const r = resolveIPv6(doc, at);
    if ("error" in r) return { ok: false, error: r.error };
    v6 = r;
  }
  return { ok: true, ...(v4 && { v4 }), ...(v6 && { v6 }) };
}

const DEFINE_NETWORK = "please define a correct Network parameter in the flannel config";
const DEFINE_IPV6_NETWORK = "please define a correct IPv6Network parameter in the flannel config";

function resolveIPv4(doc: NetworkDocument, at: FieldPointer): IPv4Range | { error: Diagnostic } {
  const fail = (field: string, message: string) => ({ error: error(at(field), message) });
  const text = doc.Network ?? "";
  if (text === "") return fail("Network", DEFINE_NETWORK);
  const typed = checkCidr(text, 4);
  if (typeof typed === "string" || typed.family !== 4) return fail("Network", `${DEFINE_NETWORK}: ${typed}`);
  const parsed = typed.net;
  const net = { ip: maskIPv4(parsed.ip, parsed.prefix), prefix: parsed.prefix };
  if (net.ip === 0 && net.prefix === 0) {
    return fail("Network", `${DEFINE_NETWORK}: 0.0.0.0/0 is no pod network`);
  }
  let subnetLen = doc.SubnetLen ?? 0;
  if (subnetLen > 0) {
    if (subnetLen > 30) return fail("SubnetLen", "SubnetLen must be less than /31");
    if (subnetLen < net.prefix + 2) {
      return fail("SubnetLen", "network must be able to accommodate at least four subnets");
    }
  } else if (net.prefix > 28) {
    return fail("Network", "network is too small. Minimum useful network prefix is /28");
  } else {
    subnetLen = net.prefix <= 22 ? 24 : net.prefix + 2;
  }
  const size = 2 ** (32 - subnetLen);
  // flannel treats 0.0.0.0 as "not given"
  let min = doc.SubnetMin === undefined ? 0 : (parseIPv4(doc.SubnetMin) ?? 0);
  if (min === 0) min = net.ip + size;
  else if (!ipv4NetContains(net, min))
    return fail("SubnetMin", "SubnetMin is not in the range of the Network");
  let max = doc.SubnetMax === undefined ? 0 : (parseIPv4(doc.SubnetMax) ?? 0);
  if (max === 0) max = net.ip + 2 ** (32 - net.prefix) - size;
  else if (!ipv4NetContains(net, max))
    return fail("SubnetMax", "SubnetMax is not in the range of the Network");
  if (maskIPv4(min, subnetLen) !== min) {
    return fail("SubnetMin", `SubnetMin is not on a SubnetLen boundary: ${formatIPv4(min)}`);
  }
  if (maskIPv4(max, subnetLen) !== max) {
    return fail("SubnetMax", `SubnetMax is not on a SubnetLen boundary: ${formatIPv4(max)}`);
  }
  return { net, subnetLen, min, max };
}

function resolveIPv6(doc: NetworkDocument, at: FieldPointer): IPv6Range | { error: Diagnostic } {
  const fail = (field: string, message: string) => ({ error: error(at(field), message) });
  const text = doc.IPv6Network ?? "";
  if (text === "") return fail("IPv6Network", DEFINE_IPV6_NETWORK);
  const typed = checkCidr(text, 6);
  if (typeof typed === "string" || typed.family !== 6) {
    return fail("IPv6Network", `${DEFINE_IPV6_NETWORK}: ${typed}`);
  }
  const parsed = typed.net;
  const net = { ip: maskIPv6(parsed.ip, parsed.prefix), prefix: parsed.prefix };
  if (net.ip === 0n && net.prefix === 0)
    return fail("IPv6Network", `${DEFINE_IPV6_NETWORK}: ::/0 is no pod network`);
  let subnetLen = doc.IPv6SubnetLen ?? 0;
  if (subnetLen > 0) {
    if (subnetLen > 126) return fail("IPv6SubnetLen", "SubnetLen must be less than /127");
    if (subnetLen < net.prefix + 2) {
      return fail("IPv6SubnetLen", "network must be able to accommodate at least four subnets");
    }
  } else if (net.prefix > 124) {
    return fail("IPv6Network", "IPv6Network is too small. Minimum useful network prefix is /124");
  } else {
    subnetLen = net.prefix <= 62 ? 64 : net.prefix + 2;
  }
  const size = 1n << BigInt(128 - subnetLen);
  // flannel treats :: as "not given"
  let min = doc.IPv6SubnetMin === undefined ? 0n : (parseIPv6(doc.IPv6SubnetMin) ?? 0n);
  if (min === 0n) min = net.ip + size;
  else if (!ipv6NetContains(net, min)) {
    return fail("IPv6SubnetMin", "IPv6SubnetMin is not in the range of the IPv6Network");
  }
  let max = doc.IPv6SubnetMax === undefined ? 0n : (parseIPv6(doc.IPv6SubnetMax) ?? 0n);
  if (max === 0n) max = net.ip + (1n << BigInt(128 - net.prefix)) - size;
  else if (!ipv6NetContains(net, max)) {
    return fail("IPv6SubnetMax", "IPv6SubnetMax is not in the range of the IPv6Network");
  }
  if (maskIPv6(min, subnetLen) !== min) {
    return fail("IPv6SubnetMin", `IPv6SubnetMin is not on a SubnetLen boundary: ${formatIPv6(min)}`);
  }
  if (maskIPv6(max, subnetLen) !== max) {
    return fail("IPv6SubnetMax", `IPv6SubnetMax is not on a SubnetLen boundary: ${formatIPv6(max)}`);
  }
  return { net, subnetLen, min, max };
}
