import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { EXIT } from "../../exit.js";
import { unifiedDiff } from "../../print/text-diff.js";

/** `podnet config diff FILE`: what `config set FILE` would change. */
export function diffCommand(): Command {
  return new Command("diff")
    .description("show how a document differs from the one stored in etcd (exit 1 when it does, as diff(1))")
    .argument("<file>", "the document; '-' reads stdin")
    .action(
      withContext(async (ctx, file: string) => {
        const input = await readInput(file);
        const { readConfig, redactConfigText, distinctSecretMarks } = await import("@podnet/netcfg");
        const { config } = await readConfig(await ctx.store(), ctx.globals.prefix);
        const key = config?.key ?? `${ctx.globals.prefix}/config`;
        const from = config ? `${key}@${config.modRevision}` : `${key} (absent)`;
        const mark = distinctSecretMarks();
        const shown = (text: string) => (ctx.globals.showSecrets ? text : redactConfigText(text, mark));
        const oldText = config?.text ?? "";
        const identical = oldText === input.text;
        const diff = identical
          ? ""
          : unifiedDiff(from, shown(oldText), input.name, shown(input.text), ctx.colours);
        await ctx.print({
          data: { key, revision: config?.modRevision ?? null, identical, diff },
          human: () => (identical ? `${input.name} is identical to ${from}` : diff),
        });
        // As diff(1): 0 when identical, 1 when the documents differ.
        return identical ? EXIT.ok : EXIT.failed;
      }),
    );
}
