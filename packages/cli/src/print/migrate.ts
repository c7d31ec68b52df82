import type { InvalidV2Config, LeaseStep, V2MigrationPlan } from "@podnet/netcfg";
import { distinctSecretMarks, migrationCounts, redactConfigText } from "@podnet/netcfg";
import type { Palette } from "./colour.js";
import { diagnosticsData, formatDiagnostics } from "./diagnostics.js";
import { formatImpact } from "./impact.js";
import type { Result } from "./output.js";
import { table } from "./table.js";
import { unifiedDiff } from "./text-diff.js";

/** Where a migration read from and wrote to, for its report. */
export interface MigrationSource {
  readonly endpoint: string;
  readonly v2Prefix: string;
  readonly prefix: string;
  readonly dryRun: boolean;
  /** `--show-secrets`: the config diff shows secrets in clear. */
  readonly showSecrets: boolean;
}

/** The report of `podnet migrate v2`: summary table, the lines worth reading, `-o json` for scripts. */
export function migrationResult(plan: V2MigrationPlan, src: MigrationSource, colours: Palette): Result {
  const counts = migrationCounts(plan);
  const { config } = plan;
  // the same secret gets the same mark in both texts, so a changed one shows as a changed line
  const marks = distinctSecretMarks();
  const shown = (text: string) => (src.showSecrets ? text : redactConfigText(text, marks));
  const diff =
    config.v3Text !== undefined && config.v3Text !== config.text
      ? unifiedDiff(
          `v3 ${config.key}@${config.v3Revision}`,
          shown(config.v3Text),
          `v2 ${src.v2Prefix}/config`,
          shown(config.text),
          colours,
        )
      : "";
  const leases = plan.leases.map(leaseData);
  const wrote =
    plan.config.status === "migrated" ||
    plan.config.status === "replaced" ||
    leases.some((l) => l.status === "migrated");
  return {
    data: {
      ...header(src),
      written: wrote,
      counts,
      config: {
        key: config.key,
        status: config.status,
        revision: config.revision ?? config.v3Revision ?? null,
        ...(diff !== "" && { diff }),
        ...(config.impact !== undefined && { impact: config.impact }),
      },
      leases,
      skipped: plan.skipped,
      warnings: diagnosticsData(plan.warnings),
    },
    human: () => {
      const lines = [
        `v2 ${src.v2Prefix} on ${src.endpoint} -> v3 ${src.prefix}${src.dryRun ? " (dry run)" : ""}`,
      ];
      if (plan.warnings.length > 0) lines.push(formatDiagnostics(plan.warnings, colours));
      if (config.status === "conflict") {
        lines.push(
          colours.red(
            `conflict: ${config.key} in v3 differs from v2's config; kept v3's (--prefer v2 replaces it):`,
          ),
          diff,
        );
      } else if (config.status === "refused") {
        lines.push(
          colours.red(
            `refused: replacing ${config.key} by v2's config disrupts hosts on v3 (see the impact below); kept v3's; --allow-disruption replaces it anyway:`,
          ),
          diff,
        );
      } else if (diff !== "") {
        const verb = config.status === "replaced" ? "replaced" : "would replace";
        lines.push(
          `${verb} ${config.key} (revision ${config.v3Revision}) by v2's config (--prefer v2):`,
          diff,
        );
      }
      if (config.impact !== undefined) lines.push(formatImpact(config.impact, colours));
      for (const l of plan.leases) {
        if (l.status === "conflict")
          lines.push(
            colours.red(`conflict: ${l.subnet} (PublicIP ${l.publicIP}): ${l.reason}; v3 kept as it is`),
          );
        if (l.status === "expired")
          lines.push(
            colours.yellow(`expired: ${l.subnet} (PublicIP ${l.publicIP}): ${l.reason}; not migrated`),
          );
      }
      for (const s of plan.skipped) lines.push(colours.yellow(`skipped ${s.kind}: ${s.v2Key}: ${s.reason}`));
      const leaseCount = (status: LeaseStep["status"][]) =>
        plan.leases.filter((l) => status.includes(l.status)).length;
      const configCell = (status: string[]) => (status.includes(config.status) ? "1" : "0");
      const migratedHead = src.dryRun ? "WOULD MIGRATE" : "MIGRATED";
      lines.push(
        "",
        table(
          ["", migratedHead, "ALREADY PRESENT", "CONFLICTS", "SKIPPED", "EXPIRED"],
          [
            [
              "config",
              configCell(["migrate", "migrated", "replace", "replaced"]),
              configCell(["present"]),
              configCell(["conflict", "refused"]),
              "-",
              "-",
            ],
            [
              "leases",
              String(leaseCount(["migrate", "migrated"])),
              String(leaseCount(["present"])),
              String(leaseCount(["conflict"])),
              String(plan.skipped.length),
              String(leaseCount(["expired"])),
            ],
          ],
        ),
        "",
        verdict(plan, src.dryRun, wrote, counts.conflicts),
      );
      return lines.join("\n");
    },
    rows: () => [
      ["config", config.key, config.status],
      ...plan.leases.map((l) => [
        l.subnet,
        l.publicIP,
        l.status,
        l.ttlSeconds === null ? "reservation" : String(l.ttlSeconds),
      ]),
      ...plan.skipped.map((s) => [s.v2Key, "", `skipped-${s.kind}`]),
    ],
  };
}

/** The report of a v2 config that is not valid: the validator's diagnostics; nothing was written. */
export function invalidV2Result(invalid: InvalidV2Config, src: MigrationSource, colours: Palette): Result {
  return {
    data: {
      ...header(src),
      written: false,
      valid: false,
      errors: diagnosticsData(invalid.errors),
      warnings: diagnosticsData(invalid.warnings),
    },
    human: () =>
      [
        formatDiagnostics([...invalid.errors, ...invalid.warnings], colours),
        `the v2 config at ${src.v2Prefix}/config on ${src.endpoint} is not valid; nothing was written (fix it in v2, or write a valid one with 'podnet config set', then migrate again)`,
      ].join("\n"),
  };
}

function header(src: MigrationSource) {
  return { dryRun: src.dryRun, from: src.endpoint, v2Prefix: src.v2Prefix, prefix: src.prefix };
}

function verdict(plan: V2MigrationPlan, dryRun: boolean, wrote: boolean, conflicts: number): string {
  const pending =
    plan.config.status === "migrate" ||
    plan.config.status === "replace" ||
    plan.leases.some((l) => l.status === "migrate");
  const tail =
    conflicts > 0 ? `; ${conflicts} conflict${conflicts === 1 ? "" : "s"} left as v3 holds them` : "";
  if (dryRun)
    return pending
      ? `dry run: nothing was written${tail}`
      : `dry run: nothing to write, v3 already holds everything${tail}`;
  return wrote
    ? `migration written${tail}`
    : `nothing written: v3 already holds everything the v2 keyspace has${tail}`;
}

function leaseData(l: LeaseStep) {
  return {
    status: l.status,
    key: l.key,
    v2Key: l.v2Key,
    subnet: l.subnet,
    publicIP: l.publicIP,
    reservation: l.ttlSeconds === null,
    ttlSeconds: l.ttlSeconds,
    reencoded: l.reencoded,
    ...(l.reason !== undefined && { reason: l.reason }),
  };
}
