import { configAt } from "@podnet/netcfg";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { applyDocument } from "./apply.js";
import { parseRevision } from "./set.js";

/** `podnet config rollback REV`: write back the document as it stood at REV, guarded like `set`. */
export function rollbackCommand(): Command {
  return new Command("rollback")
    .description("restore the config document as it stood at an earlier revision (see 'config history')")
    .argument("<revision>", "the revision to restore")
    .option("--dry-run", "show the diff and write nothing")
    .option(
      "--allow-disruption",
      "write even when the change orphans live leases or changes the running data plane",
    )
    .action(
      withContext(async (ctx, rev: string, flags: { dryRun?: boolean; allowDisruption?: boolean }) => {
        const revision = parseRevision(rev, "revision") ?? 0;
        const store = await ctx.store();
        const old = await configAt(store, ctx.globals.prefix, revision);
        return applyDocument(ctx, store, {
          source: `${old.key}@${old.modRevision}`,
          text: old.text,
          dryRun: flags.dryRun === true,
          allowDisruption: flags.allowDisruption === true,
        });
      }),
    );
}
