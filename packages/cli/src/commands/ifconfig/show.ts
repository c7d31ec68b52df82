/**
 * `podnet ifconfig` (showing): the overlay from the config and the leases in etcd, this host's
 * lease (by --public-ip, the subnet file, or the local device's address), and the local device.
 * The rules (which lease is this host's, the device name, the MTU, the counts) are the libraries'.
 */
import {
  findHostLease,
  formatAddress,
  formatCidr,
  formatIPv4,
  formatIPv6,
  hasIPv4,
  isPodnetError,
  isReservation,
  type Lease,
  type LeaseListing,
  type LeaseNetwork,
  LeaseRegistry,
  PodnetError,
  parseIPv4,
  parseIPv6,
  utilisation,
  vtepMacOf,
} from "@podnet/ipam-core";
import type { LinkInfo } from "@podnet/netcfg";
import type { Context } from "../../context.js";
import {
  formatIfconfig,
  type HostLeaseView,
  type IfconfigView,
  ifconfigData,
  ifconfigRows,
  type NetworkView,
} from "../../print/ifconfig.js";
import { warn } from "../../print/warn.js";

/** What the showing form was asked. */
export interface ShowFlags {
  readonly all: boolean;
  readonly publicIp?: string;
  readonly subnetFile?: string;
  /** A device name given as the only word: it must be this network's device. */
  readonly deviceWord?: string;
}

/** Runs the showing form; returns the exit status. */
export async function showIfconfig(ctx: Context, flags: ShowFlags): Promise<number> {
  const publicIp = flags.publicIp === undefined ? undefined : publicIpFlag(flags.publicIp);
  const netcfg = await import("@podnet/netcfg");
  const store = await ctx.store();
  const { config, resolved, network } = await netcfg.loadNetwork(store, ctx.globals.prefix);
  const backend = resolved.Backend;
  const device = netcfg.overlayDeviceName(resolved);
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

  const found = await findOwn(listing, { publicIp, subnetFile: flags.subnetFile, localDevice, device });
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

  const { mtu, mtuSource } = mtuOf(netcfg.overlayMtu(backend), localDevice);
  const use = utilisation(listing, network);
  const view: IfconfigView = {
    configKey: config.key,
    configRevision: config.modRevision,
    device,
    backend: ctx.globals.showSecrets ? backend : netcfg.redactConfig(backend),
    flags: [...(localDevice?.up ? ["UP"] : []), backend.Type.toUpperCase()],
    mtu,
    mtuSource,
    network: networkView(network, 4, use.ipv4),
    ipv6Network: networkView(network, 6, use.ipv6),
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

/** The config's MTU when it sets one, else the local device's, else unknown (the underlay's). */
function mtuOf(
  rule: { mtu: number; source: string },
  link: LinkInfo | null,
): Pick<IfconfigView, "mtu" | "mtuSource"> {
  if (rule.source === "config") return { mtu: rule.mtu, mtuSource: "config" };
  if (link !== null) return { mtu: link.mtu, mtuSource: "device" };
  return { mtu: null, mtuSource: "underlay" };
}

interface Found {
  readonly lease?: Lease;
  readonly foundBy: HostLeaseView["foundBy"];
  readonly note: string | null;
}

/** This host's lease by ipam-core's rule, with the subnet file read and the device's addresses. */
async function findOwn(
  listing: LeaseListing,
  how: { publicIp?: string; subnetFile?: string; localDevice: LinkInfo | null; device: string | null },
): Promise<Found> {
  const { readSubnetFile, DEFAULT_SUBNET_FILE } = await import("@podnet/netcfg");
  const path = how.subnetFile ?? DEFAULT_SUBNET_FILE;
  let subnetFileSubnet: ReturnType<NonNullable<Awaited<ReturnType<typeof readSubnetFile>>>["previousSubnet"]>;
  let fileNote: string | undefined;
  if (how.publicIp === undefined) {
    try {
      const file = await readSubnetFile(path);
      subnetFileSubnet = file?.previousSubnet();
      if (file === undefined) fileNote = `no subnet file at ${path}`;
    } catch (err) {
      if (!isPodnetError(err)) throw err;
      fileNote = err.message;
    }
  }
  const match = findHostLease(listing, {
    ...(how.publicIp !== undefined && { publicIp: how.publicIp }),
    ...(subnetFileSubnet !== undefined && { subnetFileSubnet }),
    ...(how.publicIp === undefined && fileNote === undefined && { subnetFile: path }),
    ...(how.localDevice !== null && { deviceAddresses: how.localDevice.addresses }),
    ...(how.device !== null && { device: how.device }),
  });
  if (match.lease === undefined) {
    return {
      foundBy: how.publicIp !== undefined ? "public-ip" : "device",
      note: [fileNote, match.why].filter(Boolean).join("; "),
    };
  }
  for (const other of match.others) {
    warn(`${how.publicIp} also holds ${other.key}; 'podnet ipam check' reports duplicates`);
  }
  return { lease: match.lease, foundBy: match.foundBy, note: null };
}

function hostLeaseView(
  lease: Lease,
  foundBy: HostLeaseView["foundBy"],
  ttls: Map<string, number>,
): HostLeaseView {
  const { subnet, attrs } = lease;
  return {
    subnet: hasIPv4(subnet) ? `${formatIPv4(subnet.ipv4.ip)}/${subnet.ipv4.prefix}` : null,
    ipv6Subnet: subnet.ipv6 ? `${formatIPv6(subnet.ipv6.ip)}/${subnet.ipv6.prefix}` : null,
    vtepMAC: vtepMacOf(attrs),
    publicIP: attrs.publicIP,
    publicIPv6: attrs.publicIPv6,
    ttlSeconds: isReservation(lease) ? null : (ttls.get(lease.etcdLease) ?? -1),
    reservation: isReservation(lease),
    key: lease.key,
    foundBy,
  };
}

/** One family's range and how much of it is leased and reserved (ipam-core's utilisation). */
function networkView(
  network: LeaseNetwork,
  family: 4 | 6,
  use: { total: number | bigint; leased: number | bigint; reserved: number | bigint } | undefined,
): NetworkView | null {
  const range = family === 4 ? network.ipv4 : network.ipv6;
  if (use === undefined || range === undefined) return null;
  const total = use.total;
  return {
    network: formatCidr(range.network.ip, range.network.prefix),
    subnetLen: range.subnetLen,
    subnetMin: formatAddress(range.min),
    subnetMax: formatAddress(range.max),
    subnets:
      typeof total === "bigint" && total > BigInt(Number.MAX_SAFE_INTEGER) ? total.toString() : Number(total),
    leased: Number(use.leased),
    reserved: Number(use.reserved),
  };
}
