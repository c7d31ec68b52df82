/**
 * When the views look up TTLs (route, lease list, ipam show's expiring-soon, doctor): etcd has
 * no batch call for them, so each distinct etcd lease costs one LeaseTimeToLive request. Up to
 * TTL_AUTO_MAX distinct leases (or --ttl-auto-max) they are fetched unasked; beyond that only
 * with --ttl, and the view shows `-` (null in json) with one note on stderr. --no-ttl never
 * fetches them.
 */
import { type LeaseListing, LeaseTable, PodnetError, type Store } from "@podnet/ipam-core";
import type { Command } from "commander";
import { note } from "./print/warn.js";

/** Up to this many distinct etcd leases, TTLs are looked up without --ttl. */
export const TTL_AUTO_MAX = 1000;

/** auto: fetch when few (up to `autoMax` when given); always: --ttl; never: --no-ttl. */
export type TtlMode = "auto" | "always" | "never" | { readonly autoMax: number };

/** Adds --ttl, --no-ttl and --ttl-auto-max to a command. */
export function withTtlOptions(cmd: Command): Command {
  return cmd
    .option("--ttl", `look up every lease's TTL (by default only up to ${TTL_AUTO_MAX} etcd leases)`)
    .option("--no-ttl", "never look up TTLs: show '-'")
    .option(
      "--ttl-auto-max <n>",
      `look up TTLs unasked up to this many etcd leases (default ${TTL_AUTO_MAX})`,
    );
}

/**
 * The mode commander's flags give: `ttl` true for --ttl, false for --no-ttl, undefined for
 * neither; `autoMax` is --ttl-auto-max's text.
 */
export function ttlModeOf(flag: boolean | undefined, autoMax?: string): TtlMode {
  if (flag === true) return "always";
  if (flag === false) return "never";
  if (autoMax === undefined) return "auto";
  if (!/^\d+$/.test(autoMax.trim())) {
    throw new PodnetError("usage", `--ttl-auto-max "${autoMax}" is not a whole number of etcd leases`);
  }
  return { autoMax: Number(autoMax.trim()) };
}

/** The TTLs fetched (undefined when not), and how many etcd leases were left unfetched. */
export interface TtlLookup {
  readonly ttls?: Map<string, number>;
  /** Distinct etcd leases whose TTL was not looked up. */
  readonly skipped: number;
  /** Why they were not, for stderr (and `note` fields); undefined when all were fetched. */
  readonly note?: string;
}

/** The entries whose etcd leases the views look up: a listing's leases and damaged entries, a table, or the ids. */
export type TtlSource = Pick<LeaseListing, "leases" | "damaged"> | LeaseTable | ReadonlySet<string>;

/** The distinct etcd lease ids of a listing's leases and damaged entries (reservations have none). */
export function etcdLeaseIds(source: TtlSource): ReadonlySet<string> {
  if (source instanceof LeaseTable) return source.etcdLeaseIds();
  if ("leases" in source) return LeaseTable.of({ revision: 0, foreign: [], ...source }).etcdLeaseIds();
  return source;
}

/**
 * Looks up the TTLs of the listing's etcd leases as the mode says. In auto mode above the
 * limit, and with --no-ttl, nothing is fetched: `note` says so (auto mode only: --no-ttl was asked).
 */
export async function lookupTtls(
  store: Store,
  listing: TtlSource,
  mode: TtlMode,
  opts: { limit?: number } = {},
): Promise<TtlLookup> {
  const ids = etcdLeaseIds(listing);
  if (ids.size === 0) return { ttls: new Map(), skipped: 0 };
  if (mode === "never") return { skipped: ids.size };
  const auto = mode === "auto" || typeof mode === "object";
  const limit = opts.limit ?? (typeof mode === "object" ? mode.autoMax : TTL_AUTO_MAX);
  if (auto && ids.size > limit) {
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
