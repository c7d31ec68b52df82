import { getConfig, redactConfig, redactConfigText, validateConfigText } from "@podnet/netcfg";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { safeJson } from "../../print/bounded.js";
import { warn } from "../../print/warn.js";

/** `podnet config get`: the document as etcd holds it (secrets redacted); `-o json` adds the revision. */
export function getCommand(): Command {
  return new Command("get").description("print the network config document stored in etcd").action(
    withContext(async (ctx) => {
      const config = await getConfig(await ctx.store(), ctx.globals.prefix);
      const show = ctx.globals.showSecrets;
      const text = show ? config.text : redactConfigText(config.text);
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(config.text);
      } catch {
        warn(`${config.key} does not hold valid JSON; shown as stored`);
      }
      if (parsed !== null) {
        const { errors } = validateConfigText(config.text);
        const [first] = errors;
        if (first !== undefined) {
          warn(
            `${config.key} is damaged: ${first.path || "/"}: ${first.message}; 'podnet config validate' explains`,
          );
        }
      }
      const shown = show ? parsed : redactConfig(parsed);
      await ctx.print({
        data: {
          key: config.key,
          revision: config.modRevision,
          createRevision: config.createRevision,
          version: config.version,
          config: shown,
          ...(parsed === null ? { raw: text } : {}),
        },
        human: () => text,
        rows: () => [[config.key, String(config.modRevision), safeJson(parsed === null ? text : shown)]],
      });
      return undefined;
    }),
  );
}
