import {
  distinctSecretMarks,
  readConfig,
  readConfigImpact,
  redactConfigText,
  validateConfigText,
} from "@podnet/netcfg";
import { Command } from "commander";
import { readInput, withContext } from "../../context.js";
import { EXIT } from "../../exit.js";
import { formatImpact } from "../../print/impact.js";
import { unifiedDiff } from "../../print/text-diff.js";

/** `podnet config diff FILE`: what `config set FILE` would change, and what that does to the hosts. */
export function diffCommand(): Command {
  return new Command("diff")
    .description(
      "show how a document differs from the one stored in etcd and its impact on the hosts (exit 1 when it differs, as diff(1))",
    )
    .argument("<file>", "the document; '-' reads stdin")
    .action(
      withContext(async (ctx, file: string) => {
        const input = await readInput(file);
        const store = await ctx.store();
        const { config } = await readConfig(store, ctx.globals.prefix);
        const key = config?.key ?? `${ctx.globals.prefix}/config`;
        const from = config ? `${key}@${config.modRevision}` : `${key} (absent)`;
        const mark = distinctSecretMarks();
        const shown = (text: string) => (ctx.globals.showSecrets ? text : redactConfigText(text, mark));
        const oldText = config?.text ?? "";
        const identical = oldText === input.text;
        const diff = identical
          ? ""
          : unifiedDiff(from, shown(oldText), input.name, shown(input.text), ctx.colours);
        // an invalid document has no impact to compute; 'config set' would refuse it anyway
        const resolved = identical ? undefined : validateConfigText(input.text).resolved;
        const impact =
          resolved === undefined ? undefined : await readConfigImpact(store, ctx.globals.prefix, resolved);
        await ctx.print({
          data: { key, revision: config?.modRevision ?? null, identical, diff, impact: impact ?? null },
          human: () =>
            identical
              ? `${input.name} is identical to ${from}`
              : impact
                ? `${diff}\n${formatImpact(impact, ctx.colours)}`
                : diff,
        });
        // As diff(1): 0 when identical, 1 when the documents differ.
        return identical ? EXIT.ok : EXIT.failed;
      }),
    );
}
