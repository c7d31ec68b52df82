import { PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { applyDocument } from "./apply.js";

interface SetFlags {
  dryRun?: boolean;
  strict?: boolean;
  expectRevision?: string;
  allowDisruption?: boolean;
}

/** `podnet config set FILE|-`: validate, show the diff, write only if unchanged since read. */
export function setCommand(): Command {
  return new Command("set")
    .description("validate a document and write it to etcd, refusing if someone changed it meanwhile")
    .argument("<file>", "the document; '-' reads stdin")
    .option("--dry-run", "show the diff and write nothing")
    .option("--strict", "refuse documents with warnings too")
    .option(
      "--allow-disruption",
      "write even when the change orphans live leases or changes the running data plane",
    )
    .option(
      "--expect-revision <rev>",
      "write only if the stored document is still at this revision (0: absent)",
    )
    .action(
      withContext(async (ctx, file: string, flags: SetFlags) => {
        const expectRevision = parseRevision(flags.expectRevision, "--expect-revision");
        const input = await readInput(file);
        return applyDocument(ctx, await ctx.store(), {
          source: input.name,
          text: input.text,
          dryRun: flags.dryRun === true,
          strict: flags.strict === true,
          allowDisruption: flags.allowDisruption === true,
          ...(expectRevision !== undefined ? { expectRevision } : {}),
        });
      }),
    );
}

/** Parses a revision argument; undefined when absent. */
export function parseRevision(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new PodnetError("usage", `${what} "${text}" is not a revision number`);
  return Number(text);
}
