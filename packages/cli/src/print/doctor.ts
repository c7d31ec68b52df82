/**
 * `podnet doctor` on the terminal: its checks grouped by section, one aligned line each
 * (`ok`, `warn`, `fail`, `skip`), a count at the end; and the stable JSON form.
 */

import { type Check, type CheckStatus, doctorPassed } from "@podnet/netcfg";
import type { Palette } from "./colour.js";

export type { Check, CheckStatus };
export { doctorPassed };

/**
 * The stable machine form (-o json, -o yaml): `{ok, revision, checks: [{section, name, status, detail}]}`,
 * `revision` the one the config and the leases were read at (null when etcd could not be read).
 */
export function doctorData(checks: readonly Check[], strict: boolean, revision: number | null) {
  return {
    ok: doctorPassed(checks, strict),
    revision,
    checks: checks.map((c) => ({ section: c.section, name: c.name, status: c.status, detail: c.detail })),
  };
}

/** The tab-separated rows (-o simple): section, name, status, detail. */
export function doctorRows(checks: readonly Check[]): string[][] {
  return checks.map((c) => [c.section, c.name, c.status, c.detail]);
}

/** The human report: sections in order, aligned names, coloured verdicts, and the counts. */
export function formatDoctor(checks: readonly Check[], colours: Palette): string {
  const width = Math.max(0, ...checks.map((c) => c.name.length));
  const paint: Record<CheckStatus, (t: string) => string> = {
    ok: colours.green,
    warn: colours.yellow,
    fail: colours.red,
    skip: colours.dim,
  };
  const lines: string[] = [];
  let section: string | undefined;
  for (const c of checks) {
    if (c.section !== section) {
      section = c.section;
      lines.push(colours.bold(section));
    }
    lines.push(`  ${paint[c.status](c.status.padEnd(4))}  ${c.name.padEnd(width)}  ${c.detail}`.trimEnd());
  }
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  lines.push(
    "",
    `${count("ok")} ok, ${plural(count("warn"), "warning")}, ${plural(count("fail"), "failure")}, ${count("skip")} skipped`,
  );
  return lines.join("\n");
}
