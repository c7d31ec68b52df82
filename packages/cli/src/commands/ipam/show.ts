import { writeFile } from "node:fs/promises";
import {
  type AddressMap,
  addressMap,
  freeCidrs,
  hasIPv4,
  isReservation,
  type Lease,
  type LeaseListing,
  locateAddress,
  PodnetError,
  utilisation,
} from "@podnet/ipam-core";
import { Command } from "commander";
import { type Context, withContext } from "../../context.js";
import {
  formatFree,
  formatLocation,
  formatUsage,
  freeData,
  freeRows,
  locationData,
  locationRows,
  usageData,
  usageRows,
} from "../../print/ipam.js";
import { formatMap, mapData, mapLegend, mapSvg } from "../../print/ipam-map.js";
import { type IpamState, readIpamState, requireNetwork } from "./check.js";

/**
 * Up to this many distinct etcd leases, `ipam show` looks up every TTL to count leases
 * expiring soon; beyond it (one request per etcd lease) only with --expiring.
 */
export const TTL_AUTO_LIMIT = 1000;

interface ShowOptions {
  ip?: string;
  free?: boolean;
  map?: string | true;
  expiring?: boolean;
}

/** `podnet ipam show`: utilisation; --ip, --free and --map for the other views. */
export function showCommand(): Command {
  return new Command("show")
    .description("how the address space is used: subnets in range, leased, reserved, free, expiring soon")
    .option("--ip <address>", "which lease holds an address (or belongs to it), whose it is and for how long")
    .option("--free", "the free space compacted into CIDRs")
    .option("--map [file.svg]", "draw the address space; with FILE.svg, write it as an SVG picture")
    .option(
      "--expiring",
      `look up every lease's TTL to count those expiring within an hour (done anyway up to ${TTL_AUTO_LIMIT} leases)`,
    )
    .action(
      withContext(async (ctx, opts: ShowOptions) => {
        const views = [opts.ip !== undefined, opts.free === true, opts.map !== undefined].filter(
          Boolean,
        ).length;
        if (views > 1) throw new PodnetError("usage", "give only one of --ip, --free and --map");
        if (typeof opts.map === "string" && !opts.map.toLowerCase().endsWith(".svg")) {
          throw new PodnetError("usage", `--map writes SVG only: name the file FILE.svg, not ${opts.map}`);
        }
        if (opts.ip !== undefined && locateAddress(emptyListing, opts.ip) === null) {
          throw new PodnetError("usage", `${opts.ip} is not an IPv4 or IPv6 address`);
        }
        const state = await readIpamState(ctx);
        if (opts.ip !== undefined) return showIp(ctx, state, opts.ip);
        if (opts.free) return showFree(ctx, state);
        if (opts.map !== undefined) return showMap(ctx, state, opts.map, opts.expiring === true);
        return showUsage(ctx, state, opts.expiring === true);
      }),
    );
}

const emptyListing: LeaseListing = { revision: 0, leases: [], foreign: [], damaged: [] };

/** TTLs of the listing's etcd leases when there are few of them or they were asked for; else why not. */
async function ttlsFor(
  state: IpamState,
  force: boolean,
): Promise<{ ttls?: Map<string, number>; note?: string }> {
  const ids = new Set<string>();
  for (const l of state.listing.leases) if (!isReservation(l)) ids.add(l.etcdLease);
  if (!force && ids.size > TTL_AUTO_LIMIT) {
    return {
      note: `expiring soon not counted: ${ids.size} leases would take one TTL lookup each; pass --expiring to count them`,
    };
  }
  return { ttls: await state.registry.ttls({ ...state.listing, damaged: [] }) };
}

async function showUsage(ctx: Context, state: IpamState, force: boolean): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const { ttls, note } = await ttlsFor(state, force);
  const util = utilisation(state.listing, network, ttls);
  const data = usageData(ctx.globals.prefix, state.listing, network, util, {
    checked: ttls !== undefined,
    ...(note !== undefined && { note }),
  });
  await ctx.print({ data, human: () => formatUsage(data), rows: () => usageRows(data) });
  return 0;
}

async function showIp(ctx: Context, state: IpamState, ip: string): Promise<number> {
  const network = state.network ?? {};
  const loc = locateAddress(state.listing, ip, network);
  if (loc === null) throw new PodnetError("usage", `${ip} is not an IPv4 or IPv6 address`);
  // TTLs only for the leases that matter here: one lookup per lease shown.
  const shown: Lease[] = [...new Set([...loc.containing, ...loc.owned])];
  const ttls = await state.registry.ttls({ ...emptyListing, leases: shown });
  const data = locationData(loc, ttls, state.listing.revision);
  await ctx.print({ data, human: () => formatLocation(data), rows: () => locationRows(data) });
  return 0;
}

async function showFree(ctx: Context, state: IpamState): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const taken = [...state.listing.leases, ...state.listing.damaged];
  const data = freeData(state.listing.revision, network, {
    ...(network.ipv4 !== undefined && {
      ipv4: freeCidrs(
        network.ipv4,
        taken.filter((e) => hasIPv4(e.subnet)).map((e) => e.subnet.ipv4),
      ),
    }),
    ...(network.ipv6 !== undefined && {
      ipv6: freeCidrs(
        network.ipv6,
        taken.flatMap((e) => (e.subnet.ipv6 !== undefined ? [e.subnet.ipv6] : [])),
      ),
    }),
  });
  await ctx.print({ data, human: () => formatFree(data), rows: () => freeRows(data) });
  return 0;
}

async function showMap(
  ctx: Context,
  state: IpamState,
  target: string | true,
  force: boolean,
): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const { ttls, note } = await ttlsFor(state, force);
  const opts = ttls !== undefined ? { ttls } : {};
  const maps = [
    addressMap(state.listing, network, 4, opts),
    addressMap(state.listing, network, 6, opts),
  ].filter((m): m is AddressMap => m !== null);
  const base = {
    prefix: ctx.globals.prefix,
    revision: state.listing.revision,
    legend: mapLegend(),
    ttlsChecked: ttls !== undefined,
    ...(note !== undefined && { note }),
  };
  if (typeof target === "string") {
    const title = `podnet ipam map of ${maps.map((m) => m.network).join(" and ")} (prefix ${ctx.globals.prefix}, revision ${state.listing.revision})`;
    try {
      await writeFile(target, mapSvg(maps, title));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "failed";
      throw new PodnetError(
        "failed",
        `cannot write ${target}: ${code === "ENOENT" ? "no such directory" : code}`,
      );
    }
    const cells = maps.reduce((n, m) => n + m.cells.length, 0);
    await ctx.print({
      data: { ...base, file: target, maps: maps.map(mapData) },
      human: () =>
        `wrote the map of ${maps.map((m) => m.network).join(" and ")} (${cells} cells) to ${target}`,
      rows: () => [[target]],
    });
    return 0;
  }
  const colours = { enabled: ctx.globals.color, palette: ctx.colours };
  await ctx.print({
    data: { ...base, maps: maps.map(mapData) },
    human: () =>
      [
        ...maps.map((m) => formatMap(m, colours, state.listing.foreign.length)),
        ...(note !== undefined ? [note] : []),
      ].join("\n\n"),
    rows: () => maps.flatMap((m) => mapData(m).rows.map((r) => [`IPv${m.family}`, r.start, r.cells])),
  });
  return 0;
}
