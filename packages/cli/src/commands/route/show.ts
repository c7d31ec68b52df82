import { findHostLease, type Lease, type LeaseListing, PodnetError, parseIPv6 } from "@podnet/ipam-core";
import {
  compareKernel,
  DEFAULT_SUBNET_FILE,
  hostFamilies,
  type KernelComparison,
  planHost,
  readKernelState,
  readKernelStateFor,
  readSubnetFile,
  underlayByName,
  underlayFactsOf,
  vxlanDeviceName,
} from "@podnet/netcfg";
import { Command } from "commander";
import { type Context, withContext } from "../../context.js";
import { subnetText } from "../../print/lease.js";
import { LazyArray } from "../../print/output.js";
import {
  eachRoute,
  formatKernelCheck,
  formatRouteTable,
  routeCount,
  routeData,
  routeSimpleRow,
  routeTableLines,
  writeRoutesJson,
} from "../../print/route.js";
import { warn } from "../../print/warn.js";
import {
  lookupTtls,
  noteTtls,
  type TtlMode,
  TtlPrefetch,
  ttlModeOf,
  withTtlOptions,
} from "../../ttl-policy.js";
import { ipv4Flag } from "../lease/flags.js";
import {
  loadNetwork,
  openRegistry,
  readTableAtConfig,
  tableViews,
  warnAboutListing,
} from "../lease/lease-context.js";

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
  // Split like the summary views: now that the table keeps the replies instead of copying
  // rows out of them, the sub-ranges' replies held together cost no more than two pages
  // (65,000 leases, 9 alternating pairs: peak RSS median 91 against 97 MB, 0.96x the time).
  // TTLs are looked up as the listing comes in (see TtlPrefetch).
  const prefetch = new TtlPrefetch(await ctx.store(), ttl);
  const { table, networkState } = await readTableAtConfig(ctx, { prefetch });
  // The config's VNI, for vxlan leases whose BackendData has none (as the config resolves, even
  // one with problems; none without a config).
  const backend = networkState.state === "missing" ? undefined : networkState.validation.resolved?.Backend;
  const vni = backend?.Type === "vxlan" ? backend.VNI : undefined;
  const lookup = await lookupTtls(await ctx.store(), table, ttl, { prefetch });
  warnAboutListing(table);
  noteTtls(lookup);
  // Only the table is held; each lease, its route (and its json or row) is made as it is printed.
  const sorted = tableViews(table, lookup);
  await ctx.print({
    data: {
      revision: table.revision,
      routes: new LazyArray(
        routeCount(sorted),
        () => mapIter(eachRoute(sorted, vni), routeData),
        (out) => writeRoutesJson(sorted, vni, out),
      ),
    },
    human: () =>
      formatRouteTable([...eachRoute(sorted, vni)], table, { numeric, prefix: ctx.globals.prefix }),
    humanLines: () => routeTableLines(sorted, vni, table, { numeric, prefix: ctx.globals.prefix }),
    rows: () => mapIter(eachRoute(sorted, vni), routeSimpleRow),
  });
  return undefined;
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
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
 * Plans this host's data plane from the leases with netcfg's planHost (the agent's plan, its
 * own lease found by ipam-core's findHostLease) and compares it entry by entry with the
 * kernel, one device per family of the network. Exit 1 unless all match.
 */
async function checkKernel(ctx: Context, flags: KernelFlags): Promise<number> {
  const publicIp = flags.publicIp === undefined ? undefined : publicIpFlag(flags.publicIp);
  const { resolved } = await loadNetwork(ctx);
  const backend = resolved.Backend;
  if (backend.Type !== "vxlan") {
    throw new PodnetError(
      "failed",
      `--kernel compares a vxlan data plane; this network's backend is ${backend.Type}`,
    );
  }
  const families = hostFamilies(resolved);
  const target = flags.netns === undefined ? {} : { netns: flags.netns };
  const deviceOf = (family: 4 | 6) =>
    families.length === 1 && flags.iface !== undefined
      ? flags.iface
      : vxlanDeviceName(backend.VNI, family === 6);
  const registry = await openRegistry(ctx);
  const [listing, found] = await Promise.all([
    registry.list(),
    Promise.all(families.map((f) => readKernelState(deviceOf(f), target, undefined, f))),
  ]);
  warnAboutListing(listing);
  const first = found.find((s) => s.device !== undefined);
  const own = await ownLease(
    listing,
    found.flatMap((s) => s.device?.addresses ?? []),
    {
      publicIp,
      subnetFile: flags.subnetFile,
      device: families.map(deviceOf).join(" or "),
    },
  );
  // The underlay as the agent saw it: the interface the device runs over, its addresses and networks.
  const underlayDev = first?.device?.dev ?? "";
  const underlay = underlayDev === "" ? undefined : await underlayByName(underlayDev, target);
  const v4 = found[families.indexOf(4)]?.device;
  const v6 = found[families.indexOf(6)]?.device;
  const facts = underlayFactsOf(
    own,
    { ...(v4 !== undefined && { v4 }), ...(v6 !== undefined && { v6 }) },
    underlay ?? {},
  );
  const rows: KernelComparison[] = [];
  for (const [i, family] of families.entries()) {
    const plan = planHost({ config: resolved, leases: listing.leases, own, underlay: facts }, family);
    const device = deviceOf(family);
    const planned =
      device === plan.device.name ? plan : { ...plan, device: { ...plan.device, name: device } };
    for (const s of planned.skipped)
      warn(`${s.key}: not routed${family === 6 ? " over IPv6" : ""}: ${s.reason}`);
    // DirectRouting's routes sit on the underlay, so read those too when the underlay is known.
    const state =
      backend.DirectRouting && planned.device.dev !== ""
        ? await readKernelStateFor(planned, target)
        : (found[i] ?? { neighbours: [], fdb: [], routes: [] });
    rows.push(...compareKernel(planned, state));
  }
  const devices = families.map(deviceOf).join(", ");
  const bad = rows.filter((r) => r.status !== "ok").length;
  const { green, red, yellow } = ctx.colours;
  const mark = (status: string, text: string) =>
    status === "ok" ? green(text) : status === "stale" ? yellow(text) : red(text);
  const where = flags.netns === undefined ? "" : ` in network namespace ${flags.netns}`;
  await ctx.print({
    data: {
      device: devices,
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
        `Kernel check of ${devices}${where} against the leases (this host: ${subnetText(own.subnet)}, ${own.attrs.publicIP})`,
        mark,
      ),
    rows: () => rows.map((r) => [r.status, r.kind, r.entry, r.detail ?? ""]),
  });
  return bad === 0 ? 0 : 1;
}

/** `--public-ip`: an IPv4 address, or an IPv6 one for a host known by its PublicIPv6. */
function publicIpFlag(text: string): string {
  if (parseIPv6(text) !== null && text.includes(":")) return text;
  return ipv4Flag(text, "--public-ip");
}

/** This host's lease (ipam-core's findHostLease): by --public-ip, else the subnet file's subnet, else the device's address. */
async function ownLease(
  listing: LeaseListing,
  deviceAddresses: readonly string[],
  how: { publicIp: string | undefined; subnetFile: string | undefined; device: string },
): Promise<Lease> {
  const path = how.subnetFile ?? DEFAULT_SUBNET_FILE;
  const file = how.publicIp === undefined ? await readSubnetFile(path) : undefined;
  if (how.publicIp === undefined && file === undefined && how.subnetFile !== undefined) {
    throw new PodnetError("not-found", `the subnet file ${path} does not exist`);
  }
  const subnetFileSubnet = file?.previousSubnet();
  const match = findHostLease(listing, {
    ...(how.publicIp !== undefined && { publicIp: how.publicIp }),
    ...(subnetFileSubnet !== undefined && { subnetFileSubnet }),
    ...(file !== undefined && { subnetFile: path }),
    ...(deviceAddresses.length > 0 && { deviceAddresses }),
    device: how.device,
  });
  if (match.lease === undefined) {
    throw new PodnetError("not-found", `cannot tell which lease is this host's: ${match.why}`);
  }
  return match.lease;
}
