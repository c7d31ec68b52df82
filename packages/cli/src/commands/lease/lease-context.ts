/**
 * What every lease command needs before it acts: the registry over the connected store, the
 * network config read and validated, and leases found by subnet or address.
 */
import {
  type AcquireResult,
  findLeases,
  isPodnetError,
  type Lease,
  type LeaseListing,
  LeaseRegistry,
  type LeaseTable,
  type LeaseTarget,
  PodnetError,
  readSnapshot,
  sameSubnet,
} from "@podnet/ipam-core";
import {
  loadNetwork as loadStoredNetwork,
  type NetworkState,
  readNetwork,
  type StoredNetwork,
} from "@podnet/netcfg";
import type { Context } from "../../context.js";
import { type LeaseView, listingWarnings, type ViewSource } from "../../print/lease.js";
import { progress } from "../../print/progress.js";
import { warn } from "../../print/warn.js";
import { type TtlLookup, type TtlPrefetch, ttlOf } from "../../ttl-policy.js";

/** The registry of the context's prefix. */
export async function openRegistry(ctx: Context, ttlSeconds?: number): Promise<LeaseRegistry> {
  const store = await ctx.store();
  const reading = progress("reading leases");
  return new LeaseRegistry(store, {
    prefix: ctx.globals.prefix,
    ...(ttlSeconds !== undefined && { ttlSeconds }),
    // Long listings (tens of thousands of leases) show how far they got on a terminal.
    onListProgress: (keys, last) => (last ? reading.done() : reading.update(keys)),
  });
}

/**
 * The config, then every entry under `<prefix>/subnets/` as a table at the config's revision:
 * one consistent snapshot, cut into sub-ranges by the config's network when it is valid, so
 * etcd serves them at once; the sub-ranges' replies are held together (~12 MB at 65,000
 * leases; a table with rows keeps them as its rows' bytes). `rows: false` when the view needs
 * no lease as an object.
 */
export async function readTableAtConfig(
  ctx: Context,
  opts: { rows?: boolean; prefetch?: TtlPrefetch | undefined } = {},
): Promise<{ registry: LeaseRegistry; table: LeaseTable; networkState: NetworkState }> {
  const registry = await openRegistry(ctx);
  const store = await ctx.store();
  // Read again at a fresh revision when etcd compacts the config's between the two reads.
  return readSnapshot(async () => {
    const networkState = await readNetwork(store, ctx.globals.prefix);
    const table = await registry.table({
      ...(opts.rows !== undefined && { rows: opts.rows }),
      revision: networkState.revision,
      ...(networkState.state === "valid" && { network: networkState.network }),
      ...(opts.prefetch !== undefined && { onEtcdLeases: opts.prefetch.add }),
    });
    return { registry, table, networkState };
  });
}

/**
 * Every entry under `<prefix>/subnets/` as a table for the views that need the leases only
 * (`lease list`): as {@link readTableAtConfig} reads it (the config's network cuts the listing
 * into sub-ranges etcd serves at once), or as one range when the user's role may not read the
 * config, which such a view does not need.
 */
export async function readLeaseTable(
  ctx: Context,
  prefetch?: TtlPrefetch,
): Promise<{ registry: LeaseRegistry; table: LeaseTable }> {
  try {
    return await readTableAtConfig(ctx, { prefetch });
  } catch (err) {
    if (!isPodnetError(err, "permission")) throw err;
    const registry = await openRegistry(ctx);
    return { registry, table: await registry.table({ onEtcdLeases: prefetch?.add }) };
  }
}

/** The network config from etcd, validated; a missing or invalid one is a one-sentence error. */
export async function loadNetwork(ctx: Context): Promise<StoredNetwork & { readonly revision: number }> {
  return loadStoredNetwork(await ctx.store(), ctx.globals.prefix);
}

/** Opens the registry, lists once and returns the leases a SUBNET or IP names; not-found when none. */
export async function requireLeases(
  ctx: Context,
  target: LeaseTarget,
): Promise<{ registry: LeaseRegistry; listing: LeaseListing; found: Lease[] }> {
  const registry = await openRegistry(ctx);
  const listing = await registry.list();
  const found = findLeases(listing, target);
  if (found.length === 0) throw noLeaseError(listing, target);
  return { registry, listing, found };
}

/** The leases with their remaining TTLs, in one batch of TTL lookups. */
export async function viewsOf(
  registry: LeaseRegistry,
  leases: readonly Lease[],
  listing?: LeaseListing,
): Promise<LeaseView[]> {
  const ttls = await registry.ttls(listing ?? { revision: 0, leases: [...leases], foreign: [], damaged: [] });
  return leases.map((lease) => ({
    lease,
    ttlSeconds: lease.etcdLease === "0" ? null : (ttls.get(lease.etcdLease) ?? -1),
  }));
}

/** The acquired lease with its TTL: as the acquisition told it, else looked up. */
export async function acquiredView(registry: LeaseRegistry, result: AcquireResult): Promise<LeaseView> {
  const { lease, ttlSeconds } = result;
  if (lease.etcdLease === "0") return { lease, ttlSeconds: null };
  if (ttlSeconds !== undefined) return { lease, ttlSeconds };
  const [view] = await viewsOf(registry, [lease]);
  return view ?? { lease, ttlSeconds: -1 };
}

/**
 * A table's leases as views in address order, each decoded (with its TTL from the lookup)
 * only as it is read: the listing views print 65,000 leases without holding them as objects.
 */
export function tableViews(table: LeaseTable, lookup: TtlLookup): ViewSource {
  const has = (family: 4 | 6, i: number) => (family === 4 ? table.hasV4(i) : table.ip6(i) !== undefined);
  const ttl = (i: number) => ttlOf(lookup, table.etcdLease(i));
  return {
    size: table.size,
    rows: { table, ttl },
    *views(family) {
      for (const i of table.order) {
        if (family !== undefined && !has(family, i)) continue;
        yield { lease: table.lease(i), ttlSeconds: ttl(i) };
      }
    },
    count(family) {
      if (family === 6 && !table.hasIPv6) return 0;
      let n = 0;
      for (let i = 0; i < table.size; i++) if (has(family, i)) n++;
      return n;
    },
  };
}

/** Writes one warning per damaged or foreign entry on stderr. */
export function warnAboutListing(listing: Pick<LeaseListing, "damaged" | "foreign">): void {
  for (const line of listingWarnings(listing)) warn(line);
}

/** A not-found error for a SUBNET or IP that names no lease, mentioning a damaged entry there. */
export function noLeaseError(listing: LeaseListing, target: LeaseTarget): PodnetError {
  const damaged =
    target.kind === "subnet" ? listing.damaged.find((d) => sameSubnet(d.subnet, target.subnet)) : undefined;
  if (damaged !== undefined) {
    return new PodnetError(
      "not-found",
      `${damaged.key} is not a lease: its value is damaged (${damaged.reason})`,
    );
  }
  const what =
    target.kind === "subnet"
      ? `no lease holds subnet ${target.text}`
      : target.kind === "owner"
        ? `${target.text} holds no lease`
        : `no lease holds or belongs to ${target.text}`;
  return new PodnetError("not-found", `${what}; 'podnet lease list' shows the leases`);
}
