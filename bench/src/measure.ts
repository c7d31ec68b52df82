/** Small, dependency-free measuring helpers shared by the benchmarks. */
import { spawnSync } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** The q-quantile (0..1) of some numbers, linearly interpolated; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (at - lo);
}

/** Quick mode (PODNET_BENCH_QUICK=1): fewer keys and pairs, so a whole run fits in a few minutes. */
export const QUICK = process.env["PODNET_BENCH_QUICK"] === "1";

/** Measured pairs after the warm-up pair (PODNET_BENCH_PAIRS; at least 7). */
export const PAIRS = Math.max(7, Number(process.env["PODNET_BENCH_PAIRS"] ?? (QUICK ? 7 : 9)));

/** The machine's load right now: 1-minute load average and the cores there are. */
export function machineLoad(): { load1: number; nproc: number } {
  return { load1: loadavg()[0] ?? Number.NaN, nproc: availableParallelism() };
}

/** The pair-by-pair ratios of one comparison and their spread. */
export interface Paired {
  /** Median of podnet's own samples and of the baseline's (for orientation only). */
  readonly podnet: number;
  readonly baseline: number;
  /** Median of the per-pair ratios podnet/baseline. */
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  readonly ratioQ1: number;
  readonly ratioQ3: number;
  readonly pairs: number;
}

/** Summarizes matched samples (podnet[i] beside baseline[i]) into pair-by-pair ratios. */
export function pairedOf(podnet: readonly number[], baseline: readonly number[]): Paired {
  const n = Math.min(podnet.length, baseline.length);
  const ratios = Array.from({ length: n }, (_, i) => (podnet[i] ?? 0) / (baseline[i] ?? 1));
  return {
    podnet: median(podnet.slice(0, n)),
    baseline: median(baseline.slice(0, n)),
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    ratioQ1: quantile(ratios, 0.25),
    ratioQ3: quantile(ratios, 0.75),
    pairs: n,
  };
}

/**
 * Runs podnet's sample and the baseline's alternately (A B A B ...): one warm-up pair, then
 * `pairs` measured pairs, the order inside each pair flipping every time so neither side
 * always runs first. Each function returns its measured number (ms, ops/s, MB ...).
 */
export async function alternate(
  podnet: () => Promise<number> | number,
  baseline: () => Promise<number> | number,
  pairs = PAIRS,
): Promise<{ podnet: number[]; baseline: number[] }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = -1; i < pairs; i++) {
    const podnetFirst = i % 2 === 0;
    let pa: number;
    let pb: number;
    if (podnetFirst) {
      pa = await podnet();
      pb = await baseline();
    } else {
      pb = await baseline();
      pa = await podnet();
    }
    if (i >= 0) {
      a.push(pa);
      b.push(pb);
    }
  }
  return { podnet: a, baseline: b };
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

/** One reported figure: podnet's median beside its baseline's, with the pair-by-pair ratios (for rates, higher is better). */
export interface Figure extends Paired {
  readonly bench: string;
  readonly what: string;
  readonly baselineName: string;
  readonly unit: string;
  readonly aim: string;
  readonly note?: string;
}

type FigureBase = Omit<Figure, keyof Paired>;

/**
 * Builds a figure from paired samples, or (for benchmarks that do not pair their runs yet)
 * from one podnet and one baseline number: then the spread is that one ratio and `pairs` 0.
 */
export function figure(
  f: (FigureBase & { paired: Paired }) | (FigureBase & { podnet: number; baseline: number; ratio?: number }),
): Figure {
  if ("paired" in f) {
    const { paired, ...rest } = f;
    return { ...rest, ...paired };
  }
  const ratio = f.ratio ?? f.podnet / f.baseline;
  return { ...f, ratio, ratioMin: ratio, ratioMax: ratio, ratioQ1: ratio, ratioQ3: ratio, pairs: 0 };
}

/** A figure that could not be measured (the reason in `note`). */
export function failedFigure(f: Omit<Figure, keyof Paired> & { note: string }): Figure {
  const nan = Number.NaN;
  return {
    ...f,
    podnet: nan,
    baseline: nan,
    ratio: nan,
    ratioMin: nan,
    ratioMax: nan,
    ratioQ1: nan,
    ratioQ3: nan,
    pairs: 0,
  };
}
