/**
 * Cleaning up after `ipam check`: deletes the keys a report names, each only if it is still
 * exactly as the report saw it (a transaction comparing its modification revision), one key
 * per transaction so one changed key never blocks the others.
 */
import { PodnetError } from "./errors.js";
import type { Store } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";

/** One key to delete if it is still at `modRevision`. */
export interface CleanupTarget {
  readonly key: string;
  readonly modRevision: number;
}

/** What happened to one target. */
export type CleanupStatus =
  /** Deleted. */
  | "deleted"
  /** Dry run: it is unchanged and would be deleted. */
  | "would-delete"
  /** Skipped: the key was modified after the report; `currentModRevision` says when. */
  | "changed"
  /** Skipped: the key no longer exists. */
  | "gone";

/** The outcome for one target, in the order the targets were given. */
export interface CleanupOutcome<T extends CleanupTarget = CleanupTarget> {
  readonly target: T;
  readonly status: CleanupStatus;
  readonly currentModRevision?: number;
}

/** How many keys are handled at once. */
const CONCURRENCY = 16;

/**
 * Deletes each target key under `<prefix>/subnets/` only if its modification revision is
 * still the given one. Never deletes anything else: a target outside the prefix is a usage
 * error before anything is touched. With `dryRun`, reads each key and deletes nothing.
 */
export async function deleteUnchanged<T extends CleanupTarget>(
  store: Store,
  prefix: string,
  targets: readonly T[],
  opts: { dryRun?: boolean } = {},
): Promise<CleanupOutcome<T>[]> {
  const dir = subnetsPrefix(prefix);
  const outside = targets.find((t) => !t.key.startsWith(dir));
  if (outside !== undefined) {
    throw new PodnetError("usage", `refusing to delete ${outside.key}: it is not under ${dir}`);
  }
  const outcomes: CleanupOutcome<T>[] = new Array(targets.length);
  const current = async (target: T): Promise<CleanupOutcome<T>> => {
    const { value: kv } = await store.get(target.key);
    if (kv === undefined) return { target, status: "gone" };
    if (kv.modRevision !== target.modRevision) {
      return { target, status: "changed", currentModRevision: kv.modRevision };
    }
    return { target, status: opts.dryRun ? "would-delete" : "changed", currentModRevision: kv.modRevision };
  };
  const one = async (target: T): Promise<CleanupOutcome<T>> => {
    if (opts.dryRun) return current(target);
    const res = await store.txn(
      [{ key: target.key, modRevision: target.modRevision }],
      [{ delete: target.key }],
    );
    if (res.succeeded) return { target, status: "deleted" };
    return current(target);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < targets.length; i = next++) {
      const target = targets[i];
      if (target !== undefined) outcomes[i] = await one(target);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, worker));
  return outcomes;
}
