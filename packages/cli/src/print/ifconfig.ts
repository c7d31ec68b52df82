/**
 * `podnet ifconfig` on the terminal: the overlay as ifconfig would show it, its stable JSON
 * form (-o json, -o yaml) and `key<TAB>value` lines (-o simple).
 */
import type { LinkInfo, ResolvedBackend } from "@podnet/netcfg";
import { formatTtl, simpleTtl } from "./lease.js";

/** One family's pod network and how much of its range is taken. */
export interface NetworkView {
  readonly network: string;
  readonly subnetLen: number;
  readonly subnetMin: string;
  readonly subnetMax: string;
  /** Subnets in min..max; a decimal string when beyond 2^53 (IPv6). */
  readonly subnets: number | string;
  /** Leases (with a TTL) whose subnet is one of the range's. */
  readonly leased: number;
  /** Reservations (no TTL) whose subnet is one of the range's. */
  readonly reserved: number;
}

/** This host's lease, and how it was recognised. */
export interface HostLeaseView {
  readonly subnet: string | null;
  readonly ipv6Subnet: string | null;
  readonly vtepMAC: string | null;
  readonly publicIP: string;
  readonly publicIPv6: string | null;
  /** Seconds left; null for a reservation; -1 when the etcd lease is gone. */
  readonly ttlSeconds: number | null;
  readonly reservation: boolean;
  readonly key: string;
  readonly foundBy: "public-ip" | "subnet-file" | "device";
}

/** Everything `podnet ifconfig` shows. */
export interface IfconfigView {
  readonly configKey: string;
  readonly configRevision: number;
  /** The overlay device flanneld creates for this backend; null when it makes none (host-gw). */
  readonly device: string | null;
  readonly backend: ResolvedBackend;
  readonly flags: readonly string[];
  readonly mtu: number | null;
  /** Where the MTU comes from: the config, the local device, or (unknown) the underlay. */
  readonly mtuSource: "config" | "device" | "underlay";
  readonly network: NetworkView | null;
  readonly ipv6Network: NetworkView | null;
  readonly lease: HostLeaseView | null;
  /** Why no lease was found, or what looked odd on the way. */
  readonly leaseNote: string | null;
  readonly localDevice: LinkInfo | null;
  readonly localDeviceNote: string | null;
  /** -a: show the local device's counters. */
  readonly all: boolean;
}

const INDENT = " ".repeat(8);

/** The stable machine form; counters only with -a. */
export function ifconfigData(view: IfconfigView) {
  const { all, localDevice, ...rest } = view;
  const device = localDevice === null ? null : all ? localDevice : withoutStats(localDevice);
  return { ...rest, localDevice: device };
}

function withoutStats(link: LinkInfo): Omit<LinkInfo, "stats"> {
  const { stats: _stats, ...rest } = link;
  return rest;
}

/** ifconfig's layout: the device line, then indented detail lines. */
export function formatIfconfig(view: IfconfigView): string {
  const lines: string[] = [];
  const name = view.device ?? view.backend.Type;
  lines.push(`${name}: flags=<${view.flags.join(",")}>  mtu ${mtuText(view)}`);
  if (view.network) lines.push(`${INDENT}${networkLine("network", view.network)}`);
  if (view.ipv6Network) lines.push(`${INDENT}${networkLine("inet6 network", view.ipv6Network)}`);
  lines.push(`${INDENT}${backendLine(view.backend)}`);
  lines.push(`${INDENT}${leaseLine(view)}`);
  const link = view.localDevice;
  if (link !== null) {
    lines.push(`${INDENT}${deviceLine(link, view)}`);
    if (view.all && link.stats) {
      const s = link.stats;
      lines.push(
        `${INDENT}RX packets ${s.rxPackets}  bytes ${s.rxBytes} (${humanBytes(s.rxBytes)})  errors ${s.rxErrors}  dropped ${s.rxDropped}`,
        `${INDENT}TX packets ${s.txPackets}  bytes ${s.txBytes} (${humanBytes(s.txBytes)})  errors ${s.txErrors}  dropped ${s.txDropped}`,
      );
    }
  } else if (view.all && view.device !== null) {
    lines.push(`${INDENT}local device: none${view.localDeviceNote ? ` (${view.localDeviceNote})` : ""}`);
  }
  return lines.join("\n");
}

/** `key<TAB>value` lines for scripts. */
export function ifconfigRows(view: IfconfigView): string[][] {
  const rows: string[][] = [
    ["device", view.device ?? "-"],
    ["backend", view.backend.Type],
    ["flags", view.flags.join(",")],
    ["mtu", view.mtu === null ? "-" : String(view.mtu)],
    ["mtu-source", view.mtuSource],
  ];
  for (const [prefix, net] of [
    ["", view.network],
    ["ipv6-", view.ipv6Network],
  ] as const) {
    if (!net) continue;
    rows.push(
      [`${prefix}network`, net.network],
      [`${prefix}subnetlen`, String(net.subnetLen)],
      [`${prefix}subnet-min`, net.subnetMin],
      [`${prefix}subnet-max`, net.subnetMax],
      [`${prefix}subnets`, String(net.subnets)],
      [`${prefix}leased`, String(net.leased)],
      [`${prefix}reserved`, String(net.reserved)],
    );
  }
  for (const [k, v] of Object.entries(view.backend)) {
    if (k !== "Type" && v !== undefined) rows.push([`backend-${k.toLowerCase()}`, String(v)]);
  }
  const lease = view.lease;
  rows.push(
    ["lease", lease?.subnet ?? lease?.ipv6Subnet ?? "-"],
    ["vtep-mac", lease?.vtepMAC ?? "-"],
    ["public-ip", lease?.publicIP ?? "-"],
    ["ttl", lease ? simpleTtl(lease.ttlSeconds) : "-"],
  );
  const link = view.localDevice;
  if (link !== null && view.all && link.stats) {
    for (const [k, v] of Object.entries(link.stats)) rows.push([k, String(v)]);
  }
  return rows;
}

function mtuText(view: IfconfigView): string {
  if (view.mtu !== null) return String(view.mtu);
  return view.backend.Type === "vxlan" ? "(underlay MTU - 50)" : "(from the underlay)";
}

function networkLine(label: string, net: NetworkView): string {
  const reserved = net.reserved > 0 ? `, ${net.reserved} reserved` : "";
  return (
    `${label} ${net.network}  subnetlen ${net.subnetLen}  range ${net.subnetMin} - ${net.subnetMax} ` +
    `(${net.subnets} subnets, ${net.leased} leased${reserved})`
  );
}

function backendLine(backend: ResolvedBackend): string {
  if (backend.Type === "vxlan") {
    const onOff = (b: boolean) => (b ? "on" : "off");
    const port = backend.Port === 0 ? "8472 (kernel default)" : String(backend.Port);
    const mtu = backend.MTU === undefined ? "" : `  underlay-mtu ${backend.MTU}`;
    return (
      `vxlan vni ${backend.VNI}  port ${port}  learning ${onOff(backend.Learning)}  ` +
      `gbp ${onOff(backend.GBP)}  directrouting ${onOff(backend.DirectRouting)}${mtu}`
    );
  }
  const parts: string[] = [backend.Type];
  for (const [k, v] of Object.entries(backend)) {
    if (k === "Type" || v === undefined) continue;
    // a secret stays off the screen
    const shown = k === "PSK" ? "(set)" : typeof v === "boolean" ? (v ? "on" : "off") : String(v);
    parts.push(`${k.toLowerCase()} ${shown}`);
  }
  return parts.join("  ");
}

function leaseLine(view: IfconfigView): string {
  const lease = view.lease;
  if (lease === null) return `lease none${view.leaseNote ? ` (${view.leaseNote})` : ""}`;
  const parts = [`lease ${[lease.subnet, lease.ipv6Subnet].filter((s) => s !== null).join(" + ")}`];
  if (lease.vtepMAC !== null) parts.push(`vtep ${lease.vtepMAC}`);
  parts.push(`public ${lease.publicIPv6 ? `${lease.publicIP},${lease.publicIPv6}` : lease.publicIP}`);
  parts.push(`ttl ${formatTtl(lease.ttlSeconds)}`);
  return parts.join("  ");
}

function deviceLine(link: LinkInfo, view: IfconfigView): string {
  const parts = [`local ${link.name} ${link.up ? "up" : "down"}`, `ether ${link.mac}`];
  if (view.lease?.vtepMAC && view.lease.vtepMAC !== link.mac)
    parts[1] += ` (lease says ${view.lease.vtepMAC})`;
  for (const a of link.addresses.filter((x) => !x.startsWith("fe80:"))) parts.push(`inet ${a}`);
  if (link.vni !== undefined) {
    const vni =
      view.backend.Type === "vxlan" && view.backend.VNI !== link.vni
        ? `vni ${link.vni} (config says ${view.backend.VNI})`
        : `vni ${link.vni}`;
    parts.push(vni);
  }
  if (link.local !== undefined || link.dev !== undefined) {
    parts.push(`via ${[link.dev, link.local].filter((x) => x !== undefined).join(" ")}`);
  }
  return parts.join("  ");
}

/** `1.2 KiB`, as ifconfig prints byte counts. */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
