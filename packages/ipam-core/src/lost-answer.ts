/**
 * A guarded write whose answer was lost: the endpoint pool retries it on another endpoint, and
 * when the first attempt had committed, the retry fails its compare. The compare cannot tell
 * "someone else won" from "we already won"; the key can. These read the key after a failed
 * compare and say whether it is exactly as our write left it, so the caller finishes the job
 * (revokes an old etcd lease, reports success) instead of reporting a race nobody lost.
 */
import { isPodnetError } from "./errors.js";
import type { KeyValue, Store, TxnResult } from "./etcd/store.js";

/** How a guarded write ended: it answered success, it was ours all the same (what `landed` found), or it lost its compare. */
export type GuardedOutcome<T> =
  | { readonly kind: "written"; readonly revision: number }
  | { readonly kind: "landed"; readonly found: T }
  | { readonly kind: "lost" };

/**
 * Runs a guarded write. When it fails its compare, or no endpoint answered (it may have
 * committed all the same), `landed` reads the key and says whether it is as our write left it.
 * Rethrows the "no answer" error unless a read shows the write landed.
 */
export async function guardedWrite<T>(
  write: () => Promise<TxnResult>,
  landed: () => Promise<T | undefined>,
): Promise<GuardedOutcome<T>> {
  let res: TxnResult;
  try {
    res = await write();
  } catch (err) {
    if (!isPodnetError(err, "unavailable")) throw err;
    const found = await landed().catch(() => undefined);
    if (found === undefined) throw err;
    return { kind: "landed", found };
  }
  if (res.succeeded) return { kind: "written", revision: res.revision };
  const found = await landed();
  return found === undefined ? { kind: "lost" } : { kind: "landed", found };
}

/**
 * The key as our put left it, if it holds exactly `value` on `etcdLease` ("0": no etcd lease)
 * and, when given, was created at `createRevision` (it was not deleted and made again since);
 * else undefined. A key equal in all of these is as good as ours whoever wrote it.
 */
export async function putLanded(
  store: Store,
  key: string,
  value: string,
  etcdLease: string,
  createRevision?: number,
): Promise<KeyValue | undefined> {
  const { value: kv } = await store.get(key);
  if (kv === undefined || kv.lease !== etcdLease || kv.value.toString("utf8") !== value) return undefined;
  if (createRevision !== undefined && kv.createRevision !== createRevision) return undefined;
  return kv;
}

/**
 * Whether a delete of `key`, which was on `etcdLease` ("0": none), is done: the key is gone and
 * was deleted rather than expired (its etcd lease still lives, or it had none). A delete by
 * someone else in the same moment counts too: the key is gone, as we wanted.
 */
export async function deleteLanded(store: Store, key: string, etcdLease: string): Promise<true | undefined> {
  const { value: kv } = await store.get(key);
  if (kv !== undefined) return undefined;
  return etcdLease === "0" || (await store.timeToLive(etcdLease)) > 0 ? true : undefined;
}
