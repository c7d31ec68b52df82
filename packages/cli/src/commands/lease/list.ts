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
import { openRegistry, viewsOf, warnAboutListing } from "./lease-context.js";

/** `podnet lease list`: every lease and reservation with its TTL; damaged and foreign entries as warnings. */
export function listCommand(): Command {
  return new Command("list")
    .alias("ls")
    .description("list the leases and reservations under <prefix>/subnets/, with their remaining TTL")
    .action(
      withContext(async (ctx) => {
        const registry = await openRegistry(ctx);
        const listing = await registry.list();
        const views = sortedBySubnet(await viewsOf(registry, listing.leases, listing));
        warnAboutListing(listing);
        await ctx.print({
          data: {
            revision: listing.revision,
            leases: views.map(leaseData),
            damaged: listing.damaged.map(damagedData),
            foreign: listing.foreign.map(foreignData),
          },
          human: () => formatLeaseTable(views, listing),
          rows: () => views.map(leaseRow),
        });
        return undefined;
      }),
    );
}
