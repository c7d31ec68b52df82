/**
 * `podnet ifconfig flannel.1 10.5.0.0/16 subnetlen 24 vxlan vni 1 ...` (setting): the words
 * applied on top of the stored config, then validated, diffed and written like `config set`.
 */
import { applyIfconfigWords, parseIfconfigWords, readConfig } from "@podnet/netcfg";
import type { Context } from "../../context.js";
import { applyDocument } from "../config/apply.js";

/** What the setting form was asked. */
export interface SetFlags {
  readonly dryRun: boolean;
  readonly strict: boolean;
  readonly allowDisruption: boolean;
}

/** Runs the setting form; returns the exit status (3 invalid, 1 disruptive without the flag; nothing written). */
export async function setIfconfig(ctx: Context, words: readonly string[], flags: SetFlags): Promise<number> {
  const parsed = parseIfconfigWords(words); // a bad word fails before etcd is contacted
  const store = await ctx.store();
  const { config } = await readConfig(store, ctx.globals.prefix);
  const { text } = applyIfconfigWords(parsed, config?.text);
  return applyDocument(ctx, store, {
    source: `podnet ifconfig ${words.join(" ")}`,
    text,
    dryRun: flags.dryRun,
    strict: flags.strict,
    allowDisruption: flags.allowDisruption,
    // the words were applied to this version: refuse if it changed since
    expectRevision: config?.modRevision ?? 0,
  });
}
