import type { Store } from "@podnet/ipam-core";
import {
  distinctSecretMarks,
  readConfig,
  readConfigImpact,
  redactConfigText,
  type ValidateOptions,
  validateConfigText,
  writeConfig,
} from "@podnet/netcfg";
import type { Context } from "../../context.js";
import { EXIT } from "../../exit.js";
import { diagnosticsData, formatDiagnostics } from "../../print/diagnostics.js";
import { formatImpact, refusalLine } from "../../print/impact.js";
import { errorLine, stderrText } from "../../print/stderr.js";
import { unifiedDiff } from "../../print/text-diff.js";

/** How a new document should be written. */
export interface ApplyRequest {
  /** Where the document came from, for the diff header. */
  readonly source: string;
  readonly text: string;
  readonly dryRun: boolean;
  /** Write only if the stored document is at this revision (0: absent); default: as read now. */
  readonly expectRevision?: number;
  readonly strict?: boolean;
  readonly validate?: ValidateOptions;
  /** Write even when the change orphans live leases or changes the running data plane. */
  readonly allowDisruption?: boolean;
}

/**
 * Validates a document, shows the diff against etcd, and writes it with a compare on the
 * revision it read, so that a concurrent change is never overwritten. Shared by
 * `config set`, `config rollback` and `ifconfig`'s setting form.
 */
export async function applyDocument(ctx: Context, store: Store, req: ApplyRequest): Promise<number> {
  const result = validateConfigText(req.text, req.validate);
  const failed = !result.valid || (req.strict === true && result.warnings.length > 0);
  if (failed) {
    const diagnostics = [...result.errors, ...(req.strict ? result.warnings : [])];
    if (ctx.globals.output === "json") {
      await ctx.print({
        data: { written: false, valid: false, errors: diagnosticsData(diagnostics) },
        human: () => "",
      });
    } else {
      stderrText(`${formatDiagnostics(diagnostics, ctx.colours)}\n`);
      errorLine(`${req.source} is not a valid network config; nothing was written`);
    }
    return EXIT.invalid;
  }
  if (result.warnings.length > 0 && ctx.globals.output !== "json") {
    stderrText(`${formatDiagnostics(result.warnings, ctx.colours)}\n`);
  }
  const { config: current } = await readConfig(store, ctx.globals.prefix);
  const key = current?.key ?? `${ctx.globals.prefix}/config`;
  const currentRevision = current?.modRevision ?? 0;
  const expect = req.expectRevision ?? currentRevision;
  const mark = distinctSecretMarks();
  const shown = (text: string) => (ctx.globals.showSecrets ? text : redactConfigText(text, mark));
  const diff = unifiedDiff(
    current ? `${key}@${current.modRevision}` : `${key} (absent)`,
    shown(current?.text ?? ""),
    req.source,
    shown(req.text),
    ctx.colours,
  );
  const unchanged = current !== undefined && current.text === req.text;
  const impact =
    unchanged || result.resolved === undefined
      ? undefined
      : await readConfigImpact(store, ctx.globals.prefix, result.resolved);
  const refused = impact?.disruptive === true && req.allowDisruption !== true;
  let revision: number | undefined;
  if (!unchanged && !req.dryRun && !refused) {
    revision = await writeConfig(store, ctx.globals.prefix, req.text, expect);
  }
  await ctx.print({
    data: {
      key,
      written: revision !== undefined,
      dryRun: req.dryRun,
      unchanged,
      previousRevision: current?.modRevision ?? null,
      revision: revision ?? current?.modRevision ?? null,
      warnings: diagnosticsData(result.warnings),
      diff,
      impact: impact ?? null,
      refused,
    },
    human: () => {
      if (unchanged)
        return `${key} already holds this document (revision ${currentRevision}); nothing to write`;
      const verdict = refused
        ? refusalLine(req.dryRun)
        : req.dryRun
          ? `dry run: ${key} would change as above; nothing was written`
          : `wrote ${key} at revision ${revision}`;
      const impactText = impact ? `\n${formatImpact(impact, ctx.colours)}` : "";
      return `${diff}${impactText}\n${verdict}`;
    },
    rows: () => [
      [
        key,
        String(revision ?? current?.modRevision ?? ""),
        unchanged ? "unchanged" : refused ? "refused" : req.dryRun ? "dry-run" : "written",
      ],
    ],
  });
  // a dry run answers like the real run would: 1 when the change would be refused
  return refused ? EXIT.failed : EXIT.ok;
}
