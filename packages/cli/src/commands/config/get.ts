import { Command } from "commander";
import { withContext } from "../../context.js";
import { warn } from "../../print/warn.js";

/** `podnet config get`: the document as etcd holds it; `-o json` adds the revision. */
export function getCommand(): Command {
  return new Command("get").description("print the network config document stored in etcd").action(
    withContext(async (ctx) => {
      const { getConfig } = await import("@podnet/netcfg");
      const config = await getConfig(await ctx.store(), ctx.globals.prefix);
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(config.text);
      } catch {
        warn(`${config.key} does not hold valid JSON; shown as stored`);
      }
      await ctx.print({
        data: {
          key: config.key,
          revision: config.modRevision,
          createRevision: config.createRevision,
          version: config.version,
          config: parsed,
          ...(parsed === null ? { raw: config.text } : {}),
        },
        human: () => config.text,
        rows: () => [[config.key, String(config.modRevision), JSON.stringify(parsed ?? config.text)]],
      });
      return undefined;
    }),
  );
}
