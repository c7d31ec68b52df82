import { PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { table } from "../../print/table.js";

/** `podnet config history`: earlier versions etcd still holds, newest first. */
export function historyCommand(): Command {
  return new Command("history")
    .description("list the versions of the config document etcd still holds, with their revisions")
    .option("--limit <n>", "at most this many versions", "50")
    .action(
      withContext(async (ctx, flags: { limit: string }) => {
        const limit = Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          throw new PodnetError("usage", `--limit "${flags.limit}" is not a positive whole number`);
        }
        const { configHistory, configNotFoundMessage } = await import("@podnet/netcfg");
        const { configKey } = await import("@podnet/ipam-core");
        const history = await configHistory(await ctx.store(), ctx.globals.prefix, limit);
        if (history.versions.length === 0) {
          throw new PodnetError("not-found", configNotFoundMessage(configKey(ctx.globals.prefix)));
        }
        const { validateConfigText, redactConfigText } = await import("@podnet/netcfg");
        const shown = (text: string) => (ctx.globals.showSecrets ? text : redactConfigText(text));
        const summary = (text: string): { network: string; backend: string } => {
          const { resolved } = validateConfigText(text);
          if (!resolved) return { network: "(invalid)", backend: "-" };
          return { network: resolved.Network ?? resolved.IPv6Network ?? "-", backend: resolved.Backend.Type };
        };
        await ctx.print({
          data: {
            revision: history.revision,
            key: configKey(ctx.globals.prefix),
            versions: history.versions.map((v) => ({
              revision: v.modRevision,
              version: v.version,
              text: shown(v.text),
            })),
            truncated: history.truncated ?? null,
          },
          human: () => {
            const rows = history.versions.map((v, i) => {
              const s = summary(v.text);
              return [
                String(v.modRevision),
                String(v.version),
                s.network,
                s.backend,
                i === 0 ? "current" : "",
              ];
            });
            const note =
              history.truncated === "compacted"
                ? "\n(older versions were compacted by etcd)"
                : history.truncated === "limit"
                  ? `\n(showing the newest ${limit}; --limit shows more)`
                  : "";
            return table(["REVISION", "VERSION", "NETWORK", "BACKEND", ""], rows) + note;
          },
          rows: () =>
            history.versions.map((v) => [
              String(v.modRevision),
              String(v.version),
              shown(v.text).replace(/\s+/g, " "),
            ]),
        });
        return undefined;
      }),
    );
}
