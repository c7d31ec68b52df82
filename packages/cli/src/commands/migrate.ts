import { PodnetError, readV2Keyspace, subnetsPrefix } from "@podnet/ipam-core";
import { applyV2Migration, migrationCounts, planV2Migration, readConfig } from "@podnet/netcfg";
import { Command, Option } from "commander";
import { withContext } from "../context.js";
import { EXIT } from "../exit.js";
import { invalidV2Result, migrationResult } from "../print/migrate.js";

interface V2Flags {
  from?: string;
  v2Prefix?: string;
  dryRun?: boolean;
  prefer: "v2" | "v3";
  allowDisruption?: boolean;
}

/** `podnet migrate v2`: bring flannel's v2-API keyspace (config and leases) into v3. */
export function migrateCommand(): Command {
  return new Command("migrate")
    .description("import network state written for older flannel into the v3 keyspace")
    .addCommand(
      new Command("v2")
        .description(
          "copy flannel's v2-API keyspace (config, leases with their remaining TTL, reservations) into v3, never overwriting",
        )
        .option("--from <endpoints>", "read the v2 keyspace from these endpoints (default: --endpoints)")
        .option("--v2-prefix <prefix>", "the v2 key prefix flanneld used (default: --prefix)")
        .option("--dry-run", "report what would be written and write nothing")
        .addOption(
          new Option(
            "--prefer <side>",
            "when the configs differ: keep v3's, or replace it by v2's (a diff is shown)",
          )
            .choices(["v2", "v3"])
            .default("v3"),
        )
        .option(
          "--allow-disruption",
          "with --prefer v2: replace the v3 config even when that orphans v3 leases or changes their data plane",
        )
        .addHelpText(
          "after",
          `
Every write is create-if-absent; a v3 config or lease that differs is reported as a conflict and
kept (only the config can be replaced, with --prefer v2, guarded by the revision read). A second
run writes nothing. Exit 0 when done, 1 with conflicts, 3 when the v2 config is not valid.`,
        )
        .action(
          withContext(async (ctx, flags: V2Flags) => {
            const endpoints = flags.from?.split(",") ?? ctx.globals.connection.endpoints;
            if (flags.from !== undefined && endpoints.every((e) => e.trim() === "")) {
              throw new PodnetError("usage", "--from needs an endpoint, like 127.0.0.1:2379");
            }
            const store = await ctx.store(); // first: a missing password is asked for once, here
            const v2 = await readV2Keyspace(
              { ...(await ctx.connection()), endpoints },
              flags.v2Prefix ?? ctx.globals.prefix,
            );
            const prefix = ctx.globals.prefix;
            const { config: v3Config } = await readConfig(store, prefix);
            const { value: v3Subnets } = await store.list(subnetsPrefix(prefix));
            const plan = planV2Migration({
              prefix,
              v2,
              v3Config,
              v3Subnets,
              preferV2: flags.prefer === "v2",
              allowDisruption: flags.allowDisruption === true,
            });
            const src = {
              endpoint: v2.endpoint,
              v2Prefix: v2.prefix,
              prefix,
              dryRun: flags.dryRun === true,
              showSecrets: ctx.globals.showSecrets,
            };
            if (!plan.valid) {
              await ctx.print(invalidV2Result(plan, src, ctx.colours));
              return EXIT.invalid;
            }
            const done =
              flags.dryRun === true
                ? plan
                : await applyV2Migration(store, plan, { readAtMs: v2.readAtMs, nowMs: Date.now });
            await ctx.print(migrationResult(done, src, ctx.colours));
            return migrationCounts(done).conflicts > 0 ? EXIT.failed : EXIT.ok;
          }),
        ),
    );
}
