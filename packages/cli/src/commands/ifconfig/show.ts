/**
 * `podnet ifconfig` (showing): the overlay from the config and the leases in etcd, this host's
 * lease (by --public-ip, the subnet file, or the local device's address), and the local device.
 */
import {
  formatIPv4,
  formatIPv6,
  hasIPv4,
  type IPv4Net,
  isPodnetError,
  isReservation,
  type Lease,
  type LeaseListing,
  type LeaseNetwork,
  LeaseRegistry,
  type LeaseSubnet,
  PodnetError,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  rangeContains,
  rangeSize,
} from "@podnet/ipam-core";
import type { LinkInfo, ResolvedBackend, ResolvedConfig } from "@podnet/netcfg";
import type { Context } from "../../context.js";
import {
  formatIfconfig,
  type HostLeaseView,
  type IfconfigView,
  ifconfigData,
  ifconfigRows,
  type NetworkView,
} from "../../print/ifconfig.js";
import { vtepMacOf } from "../../print/lease.js";
import { warn } from "../../print/warn.js";

/** What the showing form was asked. */
export interface ShowFlags {
  readonly all: boolean;
  readonly publicIp?: string;
  readonly subnetFile?: string;
  /** A device name given as the only word: it must be this network's device. */
  readonly deviceWord?: string;
}

/** The overlay device names flanneld gives each backend; undefined for backends without one. */
function deviceNameOf(
  backend: ResolvedBackend,
  resolved: ResolvedConfig,
  vxlanName: (vni: number, v6: boolean) => string,
): string | null {
  switch (backend.Type) {
    case "vxlan":
      return vxlanName(backend.VNI, !resolved.EnableIPv4);
    case "udp":
      return "flannel0";
    case "ipip":
      return "flannel.ipip";
    case "wireguard":
      return resolved.EnableIPv4 ? "flannel-wg" : "flannel-wg-v6";
    default:
      return null;
  }
}

/** Runs the showing form; returns the exit status. */
export async function showIfconfig(ctx: Context, flags: ShowFlags): Promise<number> {
  const publicIp = flags.publicIp === undefined ? undefined : publicIpFlag(flags.publicIp);
  const netcfg = await import("@podnet/netcfg");
  const store = await ctx.store();
  const config = await netcfg.getConfig(store, ctx.globals.prefix);
  const result = netcfg.validateConfigText(config.text);
  if (!result.valid || result.resolved === undefined) {
    const first = result.errors[0];
    const where =
      first === undefined ? "" : `: ${first.path === "" ? "" : `${first.path}: `}${first.message}`;
    throw new PodnetError(
      "failed",
      `the network config at ${config.key} is invalid${where}; 'podnet config get' shows it and 'podnet config validate' explains`,
    );
  }
  const resolved = result.resolved;
  const backend = resolved.Backend;
  const network = netcfg.leaseNetworkOf(resolved);
  const device = deviceNameOf(backend, resolved, netcfg.vxlanDeviceName);
  if (flags.deviceWord !== undefined && flags.deviceWord !== device) {
    throw new PodnetError(
      "not-found",
      `${flags.deviceWord} is not this network's overlay device; the config at ${config.key} makes ${device ?? `no device (backend ${backend.Type})`}`,
    );
  }

  const registry = new LeaseRegistry(store, { prefix: ctx.globals.prefix });
  const listing = await registry.list();
  const skipped = listing.damaged.length + listing.foreign.length;
  if (skipped > 0) {
    warn(
      `${skipped} ${skipped === 1 ? "entry" : "entries"} under subnets/ ${skipped === 1 ? "is" : "are"} damaged or foreign; 'podnet lease list' names them`,
    );
  }

  let localDevice: LinkInfo | null = null;
  let localDeviceNote: string | null = null;
  if (device !== null) {
    try {
      localDevice = (await netcfg.readLink(device)) ?? null;
      if (localDevice === null) localDeviceNote = `no ${device} on this host`;
    } catch (err) {
      if (!isPodnetError(err, "host")) throw err;
      localDeviceNote = /not installed/.test(err.message) ? "iproute2's 'ip' is not installed" : err.message;
    }
  }

  const found = await findHostLease(listing, { publicIp, subnetFile: flags.subnetFile, localDevice, device });
  let lease: HostLeaseView | null = null;
  if (found.lease !== undefined) {
    const ttls = await registry.ttls({
      revision: listing.revision,
      leases: [found.lease],
      foreign: [],
      damaged: [],
    });
    lease = hostLeaseView(found.lease, found.foundBy, ttls);
  }

  const { mtu, mtuSource } = mtuOf(backend, localDevice);
  const view: IfconfigView = {
    configKey: config.key,
    configRevision: config.modRevision,
    device,
    backend: ctx.globals.showSecrets ? backend : netcfg.redactConfig(backend),
    flags: [...(localDevice?.up ? ["UP"] : []), backend.Type.toUpperCase()],
    mtu,
    mtuSource,
    network: network.ipv4 ? networkView4(network, listing) : null,
    ipv6Network: network.ipv6 ? networkView6(network, listing) : null,
    lease,
    leaseNote: lease === null ? found.note : null,
    localDevice,
    localDeviceNote,
    all: flags.all,
  };
  await ctx.print({
    data: ifconfigData(view),
    human: () => formatIfconfig(view),
    rows: () => ifconfigRows(view),
  });
  return 0;
}

function publicIpFlag(text: string): string {
  if (parseIPv4(text) !== null) return text;
  const v6 = parseIPv6(text);
  if (v6 !== null) return formatIPv6(v6);
  throw new PodnetError("usage", `--public-ip "${text}" is not an IP address like 192.0.2.7`);
}

/** MTU: the config's (vxlan: minus 50), else the local device's, else unknown (the underlay's). */
function mtuOf(backend: ResolvedBackend, link: LinkInfo | null): Pick<IfconfigView, "mtu" | "mtuSource"> {
  if (backend.Type === "vxlan" && backend.MTU !== undefined)
    return { mtu: backend.MTU - 50, mtuSource: "config" };
  if (backend.Type === "wireguard" && backend.MTU !== undefined)
    return { mtu: backend.MTU, mtuSource: "config" };
  if (link !== null) return { mtu: link.mtu, mtuSource: "device" };
  return { mtu: null, mtuSource: "underlay" };
}

interface Found {
  readonly lease?: Lease;
  readonly foundBy: HostLeaseView["foundBy"];
  readonly note: string | null;
}

/** This host's lease: by --public-ip if given; else the subnet file; else the device's /32 address. */
async function findHostLease(
  listing: LeaseListing,
  how: { publicIp?: string; subnetFile?: string; localDevice: LinkInfo | null; device: string | null },
): Promise<Found> {
  if (how.publicIp !== undefined) {
    const ip = how.publicIp;
    const owned = listing.leases.filter((l) => l.attrs.publicIP === ip || l.attrs.publicIPv6 === ip);
    const [first, ...others] = owned;
    for (const other of others) {
      warn(`${ip} also holds ${other.key}; 'podnet ipam check' reports duplicates`);
    }
    return first
      ? { lease: first, foundBy: "public-ip", note: null }
      : { foundBy: "public-ip", note: `${ip} holds no lease` };
  }
  const notes: string[] = [];
  const { readSubnetFile, DEFAULT_SUBNET_FILE } = await import("@podnet/netcfg");
  const path = how.subnetFile ?? DEFAULT_SUBNET_FILE;
  try {
    const file = await readSubnetFile(path);
    const previous = file?.previousSubnet();
    if (file === undefined) {
      notes.push(`no subnet file at ${path}`);
    } else if (previous === undefined) {
      notes.push(`${path} names no subnet`);
    } else {
      const lease = listing.leases.find((l) => sameSubnet(l.subnet, previous));
      if (lease) return { lease, foundBy: "subnet-file", note: null };
      notes.push(`${path} names ${subnetText(previous)}, but etcd holds no such lease`);
    }
  } catch (err) {
    if (!isPodnetError(err)) throw err;
    notes.push(err.message);
  }
  if (how.localDevice !== null) {
    const nets = how.localDevice.addresses
      .map(parseIPv4Cidr)
      .filter((n): n is IPv4Net => n !== null && n.prefix === 32);
    for (const addr of nets) {
      const lease = listing.leases.find(
        (l) => hasIPv4(l.subnet) && l.subnet.ipv4.ip === addr.ip, // flanneld gives the device the lease's network address
      );
      if (lease) return { lease, foundBy: "device", note: null };
    }
    notes.push(`no lease matches ${how.localDevice.name}'s address`);
  } else if (how.device !== null) {
    notes.push(`no local ${how.device}`);
  }
  notes.push("give --public-ip to find it by owner");
  return { foundBy: "device", note: notes.join("; ") };
}

function sameSubnet(a: LeaseSubnet, b: LeaseSubnet): boolean {
  return (
    a.ipv4.ip === b.ipv4.ip &&
    a.ipv4.prefix === b.ipv4.prefix &&
    a.ipv6?.ip === b.ipv6?.ip &&
    a.ipv6?.prefix === b.ipv6?.prefix
  );
}

function subnetText(s: LeaseSubnet): string {
  const v4 = hasIPv4(s) ? `${formatIPv4(s.ipv4.ip)}/${s.ipv4.prefix}` : null;
  const v6 = s.ipv6 ? `${formatIPv6(s.ipv6.ip)}/${s.ipv6.prefix}` : null;
  return [v4, v6].filter((x) => x !== null).join(" + ");
}

function hostLeaseView(
  lease: Lease,
  foundBy: HostLeaseView["foundBy"],
  ttls: Map<string, number>,
): HostLeaseView {
  const { subnet, attrs } = lease;
  const mac = vtepMacOf(lease);
  return {
    subnet: hasIPv4(subnet) ? `${formatIPv4(subnet.ipv4.ip)}/${subnet.ipv4.prefix}` : null,
    ipv6Subnet: subnet.ipv6 ? `${formatIPv6(subnet.ipv6.ip)}/${subnet.ipv6.prefix}` : null,
    vtepMAC: mac === "-" ? null : mac,
    publicIP: attrs.publicIP,
    publicIPv6: attrs.publicIPv6,
    ttlSeconds: isReservation(lease) ? null : (ttls.get(lease.etcdLease) ?? -1),
    reservation: isReservation(lease),
    key: lease.key,
    foundBy,
  };
}

function networkView4(network: LeaseNetwork, listing: LeaseListing): NetworkView | null {
  const range = network.ipv4;
  if (range === undefined) return null;
  let leased = 0;
  let reserved = 0;
  for (const l of listing.leases) {
    if (!hasIPv4(l.subnet) || !rangeContains(range, l.subnet.ipv4)) continue;
    if (isReservation(l)) reserved++;
    else leased++;
  }
  return {
    network: `${formatIPv4(range.network.ip)}/${range.network.prefix}`,
    subnetLen: range.subnetLen,
    subnetMin: formatIPv4(range.min),
    subnetMax: formatIPv4(range.max),
    subnets: rangeSize(range),
    leased,
    reserved,
  };
}

function networkView6(network: LeaseNetwork, listing: LeaseListing): NetworkView | null {
  const range = network.ipv6;
  if (range === undefined) return null;
  let leased = 0;
  let reserved = 0;
  for (const l of listing.leases) {
    if (l.subnet.ipv6 === undefined || !rangeContains(range, l.subnet.ipv6)) continue;
    if (isReservation(l)) reserved++;
    else leased++;
  }
  const size = rangeSize(range);
  return {
    network: `${formatIPv6(range.network.ip)}/${range.network.prefix}`,
    subnetLen: range.subnetLen,
    subnetMin: formatIPv6(range.min),
    subnetMax: formatIPv6(range.max),
    subnets: size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : size.toString(),
    leased,
    reserved,
  };
}
