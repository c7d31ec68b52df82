import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { unifiedDiff } from "../../print/text-diff.js";

/** `podnet config diff FILE`: what `config set FILE` would change. */
export function diffCommand(): Command {
  return new Command("diff")
    .description("show how a document differs from the one stored in etcd")
    .argument("<file>", "the document; '-' reads stdin")
    .action(
      withContext(async (ctx, file: string) => {
        const input = await readInput(file);
        const { readConfig } = await import("@podnet/netcfg");
        const { config } = await readConfig(await ctx.store(), ctx.globals.prefix);
        const key = config?.key ?? `${ctx.globals.prefix}/config`;
        const from = config ? `${key}@${config.modRevision}` : `${key} (absent)`;
        const diff = unifiedDiff(from, config?.text ?? "", input.name, input.text, ctx.colours);
        await ctx.print({
          data: { key, revision: config?.modRevision ?? null, identical: diff === "", diff },
          human: () => (diff === "" ? `${input.name} is identical to ${from}` : diff),
        });
        return undefined;
      }),
    );
}
