import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatLease, leaseData, leaseRow, subnetText } from "../../print/lease.js";
import { note } from "../../print/warn.js";
import { targetArg } from "./flags.js";
import { noLeaseError, requireLeases, viewsOf } from "./lease-context.js";

/** `podnet lease show SUBNET|IP`: one lease in full; an address finds the lease containing it or owned by it. */
export function showCommand(): Command {
  return new Command("show")
    .description(
      "show one lease: by subnet (10.5.52.0/24 or 10.5.52.0-24), or by an address inside it or its owner's",
    )
    .argument("<subnet-or-ip>", "a subnet, or an IP address")
    .action(
      withContext(async (ctx, text: string) => {
        const target = targetArg(text);
        const { registry, listing, found } = await requireLeases(ctx, target);
        const views = await viewsOf(registry, found);
        const [first, ...others] = views;
        if (first === undefined) throw noLeaseError(listing, target);
        for (const other of others) {
          note(`note: ${text} also matches the lease ${subnetText(other.lease.subnet)}`);
        }
        await ctx.print({
          data: leaseData(first),
          human: () => formatLease(first),
          rows: () => [leaseRow(first)],
        });
        return undefined;
      }),
    );
}
