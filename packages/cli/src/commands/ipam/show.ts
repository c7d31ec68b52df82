import { writeFile } from "node:fs/promises";
import {
  type AddressMap,
  addressMap,
  checkAddress,
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
import {
  lookupTtls,
  noteTtls,
  type TtlMode,
  TtlPrefetch,
  ttlModeOf,
  withTtlOptions,
} from "../../ttl-policy.js";
import { type IpamState, readIpamState, requireNetwork } from "./check.js";

interface ShowOptions {
  ip?: string;
  free?: boolean;
  map?: string | true;
  expiring?: boolean;
  /** --ttl (true) / --no-ttl (false). */
  ttl?: boolean;
  /** --ttl-auto-max. */
  ttlAutoMax?: string;
}

/** `podnet ipam show`: utilisation; --ip, --free and --map for the other views. */
export function showCommand(): Command {
  return withTtlOptions(
    new Command("show").description(
      "how the address space is used: subnets in range, leased, reserved, free, expiring soon",
    ),
  )
    .option("--ip <address>", "which lease holds an address (or belongs to it), whose it is and for how long")
    .option("--free", "the free space compacted into CIDRs")
    .option("--map [file.svg]", "draw the address space; with FILE.svg, write it as an SVG picture")
    .option("--expiring", "the same as --ttl: look up every TTL to count the leases expiring within an hour")
    .action(
      withContext(async (ctx, opts: ShowOptions) => {
        const views = [opts.ip !== undefined, opts.free === true, opts.map !== undefined].filter(
          Boolean,
        ).length;
        if (views > 1) throw new PodnetError("usage", "give only one of --ip, --free and --map");
        if (typeof opts.map === "string" && !opts.map.toLowerCase().endsWith(".svg")) {
          throw new PodnetError("usage", `--map writes SVG only: name the file FILE.svg, not ${opts.map}`);
        }
        const badIp = opts.ip === undefined ? undefined : checkAddress(opts.ip);
        if (badIp !== undefined) throw new PodnetError("usage", `--ip: ${badIp}`);
        if (opts.ip !== undefined && locateAddress(emptyListing, opts.ip) === null) {
          throw new PodnetError("usage", `--ip: ${opts.ip} is not an address as flannel writes them`);
        }
        // Usage and the map need counts and spans only; --ip and --free decode the leases.
        const rows = opts.ip !== undefined || opts.free === true;
        const mode = opts.expiring === true ? "always" : ttlModeOf(opts.ttl, opts.ttlAutoMax);
        // Usage and the map look up TTLs as the listing comes in (see TtlPrefetch).
        const prefetch = rows ? undefined : new TtlPrefetch(await ctx.store(), mode);
        const state = await readIpamState(ctx, { rows, prefetch });
        if (opts.ip !== undefined) return showIp(ctx, state, opts.ip);
        if (opts.free) return showFree(ctx, state);
        if (opts.map !== undefined) return showMap(ctx, state, opts.map, mode, prefetch);
        return showUsage(ctx, state, mode, prefetch);
      }),
    );
}

const emptyListing: LeaseListing = { revision: 0, leases: [], foreign: [], damaged: [] };

/** TTLs of the listing's live leases as the TTL policy says (ttl-policy.ts); else why not. */
async function ttlsFor(
  ctx: Context,
  state: IpamState,
  mode: TtlMode,
  prefetch: TtlPrefetch | undefined,
): Promise<{ ttls?: Map<string, number>; note?: string }> {
  // The live leases' TTLs only: expiring soon counts leases, not damaged entries.
  const ids = state.table.etcdLeaseIds({ damaged: false });
  const lookup = await lookupTtls(await ctx.store(), ids, mode, { prefetch });
  noteTtls(lookup);
  if (lookup.ttls !== undefined) return { ttls: lookup.ttls };
  const why = mode === "never" ? "--no-ttl" : `${lookup.skipped} etcd leases, one TTL lookup each`;
  return { note: `expiring soon not counted (${why}); pass --ttl to count them` };
}

async function showUsage(
  ctx: Context,
  state: IpamState,
  mode: TtlMode,
  prefetch: TtlPrefetch | undefined,
): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const { ttls, note } = await ttlsFor(ctx, state, mode, prefetch);
  const util = utilisation(state.table, network, ttls);
  const data = usageData(ctx.globals.prefix, state.table, network, util, {
    checked: ttls !== undefined,
    ...(note !== undefined && { note }),
  });
  await ctx.print({ data, human: () => formatUsage(data), rows: () => usageRows(data) });
  return 0;
}

async function showIp(ctx: Context, state: IpamState, ip: string): Promise<number> {
  const network = state.network ?? {};
  const listing = state.table.listing();
  const loc = locateAddress(listing, ip, network);
  if (loc === null) throw new PodnetError("usage", `${ip} is not an IPv4 or IPv6 address`);
  // TTLs only for the leases that matter here: one lookup per lease shown.
  const shown: Lease[] = [...new Set([...loc.containing, ...loc.owned])];
  const ttls = await (await ctx.store()).timeToLiveMany(
    shown.filter((l) => !isReservation(l)).map((l) => l.etcdLease),
  );
  const data = locationData(loc, ttls, listing.revision);
  await ctx.print({ data, human: () => formatLocation(data), rows: () => locationRows(data) });
  return 0;
}

async function showFree(ctx: Context, state: IpamState): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const listing = state.table.listing();
  const taken = [...listing.leases, ...listing.damaged];
  const data = freeData(listing.revision, network, {
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
  mode: TtlMode,
  prefetch: TtlPrefetch | undefined,
): Promise<number> {
  const network = await requireNetwork(state, ctx.globals.prefix);
  const { ttls, note } = await ttlsFor(ctx, state, mode, prefetch);
  const opts = ttls !== undefined ? { ttls } : {};
  const maps = [addressMap(state.table, network, 4, opts), addressMap(state.table, network, 6, opts)].filter(
    (m): m is AddressMap => m !== null,
  );
  const base = {
    prefix: ctx.globals.prefix,
    revision: state.table.revision,
    legend: mapLegend(),
    ttlsChecked: ttls !== undefined,
    ...(note !== undefined && { note }),
  };
  if (typeof target === "string") {
    const title = `podnet ipam map of ${maps.map((m) => m.network).join(" and ")} (prefix ${ctx.globals.prefix}, revision ${state.table.revision})`;
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
        ...maps.map((m) => formatMap(m, colours, state.table.foreign.length)),
        ...(note !== undefined ? [note] : []),
      ].join("\n\n"),
    rows: () => maps.flatMap((m) => mapData(m).rows.map((r) => [`IPv${m.family}`, r.start, r.cells])),
  });
  return 0;
}
