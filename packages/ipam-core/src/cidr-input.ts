/**
 * CIDRs and netmasks as people type them (config fields, `--underlay`, the ifconfig
 * grammar): the verdict is ip-cidr's and netmask's, the sentence is podnet's. Netmask
 * columns are printed by netmask too. The hot integer math stays hand-written in address.ts:
 * a listing parses every lease key, and measured on the 2-core development machine,
 * ip-cidr took 3.3-4.3 s for 65,000 CIDRs where address.ts takes 0.08-0.17 s (about 30x),
 * more than the whole `LeaseRegistry.list()` of 65,000 leases (0.85 s, see README).
 */
import IPCIDR from "ip-cidr";
import { Netmask } from "netmask";
import { type IPv4Net, type IPv6Net, parseIPv4Cidr, parseIPv6Cidr } from "./address.js";
import { PodnetError } from "./errors.js";

/** A CIDR read from input: an IPv4 or an IPv6 network, host bits as typed. */
export type TypedCidr =
  | { readonly family: 4; readonly net: IPv4Net }
  | { readonly family: 6; readonly net: IPv6Net };

const EXAMPLE = { 4: "10.5.0.0/16", 6: "fc00::/48" } as const;

/**
 * Reads a CIDR a person typed (`10.5.0.0/16`, `fc00::/48`), optionally of one family.
 * Returns the network, or one sentence saying what is wrong (never throws).
 */
export function checkCidr(text: string, family?: 4 | 6): TypedCidr | string {
  const shown = JSON.stringify(text);
  const kind = family === undefined ? "a CIDR" : `an IPv${family} CIDR`;
  const example = EXAMPLE[family ?? 4];
  if (text.trim() !== text || text === "") return `${shown} is not ${kind} such as ${example}`;
  const slash = text.lastIndexOf("/");
  if (slash < 0) {
    return IPCIDR.isValidAddress(text)
      ? `${shown} is an address without a prefix length; write ${kind} such as ${example}`
      : `${shown} is not ${kind} such as ${example}`;
  }
  if (!IPCIDR.isValidCIDR(text)) {
    const address = text.slice(0, slash);
    const length = text.slice(slash + 1);
    if (IPCIDR.isValidAddress(address)) {
      const max = address.includes(":") ? 128 : 32;
      return `${shown} has a prefix length "${length}" that is not a number from 0 to ${max}`;
    }
    return `${shown} is not ${kind} such as ${example}: "${address}" is not an IP address`;
  }
  const v6 = text.slice(0, slash).includes(":");
  if (family !== undefined && family !== (v6 ? 6 : 4)) {
    return `${shown} is an IPv${v6 ? 6 : 4} CIDR; ${kind} such as ${example} is needed here`;
  }
  // ip-cidr accepted it; the integers come from podnet's Go-compatible parser (what flannel accepts).
  if (v6) {
    const net = parseIPv6Cidr(text);
    return net === null
      ? `${shown} is not written as flannel reads IPv6 CIDRs, e.g. ${EXAMPLE[6]}`
      : { family: 6, net };
  }
  const net = parseIPv4Cidr(text);
  return net === null
    ? `${shown} is not written as flannel reads IPv4 CIDRs, e.g. ${EXAMPLE[4]}`
    : { family: 4, net };
}

/**
 * Checks one address a person typed (`10.5.77.9`, `fc00::1`): undefined when it is one, else
 * one sentence (a CIDR or a malformed address said as such).
 */
export function checkAddress(text: string): string | undefined {
  if (IPCIDR.isValidAddress(text) && !text.includes("/")) return undefined;
  if (text.includes("/") && IPCIDR.isValidCIDR(text)) {
    return `${JSON.stringify(text)} is a network; give one address in it, such as ${text.slice(0, text.indexOf("/"))}`;
  }
  return `${JSON.stringify(text)} is not an IPv4 or IPv6 address such as 10.5.77.9 or fc00::1`;
}

/** {@link checkCidr} that throws a `usage` PodnetError `<what>: <sentence>` instead. */
export function parseCidrInput(text: string, what: string, family?: 4 | 6): TypedCidr {
  const verdict = checkCidr(text, family);
  if (typeof verdict === "string") throw new PodnetError("usage", `${what}: ${verdict}`);
  return verdict;
}

/**
 * Reads a dotted IPv4 netmask (`255.255.0.0`) or a prefix length (`16`, `/16`) and returns
 * the prefix length; a sentence when it is neither (a mask must be contiguous ones).
 */
export function checkNetmask(text: string): number | string {
  const bare = text.startsWith("/") ? text.slice(1) : text;
  if (/^(0|[1-9][0-9]?)$/.test(bare) && Number(bare) <= 32) return Number(bare);
  if (!IPCIDR.isValidAddress(text) || text.includes(":")) {
    return `${JSON.stringify(text)} is not a netmask such as 255.255.0.0 or a prefix length such as 16`;
  }
  if (text === "0.0.0.0") return 0; // netmask refuses the empty mask, which is a valid one
  try {
    return new Netmask(`0.0.0.0/${text}`).bitmask;
  } catch {
    return `${JSON.stringify(text)} is not a netmask: its ones must come first, as in 255.255.0.0`;
  }
}

const masks = new Map<number, string>();

/** The dotted IPv4 netmask of a prefix length, as `route -n` prints it: 24 is `255.255.255.0`. */
export function formatNetmask(prefix: number): string {
  let mask = masks.get(prefix);
  if (mask === undefined) {
    mask = new Netmask(`0.0.0.0/${prefix}`).mask;
    masks.set(prefix, mask);
  }
  return mask;
}
