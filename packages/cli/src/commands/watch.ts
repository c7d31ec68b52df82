import { type LeaseEvent, type LeaseWatch, PodnetError, watchLeases } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../context.js";
import { errorLine } from "../print/stderr.js";
import { note } from "../print/warn.js";
import {
  errorRateLimiter,
  eventLine,
  snapshotLine,
  type WatchLine,
  watchTime,
  writeWatchLine,
} from "../print/watch.js";

interface WatchFlags {
  rev?: string;
  snapshot: boolean;
  prefixOnlyLeases?: boolean;
}

/** At most one retry error per this long on stderr while etcd is away. */
const ERROR_INTERVAL_MS = 5000;

function revFlag(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new PodnetError("usage", `--rev "${text}" is not an etcd revision (a whole number from 1)`);
  }
  return Number(text);
}

/**
 * `podnet watch`: the current leases, then every change as it happens, until SIGINT or
 * SIGTERM. The watcher resumes across etcd restarts and compaction without losing or
 * repeating events; retry errors go to stderr, rate-limited.
 */
export function watchCommand(): Command {
  return new Command("watch")
    .description(
      "print the leases, then every lease event (added, changed, removed, expired) as it happens; Ctrl-C stops",
    )
    .option("--rev <revision>", "start at this etcd revision (the snapshot is the leases just before it)")
    .option("--no-snapshot", "do not print the current leases first")
    .option("--prefix-only-leases", "print lease events only: no lines for foreign keys or damaged values")
    .addHelpText(
      "after",
      "\nHuman lines: TIME TYPE SUBNET PUBLIC-IP BACKEND VTEP-MAC [(expired)|(deleted)]; TYPE is snapshot,\n" +
        "added, changed, removed, foreign or damaged. -o json prints one object per line:\n" +
        "{time, type, subnet, key, publicIP, backendType, vtepMAC, revision, expired?, reason?};\n" +
        "-o yaml the same as one YAML document per event, each starting with ---; -o simple tab-separated fields.",
    )
    .action(
      withContext(async (ctx, flags: WatchFlags) => {
        const fromRevision = flags.rev === undefined ? undefined : revFlag(flags.rev);
        const format = ctx.globals.output;
        const yaml = format === "yaml" ? (await import("../print/yaml.js")).toYaml : undefined;

        let stopRequested!: () => void;
        const stopped = new Promise<void>((resolve) => {
          stopRequested = resolve;
        });
        const onSignal = () => stopRequested();
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        // A closed pipe (`podnet watch | head`) ends the watch like a signal, not with a stack trace.
        const onStdoutError = () => stopRequested();
        process.stdout.on("error", onStdoutError);

        const write = (line: WatchLine) => {
          if (flags.prefixOnlyLeases && (line.type === "foreign" || line.type === "damaged")) return;
          writeWatchLine(line, format, ctx.colours, yaml);
        };
        const limiter = errorRateLimiter(ERROR_INTERVAL_MS);
        let watch: LeaseWatch | undefined;
        try {
          const store = await ctx.store();
          watch = await watchLeases(
            store,
            ctx.globals.prefix,
            {
              snapshot: (listing) => {
                if (!flags.snapshot) return;
                const time = watchTime(new Date());
                for (const lease of listing.leases) write(snapshotLine(lease, listing.revision, time));
              },
              events: (events: LeaseEvent[]) => {
                const time = watchTime(new Date());
                for (const event of events) write(eventLine(event, time));
              },
              error: (err) => {
                const line = limiter.line(`watch: ${err.message.split("\n")[0]}; retrying`);
                if (line !== undefined) errorLine(line);
              },
            },
            fromRevision === undefined ? {} : { fromRevision },
          );
          if (process.stderr.isTTY) {
            note(`watching ${ctx.globals.prefix}/subnets/ after revision ${watch.revision}; Ctrl-C stops`);
          }
          await stopped;
        } finally {
          await watch?.stop();
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          process.stdout.off("error", onStdoutError);
        }
        return undefined;
      }),
    );
}
