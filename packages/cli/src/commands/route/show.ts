import {
  hasIPv4,
  isReservation,
  type Lease,
  type LeaseListing,
  PodnetError,
  parseIPv4,
  sameSubnet,
} from "@podnet/ipam-core";
import type { KernelState } from "@podnet/netcfg";
import { Command } from "commander";
import { type Context, withContext } from "../../context.js";
import { sortedBySubnet, subnetText } from "../../print/lease.js";
import { LazyArray } from "../../print/output.js";
import {
  eachRoute,
  formatKernelCheck,
  formatRouteTable,
  routeCount,
  routeData,
  routeEntries,
  routeSimpleRow,
  routeTableLines,
} from "../../print/route.js";
import { warn } from "../../print/warn.js";
import { lookupTtls, noteTtls, type TtlMode, ttlModeOf, withTtlOptions } from "../../ttl-policy.js";
import { ipv4Flag } from "../lease/flags.js";
import { loadNetwork, openRegistry, viewsWith, warnAboutListing } from "../lease/lease-context.js";

/** The flags of `podnet route` itself. */
export interface ShowFlags extends KernelFlags {
  numeric?: boolean;
  kernel?: boolean;
  /** --ttl (true) / --no-ttl (false). */
  ttl?: boolean;
  /** --ttl-auto-max. */
  ttlAutoMax?: string;
}

/**
 * `podnet route [-n] [--kernel]`: the overlay routing table from the leases (one range read,
 * then the TTLs of their etcd leases), or with `--kernel` the comparison with this host's
 * routes, neighbours and fdb entries.
 */
export function showCommand(): Command {
  return withTtlOptions(
    new Command("route").description(
      "the overlay routing table from the leases, as 'route -n' shows a kernel's",
    ),
  )
    .option("-n, --numeric", "numeric addresses only, like 'route -n' (there is no DNS either way)")
    .option("--kernel", "compare with this host's routes, neighbours and fdb entries (ip, bridge)")
    .option("--iface <name>", "with --kernel: the VXLAN device (default: flannel.<VNI> of the config)")
    .option("--public-ip <ip>", "with --kernel: this host's PublicIP, to find its own lease")
    .option(
      "--subnet-file <path>",
      "with --kernel: find this host's lease from its flannel subnet file (default: /run/flannel/subnet.env)",
    )
    .option("--netns <name>", "with --kernel: look into this network namespace (ip -n NAME)")
    .action(
      withContext(async (ctx, flags: ShowFlags) => {
        if (!flags.kernel) {
          for (const flag of ["iface", "publicIp", "subnetFile", "netns"] as const) {
            if (flags[flag] !== undefined)
              throw new PodnetError("usage", `--${kebab(flag)} goes with --kernel`);
          }
          return showTable(ctx, flags.numeric === true, ttlModeOf(flags.ttl, flags.ttlAutoMax));
        }
        return checkKernel(ctx, flags);
      }),
    );
}

async function showTable(ctx: Context, numeric: boolean, ttl: TtlMode): Promise<number | undefined> {
  const registry = await openRegistry(ctx);
  const [listing, vni] = await Promise.all([registry.list(), configVni(ctx)]);
  const lookup = await lookupTtls(await ctx.store(), listing, ttl);
  warnAboutListing(listing);
  noteTtls(lookup);
  // Only the sorted views are held; each route (and its json or row) is made as it is printed.
  const sorted = sortedBySubnet(viewsWith(listing.leases, lookup));
  await ctx.print({
    data: {
      revision: listing.revision,
      routes: new LazyArray(routeCount(sorted), () => mapIter(eachRoute(sorted, vni), routeData)),
    },
    human: () =>
      formatRouteTable(routeEntries(sorted, vni), listing, { numeric, prefix: ctx.globals.prefix }),
    humanLines: () => routeTableLines(sorted, vni, listing, { numeric, prefix: ctx.globals.prefix }),
    rows: () => mapIter(eachRoute(sorted, vni), routeSimpleRow),
  });
  return undefined;
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}

/** The config's VNI, for vxlan leases whose BackendData has none; undefined when there is no valid config. */
async function configVni(ctx: Context): Promise<number | undefined> {
  const { readConfig, validateConfigText } = await import("@podnet/netcfg");
  const { config } = await readConfig(await ctx.store(), ctx.globals.prefix);
  if (config === undefined) return undefined;
  const backend = validateConfigText(config.text).resolved?.Backend;
  return backend?.Type === "vxlan" ? backend.VNI : undefined;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// ---- --kernel ----

/** The flags of `podnet route --kernel`. */
export interface KernelFlags {
  iface?: string;
  publicIp?: string;
  subnetFile?: string;
  netns?: string;
}

/**
 * Plans this host's data plane from the leases (its own lease found by --public-ip, the subnet
 * file, or the device's /32) and compares it entry by entry with the kernel. Exit 1 unless all match.
 */
async function checkKernel(ctx: Context, flags: KernelFlags): Promise<number> {
  const publicIp = flags.publicIp === undefined ? undefined : ipv4Flag(flags.publicIp, "--public-ip");
  const netcfg = await import("@podnet/netcfg");
  const { resolved } = await loadNetwork(ctx);
  const backend = resolved.Backend;
  if (backend.Type !== "vxlan") {
    throw new PodnetError(
      "failed",
      `--kernel compares a vxlan data plane; this network's backend is ${backend.Type}`,
    );
  }
  const device = flags.iface ?? netcfg.vxlanDeviceName(backend.VNI);
  const target = flags.netns === undefined ? {} : { netns: flags.netns };
  const registry = await openRegistry(ctx);
  const [listing, found] = await Promise.all([registry.list(), netcfg.readKernelState(device, target)]);
  warnAboutListing(listing);
  const own = await ownLease(listing, found, { publicIp, subnetFile: flags.subnetFile, device });
  const plan = netcfg.planDataPlane({
    config: resolved,
    own,
    peers: listing.leases,
    underlay: {
      dev: found.device?.dev ?? "",
      ip: own.attrs.publicIP,
      // The device's MTU is taken as found: this view is about routes, neighbours and fdb entries.
      mtu: netcfg.underlayMtuFor(found.device?.mtu ?? netcfg.DEFAULT_OVERLAY_MTU),
    },
  });
  for (const s of plan.skipped) warn(`${s.key}: not routed: ${s.reason}`);
  // DirectRouting's routes sit on the underlay, so read those too when the underlay is known.
  const state =
    backend.DirectRouting && plan.device.dev !== "" ? await netcfg.readKernelStateFor(plan, target) : found;
  const rows = netcfg.compareKernel(plan, state);
  const bad = rows.filter((r) => r.status !== "ok").length;
  const { green, red, yellow } = ctx.colours;
  const mark = (status: string, text: string) =>
    status === "ok" ? green(text) : status === "stale" ? yellow(text) : red(text);
  const where = flags.netns === undefined ? "" : ` in network namespace ${flags.netns}`;
  await ctx.print({
    data: {
      device,
      ownLease: own.key,
      ok: bad === 0,
      entries: rows.map((r) => ({
        kind: r.kind,
        entry: r.entry,
        status: r.status,
        detail: r.detail ?? null,
      })),
    },
    human: () =>
      formatKernelCheck(
        rows,
        `Kernel check of ${device}${where} against the leases (this host: ${subnetText(own.subnet)}, ${own.attrs.publicIP})`,
        mark,
      ),
    rows: () => rows.map((r) => [r.status, r.kind, r.entry, r.detail ?? ""]),
  });
  return bad === 0 ? 0 : 1;
}

/** This host's lease: by --public-ip, else the subnet file's subnet, else the device's /32 address. */
async function ownLease(
  listing: LeaseListing,
  state: KernelState,
  how: { publicIp: string | undefined; subnetFile: string | undefined; device: string },
): Promise<Lease> {
  if (how.publicIp !== undefined) {
    const mine = listing.leases.filter((l) => l.attrs.publicIP === how.publicIp);
    // A reservation the admin made for the host wins, as when it acquires.
    const lease = mine.find(isReservation) ?? mine[0];
    if (lease === undefined) {
      throw new PodnetError("not-found", `${how.publicIp} holds no lease; 'podnet route' lists the leases`);
    }
    return lease;
  }
  const { readSubnetFile, DEFAULT_SUBNET_FILE } = await import("@podnet/netcfg");
  const path = how.subnetFile ?? DEFAULT_SUBNET_FILE;
  const file = await readSubnetFile(path);
  if (file === undefined && how.subnetFile !== undefined) {
    throw new PodnetError("not-found", `the subnet file ${path} does not exist`);
  }
  const previous = file?.previousSubnet();
  if (previous !== undefined) {
    const lease = listing.leases.find((l) => sameSubnet(l.subnet, previous));
    if (lease === undefined) {
      throw new PodnetError(
        "not-found",
        `${path} names ${subnetText(previous)}, but no lease holds it; this host has lost its lease`,
      );
    }
    return lease;
  }
  for (const address of state.device?.addresses ?? []) {
    const [ip, prefix] = address.split("/");
    if (prefix !== "32" || ip === undefined) continue;
    const value = parseIPv4(ip);
    const lease = listing.leases.find((l) => hasIPv4(l.subnet) && l.subnet.ipv4.ip === value);
    if (lease !== undefined) return lease;
  }
  throw new PodnetError(
    "not-found",
    `cannot tell which lease is this host's: no subnet file at ${path} and ${how.device} has no lease's /32; pass --public-ip IP`,
  );
}
