/**
 * Cleaning up after `ipam check`: deletes the keys a report names, each only if it is still
 * exactly as the report saw it: the same revision, value and etcd lease, and not renewed
 * since (its expiry no later than the report saw). One key per transaction, so one changed
 * key never blocks the others. A reservation is never deleted here.
 */
import { createHash } from "node:crypto";
import type { Finding, FindingKind } from "./analysis.js";
import { LEASE_FINDING_KINDS, RELEASABLE_KINDS } from "./analysis.js";
import { PodnetError } from "./errors.js";
import type { Compare, Store } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import type { LeaseListing } from "./lease.js";
import { revokeUnlessRidden } from "./lease-revoke.js";
import { deleteLanded, guardedWrite } from "./lost-answer.js";

/** One key to delete if it is still as the report saw it. */
export interface CleanupTarget {
  readonly key: string;
  readonly modRevision: number;
  /** The etcd lease the key was on ("0": none). */
  readonly etcdLease?: string;
  /** When that etcd lease was due to expire (ISO 8601); a later expiry now means it was renewed. */
  readonly expiresAt?: string;
  /** SHA-256 (hex) of the value the report saw. */
  readonly valueSha256?: string;
  /** What the report found; a reservation among the lease kinds is never deleted. */
  readonly kind?: FindingKind;
}

/** What happened to one target. */
export type CleanupStatus =
  /** Deleted. */
  | "deleted"
  /** Dry run: it is unchanged and would be deleted. */
  | "would-delete"
  /** Skipped: the key was modified (value or etcd lease) after the report; `currentModRevision` says when. */
  | "changed"
  /** Skipped: its etcd lease was renewed after the report (its host is alive). */
  | "renewed"
  /** Skipped: the key is a reservation (only `lease unreserve` deletes one). */
  | "reservation"
  /** Skipped: the key is on a live etcd lease but the report does not say when that was due to expire. */
  | "unverified"
  /** Skipped: the key no longer exists. */
  | "gone";

/** The outcome for one target, in the order the targets were given. */
export interface CleanupOutcome<T extends CleanupTarget = CleanupTarget> {
  readonly target: T;
  readonly status: CleanupStatus;
  readonly currentModRevision?: number;
  /** For a deleted key: the etcd lease it was on (absent: none, or etcd did not answer the revoke). */
  readonly etcdLease?: string;
  /** With `etcdLease`: whether it was revoked (false: another key rides on it; it expires with its TTL). */
  readonly etcdLeaseRevoked?: boolean;
}

/** How many keys are handled at once. */
const CONCURRENCY = 16;
/**
 * etcd reports remaining TTLs in whole seconds (rounded down), so an expiry worked out from
 * one is up to a second early; two such readings of an unrenewed lease differ by less than this.
 */
const EXPIRY_SLACK_MS = 1500;

/** SHA-256 (hex) of a stored value, as a report records it. */
export function valueDigest(value: string | Uint8Array): string {
  return createHash("sha256").update(value).digest("hex");
}

/**
 * Binds a check's findings to what a release must find again: for each releasable finding,
 * its key's etcd lease, value digest and (for a live etcd lease) when it was due to expire,
 * from `ttls` (remaining seconds by etcd lease id, -1 when gone) read at `now`.
 */
export function bindFindings(
  findings: readonly Finding[],
  listing: LeaseListing,
  ttls: ReadonlyMap<string, number>,
  now: Date,
): Finding[] {
  const entries = new Map<string, { etcdLease: string; value?: string }>();
  for (const l of listing.leases) entries.set(l.key, l);
  for (const d of listing.damaged) entries.set(d.key, d);
  for (const f of listing.foreign) entries.set(f.key, f);
  return findings.map((f) => {
    if (!RELEASABLE_KINDS.includes(f.kind) || f.key === undefined) return f;
    const entry = entries.get(f.key);
    if (entry === undefined) return f;
    const ttl = entry.etcdLease === "0" ? undefined : ttls.get(entry.etcdLease);
    return {
      ...f,
      etcdLease: entry.etcdLease,
      ...(entry.value !== undefined && { valueSha256: valueDigest(entry.value) }),
      ...(ttl !== undefined && {
        expiresAt: new Date(now.getTime() + Math.max(0, ttl) * 1000).toISOString(),
      }),
    };
  });
}

/** The etcd lease ids a report's releasable findings are on, whose TTLs {@link bindFindings} needs. */
export function leasesToBind(findings: readonly Finding[], listing: LeaseListing): string[] {
  const wanted = new Set(
    findings.filter((f) => RELEASABLE_KINDS.includes(f.kind) && f.key !== undefined).map((f) => f.key),
  );
  const ids = new Set<string>();
  for (const e of [...listing.leases, ...listing.damaged, ...listing.foreign]) {
    if (wanted.has(e.key) && e.etcdLease !== "0") ids.add(e.etcdLease);
  }
  return [...ids];
}

/**
 * Deletes each target key under `<prefix>/subnets/` only if it is still as the report saw it
 * (see the file comment). Never deletes anything else: a target outside the prefix is a
 * usage error before anything is touched. With `dryRun`, reads each key and deletes nothing.
 */
export async function deleteUnchanged<T extends CleanupTarget>(
  store: Store,
  prefix: string,
  targets: readonly T[],
  opts: { dryRun?: boolean; now?: () => number } = {},
): Promise<CleanupOutcome<T>[]> {
  const dir = subnetsPrefix(prefix);
  const outside = targets.find((t) => !t.key.startsWith(dir));
  if (outside !== undefined) {
    throw new PodnetError("usage", `refusing to delete ${outside.key}: it is not under ${dir}`);
  }
  const now = opts.now ?? Date.now;
  const outcomes: CleanupOutcome<T>[] = new Array(targets.length);
  const one = async (target: T): Promise<CleanupOutcome<T>> => {
    const { value: kv } = await store.get(target.key);
    if (kv === undefined) return { target, status: "gone" };
    const changed = { target, status: "changed", currentModRevision: kv.modRevision } as const;
    if (kv.modRevision !== target.modRevision) return changed;
    if (target.etcdLease !== undefined && kv.lease !== target.etcdLease) return changed;
    if (target.valueSha256 !== undefined && valueDigest(kv.value) !== target.valueSha256) return changed;
    if (kv.lease === "0" && target.kind !== undefined && LEASE_FINDING_KINDS.includes(target.kind)) {
      return { target, status: "reservation" };
    }
    // Without the expiry the report saw, a renewal since (which keeps the revision) cannot be ruled out.
    if (target.expiresAt === undefined && kv.lease !== "0") return { target, status: "unverified" };
    if (target.expiresAt !== undefined && kv.lease !== "0") {
      const ttl = await store.timeToLive(kv.lease);
      if (ttl > 0 && now() + ttl * 1000 > Date.parse(target.expiresAt) + EXPIRY_SLACK_MS) {
        return { target, status: "renewed" };
      }
    }
    if (opts.dryRun) return { target, status: "would-delete" };
    const compares: Compare[] = [
      { key: target.key, modRevision: kv.modRevision },
      { key: target.key, lease: kv.lease },
    ];
    // A key deleted (not expired) just now: our delete landed, even if its answer was lost.
    const res = await guardedWrite(
      () => store.txn(compares, [{ delete: target.key }]),
      () => deleteLanded(store, target.key, kv.lease),
    );
    if (res.kind !== "lost") {
      // Its etcd lease now carries nothing, unless another key rides on it: revoke it rather
      // than leave it for its TTL (a day for flannel's). The delete stands whatever this says.
      const revoked = await revokeUnlessRidden(store, kv.lease).catch(() => undefined);
      return {
        target,
        status: "deleted",
        ...(revoked !== undefined && kv.lease !== "0" && { etcdLease: kv.lease, etcdLeaseRevoked: revoked }),
      };
    }
    const { value: after } = await store.get(target.key);
    return after === undefined
      ? { target, status: "gone" }
      : { target, status: "changed", currentModRevision: after.modRevision };
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
