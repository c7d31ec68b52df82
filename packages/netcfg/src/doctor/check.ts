/**
 * `podnet doctor`'s verdicts as values: each check is one line (a section, what was checked,
 * ok/warn/fail/skip, one sentence). The check functions beside this file are pure; the CLI
 * reads etcd and the kernel, calls them, and prints what they return.
 */

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

/** Collects the checks of one section. */
export class CheckList {
  readonly checks: Check[] = [];
  constructor(readonly section: string) {}
  /** Records one check of this section. */
  add(name: string, status: CheckStatus, detail: string): void {
    this.checks.push({ section: this.section, name, status, detail });
  }
}

/** Whether a report passes: no failure, and with `strict` no warning either. */
export function doctorPassed(checks: readonly Check[], strict: boolean): boolean {
  return !checks.some((c) => c.status === "fail" || (strict && c.status === "warn"));
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

/** `3 leases`, `1 lease`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The first line of an error's message. */
export function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split("\n")[0] ?? text).trim();
}
