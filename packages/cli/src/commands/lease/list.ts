import { Command } from "commander";
import { withContext } from "../../context.js";
import {
  damagedData,
  foreignData,
  formatLeaseTable,
  leaseData,
  leaseRow,
  leaseTableLines,
  writeLeasesJson,
} from "../../print/lease.js";
import { LazyArray } from "../../print/output.js";
import { lookupTtls, noteTtls, TtlPrefetch, ttlModeOf, withTtlOptions } from "../../ttl-policy.js";
import { readLeaseTable, tableViews, warnAboutListing } from "./lease-context.js";

/** `podnet lease list`: every lease and reservation with its TTL; damaged and foreign entries as warnings. */
export function listCommand(): Command {
  const cmd = new Command("list")
    .alias("ls")
    .description("list the leases and reservations under <prefix>/subnets/, with their remaining TTL");
  return withTtlOptions(cmd).action(
    withContext(async (ctx, flags: { ttl?: boolean; ttlAutoMax?: string }) => {
      const mode = ttlModeOf(flags.ttl, flags.ttlAutoMax);
      // TTLs are looked up as the listing comes in (see TtlPrefetch).
      const prefetch = new TtlPrefetch(await ctx.store(), mode);
      const { table } = await readLeaseTable(ctx, prefetch);
      const lookup = await lookupTtls(await ctx.store(), table, mode, { prefetch });
      // Only the table is held; each lease and its json, row or line is made as it is printed.
      const views = tableViews(table, lookup);
      warnAboutListing(table);
      noteTtls(lookup);
      await ctx.print({
        data: {
          revision: table.revision,
          leases: new LazyArray(
            views.size,
            () => mapIter(views.views(), leaseData),
            (out) => writeLeasesJson(views, out),
          ),
          damaged: table.damaged.map(damagedData),
          foreign: table.foreign.map(foreignData),
        },
        human: () => formatLeaseTable([...views.views()], table),
        humanLines: () => leaseTableLines(() => views.views(), table),
        rows: () => mapIter(views.views(), leaseRow),
      });
      return undefined;
    }),
  );
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}
