import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { formatImpact } from "../../print/impact.js";
import { unifiedDiff } from "../../print/text-diff.js";

/** `podnet config diff FILE`: what `config set FILE` would change, and what that does to the hosts. */
export function diffCommand(): Command {
  return new Command("diff")
    .description("show how a document differs from the one stored in etcd, and its impact on the hosts")
    .argument("<file>", "the document; '-' reads stdin")
    .action(
      withContext(async (ctx, file: string) => {
        const input = await readInput(file);
        const { readConfig, readConfigImpact, validateConfigText } = await import("@podnet/netcfg");
        const store = await ctx.store();
        const { config } = await readConfig(store, ctx.globals.prefix);
        const key = config?.key ?? `${ctx.globals.prefix}/config`;
        const from = config ? `${key}@${config.modRevision}` : `${key} (absent)`;
        const diff = unifiedDiff(from, config?.text ?? "", input.name, input.text, ctx.colours);
        // an invalid document has no impact to compute; 'config set' would refuse it anyway
        const resolved = diff === "" ? undefined : validateConfigText(input.text).resolved;
        const impact =
          resolved === undefined ? undefined : await readConfigImpact(store, ctx.globals.prefix, resolved);
        await ctx.print({
          data: {
            key,
            revision: config?.modRevision ?? null,
            identical: diff === "",
            diff,
            impact: impact ?? null,
          },
          human: () =>
            diff === ""
              ? `${input.name} is identical to ${from}`
              : impact
                ? `${diff}\n${formatImpact(impact, ctx.colours)}`
                : diff,
        });
        return undefined;
      }),
    );
}
