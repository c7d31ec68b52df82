import { rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  bindFindings,
  checkLeases,
  configKey,
  type LeaseNetwork,
  type LeaseRegistry,
  type LeaseTable,
  leasesToBind,
  PodnetError,
  REPORT_VERSION,
  type Report,
} from "@podnet/ipam-core";
import {
  checkedConfigOf,
  configNotFoundMessage,
  type NetworkState,
  type ResolvedConfig,
  type StoredConfig,
} from "@podnet/netcfg";
import { Command } from "commander";
import { type Context, withContext } from "../../context.js";
import { checkData, findingRows, formatFindings } from "../../print/ipam.js";
import { note } from "../../print/warn.js";
import type { TtlPrefetch } from "../../ttl-policy.js";
import { readTableAtConfig } from "../lease/lease-context.js";

/** What the ipam commands read: the leases (as a table) and the config at the table's revision. */
export interface IpamState {
  readonly registry: LeaseRegistry;
  /** Every entry under `<prefix>/subnets/`, as columns (no object per lease). */
  readonly table: LeaseTable;
  /** What the config key held at the listing's revision. */
  readonly networkState: NetworkState;
  readonly config?: StoredConfig;
  readonly resolved?: ResolvedConfig;
  /** The ranges of a valid config. */
  readonly network?: LeaseNetwork;
}

/**
 * Reads the config, then scans `<prefix>/subnets/` into a table at that same revision (cut
 * into sub-ranges by the config's network, when valid, so etcd serves them at once).
 * `rows: false` when the view needs no lease as an object (see LeaseTableBuilder).
 */
export async function readIpamState(
  ctx: Context,
  opts: { rows?: boolean; prefetch?: TtlPrefetch | undefined } = {},
): Promise<IpamState> {
  const { registry, table, networkState } = await readTableAtConfig(ctx, opts);
  if (networkState.state === "missing") return { registry, table, networkState };
  if (networkState.state === "invalid") return { registry, table, networkState, config: networkState.config };
  const { config, resolved, network } = networkState;
  return { registry, table, networkState, config, resolved, network };
}

/** The network of a valid config, or a one-sentence error saying what to do. */
export async function requireNetwork(state: IpamState, prefix: string): Promise<LeaseNetwork> {
  const ns = state.networkState;
  if (ns.state === "missing") {
    throw new PodnetError("not-found", configNotFoundMessage(configKey(prefix)));
  }
  if (ns.state === "invalid") {
    throw new PodnetError(
      "failed",
      `the network config at ${ns.key} is invalid: ${ns.problem}; 'podnet ipam check' lists every problem`,
    );
  }
  return ns.network;
}

/** The findings of the stored state, bound to the listing's revision. */
export async function reportOf(state: IpamState, prefix: string, generatedAt: Date): Promise<Report> {
  const config = checkedConfigOf(state.networkState);
  const findings = checkLeases({
    listing: state.table,
    ...(state.network !== undefined && { network: state.network }),
    ...(config !== undefined && { config }),
    configMissing: state.networkState.state === "missing",
    configKey: configKey(prefix),
  });
  return {
    version: REPORT_VERSION,
    prefix,
    revision: state.table.revision,
    generatedAt: generatedAt.toISOString(),
    findings,
  };
}

/** `podnet ipam check`: every problem with the leases and the config; exit 1 when there is any. */
export function checkCommand(): Command {
  return new Command("check")
    .description(
      "find overlapping leases, duplicate PublicIPs, leases out of range or of the wrong length, foreign keys, " +
        "damaged values, backend or VNI different from the config, a missing or invalid config; exit 1 when any",
    )
    .option(
      "--report <file>",
      "also write the findings as JSON, bound to the etcd revision, for 'ipam release --from-report'",
    )
    .action(
      withContext(async (ctx, opts: { report?: string }) => {
        const state = await readIpamState(ctx);
        const report = await reportOf(state, ctx.globals.prefix, new Date());
        if (opts.report !== undefined) {
          // A release must find each key as it was, and not renewed since: record its etcd lease and expiry.
          const store = await ctx.store();
          const listing = state.table.listing();
          const ttls = await store.timeToLiveMany(leasesToBind(report.findings, listing));
          const bound = {
            ...report,
            findings: bindFindings(report.findings, listing, ttls, new Date()),
          };
          await writeReport(opts.report, bound);
          note(
            `wrote ${report.findings.length} finding${report.findings.length === 1 ? "" : "s"} at revision ${report.revision} to ${opts.report}`,
          );
        }
        await ctx.print({
          data: checkData(report),
          human: () => formatFindings(report, state.table),
          rows: () => findingRows(report.findings),
        });
        return report.findings.length > 0 ? 1 : 0;
      }),
    );
}

/** Writes the report atomically (a temporary file, then a rename), so a reader never sees half of it. */
async function writeReport(file: string, report: Report): Promise<void> {
  const tmp = join(dirname(file), `.${process.pid}.podnet-report.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "failed";
    throw new PodnetError(
      "failed",
      `cannot write the report to ${file}: ${code === "ENOENT" ? "no such directory" : code}`,
    );
  }
}
