/**
 * Waiting and retrying while etcd does not answer: capped exponential backoff that ends early
 * when the agent is stopped, never a rejected promise on stop.
 */
import { isPodnetError } from "@podnet/ipam-core";

/** The first wait after a failure. */
export const BACKOFF_INITIAL_MS = 500;
/** The longest wait between tries. */
export const BACKOFF_MAX_MS = 10_000;

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, retrying PodnetErrors of the given codes (default: etcd
 * unavailable) with capped backoff and a log line each; undefined when stopped meanwhile.
 */
export async function retrying<T>(
  what: string,
  fn: () => Promise<T>,
  ctx: { readonly signal: AbortSignal; log(line: string): void },
  codes: readonly string[] = ["unavailable"],
): Promise<T | undefined> {
  let backoff = BACKOFF_INITIAL_MS;
  while (!ctx.signal.aborted) {
    try {
      return await fn();
    } catch (err) {
      if (!isPodnetError(err) || !codes.includes(err.code)) throw err;
      ctx.log(`cannot ${what} (retrying in ${Math.round(backoff / 100) / 10}s): ${err.message}`);
      await pause(backoff, ctx.signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }
  return undefined;
}
