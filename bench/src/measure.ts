/** Small, dependency-free measuring helpers shared by the benchmarks. */
import { spawnSync } from "node:child_process";

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Wall time of one child process in milliseconds; throws when it fails. */
export function timeCommand(argv: readonly string[], env?: NodeJS.ProcessEnv): number {
  const [cmd, ...args] = argv;
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd ?? "", args, { stdio: ["ignore", "ignore", "pipe"], env: env ?? process.env });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr?.toString().trim()}`);
  return ms;
}

/**
 * Runs each command `rounds` times, interleaved (A B C A B C ...) so that machine noise falls
 * on all of them alike, and returns each one's median.
 */
export function interleaved(
  commands: Record<string, readonly string[]>,
  rounds: number,
): Record<string, number> {
  const samples: Record<string, number[]> = {};
  for (const name of Object.keys(commands)) samples[name] = [];
  for (let i = 0; i < rounds; i++) {
    for (const [name, argv] of Object.entries(commands)) samples[name]?.push(timeCommand(argv));
  }
  return Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, median(s)]));
}

/** One reported figure: podnet's number beside its baseline's. */
export interface Figure {
  readonly bench: string;
  readonly what: string;
  readonly podnet: number;
  readonly baseline: number;
  readonly baselineName: string;
  readonly unit: string;
  /** podnet / baseline for times; baseline / podnet is not used, so lower is better unless noted. */
  readonly ratio: number;
  readonly aim: string;
  readonly note?: string;
}

/** Builds a figure with its ratio. */
export function figure(f: Omit<Figure, "ratio"> & { ratio?: number }): Figure {
  return { ...f, ratio: f.ratio ?? f.podnet / f.baseline };
}
