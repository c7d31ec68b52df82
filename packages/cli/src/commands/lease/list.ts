import { Command } from "commander";
import { withContext } from "../../context.js";
import {
  damagedData,
  foreignData,
  formatLeaseTable,
  leaseData,
  leaseRow,
  sortedBySubnet,
} from "../../print/lease.js";
import { LazyArray } from "../../print/output.js";
import { lookupTtls, noteTtls, ttlModeOf, withTtlOptions } from "../../ttl-policy.js";
import { openRegistry, viewsWith, warnAboutListing } from "./lease-context.js";

/** `podnet lease list`: every lease and reservation with its TTL; damaged and foreign entries as warnings. */
export function listCommand(): Command {
  const cmd = new Command("list")
    .alias("ls")
    .description("list the leases and reservations under <prefix>/subnets/, with their remaining TTL");
  return withTtlOptions(cmd).action(
    withContext(async (ctx, flags: { ttl?: boolean; ttlAutoMax?: string }) => {
      const registry = await openRegistry(ctx);
      const listing = await registry.list();
      const lookup = await lookupTtls(await ctx.store(), listing, ttlModeOf(flags.ttl, flags.ttlAutoMax));
      const views = sortedBySubnet(viewsWith(listing.leases, lookup));
      warnAboutListing(listing);
      noteTtls(lookup);
      await ctx.print({
        data: {
          revision: listing.revision,
          leases: new LazyArray(views.length, () => mapIter(views, leaseData)),
          damaged: listing.damaged.map(damagedData),
          foreign: listing.foreign.map(foreignData),
        },
        human: () => formatLeaseTable(views, listing),
        rows: () => mapIter(views, leaseRow),
      });
      return undefined;
    }),
  );
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}
