/**
 * The lease commands' arguments and flags, checked and turned into the library's values.
 * Every bad input is a usage error (exit 2) with one sentence naming the flag and the fix.
 */
import {
  checkCidr,
  encodeVxlanData,
  formatIPv4,
  formatIPv6,
  type IPv4Net,
  type IPv6Net,
  type LeaseAttrs,
  type LeaseSubnet,
  type LeaseTarget,
  MAX_LEASE_TTL_SECONDS,
  maskIPv4,
  maskIPv6,
  PodnetError,
  parseDuration,
  parseIPv4,
  parseIPv6,
  parseLeaseKey,
} from "@podnet/ipam-core";
import type { ResolvedBackend } from "@podnet/netcfg";
import type { Command } from "commander";

/** A dotted IPv4 address flag, as given. */
export function ipv4Flag(text: string, flag: string): string {
  if (parseIPv4(text) === null) {
    throw new PodnetError("usage", `${flag} "${text}" is not an IPv4 address like 192.0.2.7`);
  }
  return text;
}

/** An IPv6 address flag, in canonical compressed form (as flannel writes it). */
export function ipv6Flag(text: string, flag: string): string {
  const ip = parseIPv6(text);
  if (ip === null)
    throw new PodnetError("usage", `${flag} "${text}" is not an IPv6 address like 2001:db8::7`);
  return formatIPv6(ip);
}

/** A MAC address, lower case with colons as Go's net.HardwareAddr prints it. */
export function macFlag(text: string): string {
  if (!/^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/.test(text)) {
    throw new PodnetError("usage", `--vtep-mac "${text}" is not a MAC address like c6:d2:32:6f:8f:44`);
  }
  return text.toLowerCase().replaceAll("-", ":");
}

/** --backend-data: a JSON object, kept as raw text (the codec compacts it as flannel does). */
export function backendDataFlag(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PodnetError(
      "usage",
      `--backend-data is not valid JSON; give an object like '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}'`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PodnetError("usage", "--backend-data must be a JSON object");
  }
  return text;
}

/** --ttl: a duration like 24h or 90m, in whole seconds (rounded up). */
export function ttlFlag(text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms < 1000) {
    throw new PodnetError("usage", `--ttl "${text}" is not a duration of at least 1s like 24h or 90m`);
  }
  const seconds = Math.ceil(ms / 1000);
  if (seconds > MAX_LEASE_TTL_SECONDS) {
    throw new PodnetError(
      "usage",
      `--ttl "${text}" is above etcd's maximum lease TTL of ${MAX_LEASE_TTL_SECONDS}s (about 285 years)`,
    );
  }
  return seconds;
}

/** --mtu: the overlay MTU to write as FLANNEL_MTU. */
export function mtuFlag(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 68 || n > 65_535) {
    throw new PodnetError("usage", `--mtu "${text}" is not an MTU from 68 to 65535`);
  }
  return n;
}

/**
 * A SUBNET argument: `10.5.52.0/24`, flannel's key name `10.5.52.0-24` (or a full key ending
 * in it), dual stack with `&`; IPv6-only as `fc00:0:0:34::/64`. Host bits are refused.
 */
export function subnetArg(text: string): LeaseSubnet {
  const name = text.includes("/subnets/") ? text.slice(text.lastIndexOf("/subnets/") + 9) : text;
  const fromKey = parseLeaseKey(name);
  if (fromKey !== null) return fromKey;
  const parts = name.split("&");
  const v4text = parts.length === 2 || !parts[0]?.includes(":") ? parts[0] : undefined;
  const v6text = parts.length === 2 ? parts[1] : parts[0]?.includes(":") ? parts[0] : undefined;
  if (parts.length > 2 || (v4text === undefined && v6text === undefined)) throw notSubnet(text);
  let ipv4 = { ip: 0, prefix: 0 };
  if (v4text !== undefined) {
    const net = typedCidr(v4text, 4, text);
    const ip = maskIPv4(net.ip, net.prefix);
    if (ip !== net.ip) {
      throw new PodnetError(
        "usage",
        `${v4text} is not a subnet (its host bits are set); did you mean ${formatIPv4(ip)}/${net.prefix}?`,
      );
    }
    ipv4 = net;
  }
  if (v6text === undefined) return { ipv4 };
  const net6 = typedCidr(v6text, 6, text);
  const ip6 = maskIPv6(net6.ip, net6.prefix);
  if (ip6 !== net6.ip) {
    throw new PodnetError(
      "usage",
      `${v6text} is not a subnet (its host bits are set); did you mean ${formatIPv6(ip6)}/${net6.prefix}?`,
    );
  }
  return { ipv4, ipv6: net6 };
}

/** One family's part of a SUBNET (`10.5.52.0/24`, or flannel's `10.5.52.0-24`), with ip-cidr's verdict when it is malformed. */
function typedCidr<F extends 4 | 6>(part: string, family: F, whole: string) {
  const verdict = checkCidr(part.replace(/-(\d+)$/, "/$1"), family);
  if (typeof verdict === "string") {
    // ip-cidr's verdict on the part, without its own example: `"10.5" is not an IP address`.
    const colon = verdict.indexOf(": ");
    const why = colon >= 0 ? verdict.slice(colon + 2) : verdict.replace(/^".*?" /, "it ");
    throw new PodnetError(
      "usage",
      `"${whole}" is not a subnet: ${why}; give it like 10.5.52.0/24 or as flannel's key name 10.5.52.0-24`,
    );
  }
  return verdict.net as F extends 4 ? IPv4Net : IPv6Net;
}

function notSubnet(text: string): PodnetError {
  return new PodnetError(
    "usage",
    `"${text}" is not a subnet; give it like 10.5.52.0/24 or as flannel's key name 10.5.52.0-24`,
  );
}

/** What `show`, `renew` and `release` look a lease up by (ipam-core's). */
export type { LeaseTarget };

/** `SUBNET` or `--public-ip IP`, exactly one (renew, release). */
export function leaseTargetFrom(subnet: string | undefined, publicIp: string | undefined): LeaseTarget {
  if ((subnet === undefined) === (publicIp === undefined)) {
    throw new PodnetError("usage", "give either a SUBNET or --public-ip IP");
  }
  if (publicIp !== undefined) {
    return { kind: "owner", publicIP: ipv4Flag(publicIp, "--public-ip"), text: publicIp };
  }
  return { kind: "subnet", subnet: subnetArg(subnet ?? ""), text: subnet ?? "" };
}

/** SUBNET or IP: an address finds the lease containing it or owned by it. */
export function targetArg(text: string): LeaseTarget {
  if (!text.includes("/") && !text.includes("-") && !text.includes("&")) {
    const ipv4 = parseIPv4(text);
    if (ipv4 !== null) return { kind: "ip", ipv4, text };
    const ipv6 = parseIPv6(text);
    if (ipv6 !== null) return { kind: "ip", ipv6, text };
    throw new PodnetError(
      "usage",
      `"${text}" is neither a subnet (10.5.52.0/24, 10.5.52.0-24) nor an IP address`,
    );
  }
  return { kind: "subnet", subnet: subnetArg(text), text };
}

/** The lease flags shared by `acquire` and `reserve`. */
export interface AttrFlags {
  publicIp?: string;
  publicIpv6?: string;
  backendType?: string;
  backendData?: string;
  /** A MAC, or false for --no-vtep-mac (lease a vxlan subnet without one, on purpose). */
  vtepMac?: string | false;
}

/** Adds the lease-value flags `acquire` and `reserve` share (the --public-ip, backend and VtepMAC flags). */
export function withAttrOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--public-ip <ip>", "the host's IPv4 address; it identifies the lease's owner")
    .option("--public-ipv6 <ip>", "the host's IPv6 address")
    .option(
      "--backend-type <type>",
      "the lease's BackendType (default: the config's, none for udp and alloc)",
    )
    .option("--backend-data <json>", "the lease's BackendData, a JSON object")
    .option(
      "--vtep-mac <mac>",
      'vxlan: write BackendData {"VNI":<config VNI>,"VtepMAC":"<mac>"} (default: keep the live lease\'s)',
    )
    .option(
      "--no-vtep-mac",
      "vxlan: lease without a VtepMAC on purpose (peers cannot route to it until one is written)",
    );
}

/** The refusal's pointer to the flags that supply a vxlan lease's VtepMAC. */
export const VTEP_MAC_HINT =
  "give --vtep-mac MAC (the host's flannel.<VNI> MAC) or --backend-data, or --no-vtep-mac to lease it without one";

/** Whether the admin said explicitly that the lease may go without a VtepMAC. */
export function allowsNoVtepMac(flags: AttrFlags): boolean {
  return flags.vtepMac === false;
}

/** Backend types whose leases flanneld writes without a BackendType. */
const UNTYPED_BACKENDS = new Set(["udp", "alloc"]);

/**
 * Checks the lease flags and returns how to build the lease value once the config's backend is
 * known: the backend type defaults to the
 * config's where flannel writes one; `--vtep-mac` builds vxlan's `{"VNI":n,"VtepMAC":mac}`.
 */
export function leaseAttrsFrom(flags: AttrFlags): (backend: ResolvedBackend) => LeaseAttrs {
  // Every flag is checked here, before etcd is asked anything; the backend only fills defaults.
  if (flags.publicIp === undefined) {
    throw new PodnetError("usage", "--public-ip is required: the host's IPv4 address that owns the lease");
  }
  const publicIP = ipv4Flag(flags.publicIp, "--public-ip");
  const publicIPv6 = flags.publicIpv6 === undefined ? null : ipv6Flag(flags.publicIpv6, "--public-ipv6");
  if (flags.backendData !== undefined && typeof flags.vtepMac === "string") {
    throw new PodnetError("usage", "give --backend-data or --vtep-mac, not both");
  }
  const givenType = flags.backendType?.toLowerCase();
  if (givenType !== undefined && !/^[a-z0-9][a-z0-9._-]*$/.test(givenType)) {
    throw new PodnetError("usage", `--backend-type "${flags.backendType}" is not a backend type like vxlan`);
  }
  const mac = typeof flags.vtepMac === "string" ? macFlag(flags.vtepMac) : undefined;
  if (mac !== undefined && givenType !== undefined && givenType !== "vxlan") {
    throw new PodnetError("usage", `--vtep-mac is vxlan's; it cannot go with --backend-type ${givenType}`);
  }
  const data = flags.backendData === undefined ? undefined : backendDataFlag(flags.backendData);
  return (backend) => {
    const backendData =
      mac !== undefined
        ? encodeVxlanData({ vni: backend.Type === "vxlan" ? backend.VNI : 1, vtepMac: mac })
        : data;
    const backendType =
      mac !== undefined
        ? "vxlan"
        : (givenType ?? (UNTYPED_BACKENDS.has(backend.Type) ? undefined : backend.Type));
    return {
      publicIP,
      publicIPv6,
      ...(backendType !== undefined && backendType !== "" && { backendType }),
      ...(backendData !== undefined && { backendData }),
    };
  };
}
