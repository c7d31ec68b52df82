/**
 * `podnet doctor` on the terminal: its checks grouped by section, one aligned line each
 * (`ok`, `warn`, `fail`, `skip`), a count at the end; and the stable JSON form.
 */
import type { Palette } from "./colour.js";

/** The verdict of one check. */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** One line of the doctor's report. */
export interface Check {
  /** `etcd`, `config`, `leases` or `host`. */
  readonly section: string;
  /** What was checked: an endpoint, `leader`, `valid`, `device`, ... */
  readonly name: string;
  readonly status: CheckStatus;
  /** One sentence: what was found, or why it was skipped. */
  readonly detail: string;
}

/** Whether the report passes: no failure, and with `strict` no warning either. */
export function doctorPassed(checks: readonly Check[], strict: boolean): boolean {
  return !checks.some((c) => c.status === "fail" || (strict && c.status === "warn"));
}

/** The stable machine form (-o json, -o yaml): `{ok, checks: [{section, name, status, detail}]}`. */
export function doctorData(checks: readonly Check[], strict: boolean) {
  return {
    ok: doctorPassed(checks, strict),
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

/** `20 kB`, `1.5 MB`: etcd's database size as admins read it. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

/** An etcd member id in hex, as etcdctl prints it. */
export function memberHex(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}
