/**
 * One network device as the kernel sees it (`ip -json -d -s link show` and `ip -json addr
 * show`): kind, VXLAN settings, MTU, MAC, addresses and counters. For `podnet ifconfig`.
 */
import { isPodnetError } from "@podnet/ipam-core";
import { type HostTarget, ipJson } from "./iproute.js";

/** A device's kernel counters. */
export interface LinkStats {
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/** A network device; the vxlan fields only for a vxlan device. */
export interface LinkInfo {
  readonly name: string;
  /** `vxlan`, `veth`, ...; `device` when iproute2 names no kind (a physical NIC). */
  readonly kind: string;
  readonly vni?: number;
  /** The VXLAN UDP destination port. */
  readonly port?: number;
  /** The VXLAN local (source) address. */
  readonly local?: string;
  /** The underlay device a VXLAN device is bound to. */
  readonly dev?: string;
  readonly learning?: boolean;
  readonly gbp?: boolean;
  readonly mtu: number;
  readonly mac: string;
  /** The administrative UP flag. */
  readonly up: boolean;
  /** Addresses as `ip/prefix`, in the kernel's order. */
  readonly addresses: string[];
  readonly stats?: LinkStats;
}

/**
 * Reads one device; undefined when it does not exist. A missing `ip` binary or another
 * iproute2 failure is a `host` PodnetError.
 */
export async function readLink(name: string, target: HostTarget = {}): Promise<LinkInfo | undefined> {
  try {
    const link = await ipJson<unknown>(["-d", "-s", "link", "show", "dev", name], target);
    const addr = await ipJson<unknown>(["addr", "show", "dev", name], target);
    return parseLink(link, addr);
  } catch (err) {
    if (isPodnetError(err, "host") && /does not exist|cannot find device/i.test(err.message))
      return undefined;
    throw err;
  }
}

/** Parses the JSON of `ip -json -d -s link show dev X` and `ip -json addr show dev X`. Pure. */
export function parseLink(linkJson: unknown, addrJson: unknown): LinkInfo | undefined {
  const link = first(linkJson);
  if (link === undefined) return undefined;
  const name = str(link["ifname"]) ?? "";
  const flags = Array.isArray(link["flags"]) ? link["flags"] : [];
  const linkinfo = obj(link["linkinfo"]);
  const kind = str(linkinfo?.["info_kind"]) ?? "device";
  const data = obj(linkinfo?.["info_data"]);
  const addrLink = first(addrJson);
  const addrInfo = Array.isArray(addrLink?.["addr_info"]) ? addrLink["addr_info"] : [];
  const addresses: string[] = [];
  for (const entry of addrInfo) {
    const a = obj(entry);
    const local = str(a?.["local"]);
    const prefix = num(a?.["prefixlen"]);
    if (local !== undefined) addresses.push(prefix === undefined ? local : `${local}/${prefix}`);
  }
  const stats = statsOf(obj(link["stats64"]) ?? obj(link["stats"]));
  const vxlan = kind === "vxlan" && data !== undefined;
  return {
    name,
    kind,
    ...(vxlan && optional("vni", num(data["id"]))),
    ...(vxlan && optional("port", num(data["port"]))),
    ...(vxlan && optional("local", str(data["local"]) ?? str(data["local6"]))),
    ...(vxlan && optional("dev", str(data["link"]))),
    ...(vxlan && { learning: data["learning"] === true, gbp: data["gbp"] === true }),
    mtu: num(link["mtu"]) ?? 0,
    mac: str(link["address"]) ?? "",
    up: flags.includes("UP"),
    addresses,
    ...(stats && { stats }),
  };
}

function statsOf(stats: Record<string, unknown> | undefined): LinkStats | undefined {
  const rx = obj(stats?.["rx"]);
  const tx = obj(stats?.["tx"]);
  if (rx === undefined || tx === undefined) return undefined;
  const n = (o: Record<string, unknown>, k: string) => num(o[k]) ?? 0;
  return {
    rxBytes: n(rx, "bytes"),
    rxPackets: n(rx, "packets"),
    rxErrors: n(rx, "errors"),
    rxDropped: n(rx, "dropped"),
    txBytes: n(tx, "bytes"),
    txPackets: n(tx, "packets"),
    txErrors: n(tx, "errors"),
    txDropped: n(tx, "dropped"),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function first(json: unknown): Record<string, unknown> | undefined {
  return Array.isArray(json) ? obj(json[0]) : undefined;
}

function obj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
