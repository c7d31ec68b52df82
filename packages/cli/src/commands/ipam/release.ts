import { deleteUnchanged, normalisePrefix, PodnetError, parseReport, releasePlan } from "@podnet/ipam-core";
import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { formatRelease, releaseData, releaseRows } from "../../print/ipam.js";

/**
 * `podnet ipam release --from-report FILE`: deletes exactly the keys the report names for
 * release, each only if unchanged since the report; exit 1 when one was skipped because it changed.
 */
export function releaseCommand(): Command {
  return new Command("release")
    .description(
      "delete what an 'ipam check --report' file names (overlap losers, extra leases of one PublicIP, leases out of range " +
        "or of the wrong length, foreign keys, damaged values), each only if unchanged and not renewed since the report; " +
        "reservations are never deleted",
    )
    .requiredOption(
      "--from-report <file>",
      "the report written by 'podnet ipam check --report FILE' ('-' for stdin)",
    )
    .option("--dry-run", "say what would be deleted and skipped; delete nothing")
    .action(
      withContext(async (ctx, opts: { fromReport: string; dryRun?: boolean }) => {
        const { name, text } = await readInput(opts.fromReport);
        const report = parseReport(text, name);
        const prefix = ctx.globals.prefix;
        if (normalisePrefix(report.prefix) !== prefix) {
          throw new PodnetError(
            "usage",
            `${name} is a report for prefix ${report.prefix}, not ${prefix}; pass --prefix ${report.prefix} to release from it`,
          );
        }
        const plan = releasePlan(report);
        const dryRun = opts.dryRun === true;
        const outcomes =
          plan.length === 0 ? [] : await deleteUnchanged(await ctx.store(), prefix, plan, { dryRun });
        const data = releaseData(report, dryRun, outcomes);
        await ctx.print({ data, human: () => formatRelease(data), rows: () => releaseRows(data) });
        const skipped = new Set(["changed", "renewed", "reservation", "unverified"]);
        return outcomes.some((o) => skipped.has(o.status)) ? 1 : 0;
      }),
    );
}
