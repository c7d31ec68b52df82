/**
 * When the views look up TTLs (route, lease list, ipam show's expiring-soon, doctor): etcd has
 * no batch call for them, so each distinct etcd lease costs one LeaseTimeToLive request. Up to
 * TTL_AUTO_MAX distinct leases they are fetched unasked; beyond that only with --ttl, and the
 * view shows `-` (null in json) with one note on stderr. --no-ttl never fetches them.
 */
import type { LeaseListing, Store } from "@podnet/ipam-core";
import type { Command } from "commander";
import { note } from "./print/warn.js";

/** Up to this many distinct etcd leases, TTLs are looked up without --ttl. */
export const TTL_AUTO_MAX = 1000;

/** auto: fetch when few; always: --ttl; never: --no-ttl. */
export type TtlMode = "auto" | "always" | "never";

/** The auto limit: TTL_AUTO_MAX, or PODNET_TTL_AUTO_MAX when set to a whole number (tests). */
export function ttlAutoMax(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env["PODNET_TTL_AUTO_MAX"];
  if (raw !== undefined && /^\d+$/.test(raw.trim())) return Number(raw.trim());
  return TTL_AUTO_MAX;
}

/** Adds --ttl and --no-ttl to a command. */
export function withTtlOptions(cmd: Command): Command {
  return cmd
    .option("--ttl", `look up every lease's TTL (by default only up to ${TTL_AUTO_MAX} etcd leases)`)
    .option("--no-ttl", "never look up TTLs: show '-'");
}

/** The mode commander's `ttl` flag gives: true for --ttl, false for --no-ttl, undefined for neither. */
export function ttlModeOf(flag: boolean | undefined): TtlMode {
  return flag === true ? "always" : flag === false ? "never" : "auto";
}

/** The TTLs fetched (undefined when not), and how many etcd leases were left unfetched. */
export interface TtlLookup {
  readonly ttls?: Map<string, number>;
  /** Distinct etcd leases whose TTL was not looked up. */
  readonly skipped: number;
  /** Why they were not, for stderr (and `note` fields); undefined when all were fetched. */
  readonly note?: string;
}

/** The distinct etcd lease ids of a listing's leases and damaged entries (reservations have none). */
export function etcdLeaseIds(listing: Pick<LeaseListing, "leases" | "damaged">): Set<string> {
  const ids = new Set<string>();
  for (const l of listing.leases) if (l.etcdLease !== "0") ids.add(l.etcdLease);
  for (const d of listing.damaged) if (d.etcdLease !== "0") ids.add(d.etcdLease);
  return ids;
}

/**
 * Looks up the TTLs of the listing's etcd leases as the mode says. In auto mode above the
 * limit, and with --no-ttl, nothing is fetched: `note` says so (auto mode only: --no-ttl was asked).
 */
export async function lookupTtls(
  store: Store,
  listing: Pick<LeaseListing, "leases" | "damaged">,
  mode: TtlMode,
  opts: { limit?: number } = {},
): Promise<TtlLookup> {
  const ids = etcdLeaseIds(listing);
  if (ids.size === 0) return { ttls: new Map(), skipped: 0 };
  if (mode === "never") return { skipped: ids.size };
  const limit = opts.limit ?? ttlAutoMax();
  if (mode === "auto" && ids.size > limit) {
    return {
      skipped: ids.size,
      note: `TTLs not looked up for ${ids.size} etcd leases (one request each, more than ${limit}); pass --ttl to fetch them`,
    };
  }
  return { ttls: await store.timeToLiveMany([...ids]), skipped: 0 };
}

/** Writes the lookup's note, if any, once on stderr. */
export function noteTtls(lookup: TtlLookup): void {
  if (lookup.note !== undefined) note(`note: ${lookup.note}`);
}

/** A lease's TTL from a lookup: null for a reservation; undefined when not looked up; -1 when gone. */
export function ttlOf(lookup: TtlLookup, etcdLease: string): number | null | undefined {
  if (etcdLease === "0") return null;
  if (lookup.ttls === undefined) return undefined;
  return lookup.ttls.get(etcdLease) ?? -1;
}
