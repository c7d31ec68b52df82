/**
 * Waiting on observable state instead of sleeping: poll a condition (an etcd key, a line a
 * process printed, a kernel entry, a file) until it holds, or fail naming what never came.
 */
import { inspect } from "node:util";

/** How long and how often waitFor polls, and what the failure names. */
export interface WaitOptions {
  /** Give up after this long (default 20 s, below vitest's 30 s test timeout). */
  timeoutMs?: number;
  /** Pause between attempts (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, for the failure message ("the lease key deleted"). */
  what?: string;
}

/** The values a condition returns that end the wait. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | "" | null | undefined>;

const givenUp = new WeakSet<Error>();

/** A giveUp() sentence, to be prefixed with what was awaited. */
class GaveUp extends Error {}

/**
 * Thrown from a condition to end the wait at once: the awaited state can no longer come. A
 * sentence fails the wait naming what it waited for; an Error is rethrown as it is (its class kept).
 */
export function giveUp(reason: string | Error): never {
  const err = reason instanceof Error ? reason : new GaveUp(reason);
  givenUp.add(err);
  throw err;
}

const TIMED_OUT = Symbol("podnet.waitFor.timedOut");

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const describe = (v: unknown): string =>
  v === TIMED_OUT
    ? "attempt was still running"
    : v instanceof Error
      ? `error: ${v.message}`
      : `value: ${inspect(v, { depth: 4, breakLength: Infinity })}`;

/**
 * Polls `condition` until it returns (or resolves to) a truthy value and returns that value.
 * An attempt that throws counts as "not yet"; on timeout the error names `what` and the last
 * value or error seen. A condition that calls giveUp() fails the wait at once.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Truthy<Awaited<T>>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const what = opts.what ?? "the condition";
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<typeof TIMED_OUT>((r) => {
      timer = setTimeout(() => r(TIMED_OUT), Math.max(0, deadline - Date.now()));
    });
    try {
      // An attempt that hangs must not outlive the deadline.
      const v = await Promise.race([Promise.resolve().then(condition), outOfTime]);
      if (v && v !== TIMED_OUT) return v as Truthy<Awaited<T>>;
      last = v;
    } catch (e) {
      if (e instanceof Error && givenUp.has(e)) {
        throw e instanceof GaveUp ? new Error(`gave up waiting for ${what}: ${e.message}`) : e;
      }
      last = e;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}; last ${describe(last)}`,
      );
    }
    await pause(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
