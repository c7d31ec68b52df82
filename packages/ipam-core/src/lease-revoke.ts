/**
 * Revoking an etcd lease after its lease key is gone. Revoking deletes every key attached to
 * the etcd lease, so it is revoked only when etcd says no key rides on it any more: a damaged
 * or foreign key, or one outside the prefix written by another tool, keeps it, and it then
 * expires with its TTL. etcd is asked (LeaseTimeToLive with keys), not a listing of the
 * prefix, which cannot see keys elsewhere.
 */
import type { Store } from "./etcd/store.js";

/** Revokes etcd lease `id` unless a key is still attached to it; says whether it did. "0" (no lease) is never revoked. */
export async function revokeUnlessRidden(store: Store, id: string): Promise<boolean> {
  if (id === "0") return false;
  if ((await store.leaseKeys(id)).length > 0) return false;
  await store.revoke(id);
  return true;
}
