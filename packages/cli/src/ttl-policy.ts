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

/** How many etcd leases the mode looks up unasked; undefined: all (--ttl). */
function autoLimit(mode: TtlMode, limit?: number): number | undefined {
  if (mode === "always") return undefined;
  return limit ?? (typeof mode === "object" ? mode.autoMax : TTL_AUTO_MAX);
}

/**
 * TTLs looked up while the listing still comes in (LeaseRegistry.table's `onEtcdLeases`), so
 * that their round trips overlap etcd serving the rest rather than follow it. It fetches what
 * {@link lookupTtls} would fetch of the ids seen so far, and in auto mode only while the ids
 * projected for the whole listing stay within the limit (past it, nothing more: lookupTtls
 * then decides as it would have). {@link lookupTtls} uses what it fetched of the ids it
 * needs, fetches the rest, and drops the others.
 */
export class TtlPrefetch {
  private readonly asked = new Set<string>();
  private got: Promise<Map<string, number>> = Promise.resolve(new Map());
  private stopped: boolean;

  constructor(
    private readonly store: Store,
    private readonly mode: TtlMode,
  ) {
    this.stopped = mode === "never";
  }

  /** Feeds ids first seen in a page; `share`: the part of the listing read so far, when known. */
  readonly add = (ids: readonly string[], share: number | undefined): void => {
    if (this.stopped) return;
    const fresh = ids.filter((id) => id !== "0" && !this.asked.has(id));
    if (fresh.length === 0) return;
    const limit = autoLimit(this.mode);
    if (limit !== undefined) {
      // Unknown progress: wait for the whole listing. Else project from the part read so far.
      if (share === undefined || share <= 0) return;
      if ((this.asked.size + fresh.length) / share > limit) {
        this.stopped = true;
        return;
      }
    }
    for (const id of fresh) this.asked.add(id);
    const before = this.got;
    this.got = before.then(async (got) => {
      for (const [id, ttl] of await this.store.timeToLiveMany(fresh)) got.set(id, ttl);
      return got;
    });
    // Awaited by lookupTtls when it needs them; a failure no one waits for is no failure.
    this.got.catch(() => undefined);
  };

  /** The TTLs of `ids`: those fetched already, and the rest now; no other. */
  async ttlsOf(ids: ReadonlySet<string>): Promise<Map<string, number>> {
    this.stopped = true;
    const missing = [...ids].filter((id) => !this.asked.has(id));
    const [got, rest] = await Promise.all([
      this.got,
      missing.length > 0 ? this.store.timeToLiveMany(missing) : new Map<string, number>(),
    ]);
    const out = new Map<string, number>();
    for (const id of ids) {
      const ttl = got.get(id) ?? rest.get(id);
      if (ttl !== undefined) out.set(id, ttl);
    }
    return out;
  }
}

/**
 * Looks up the TTLs of the listing's etcd leases as the mode says. In auto mode above the
 * limit, and with --no-ttl, nothing is fetched: `note` says so (auto mode only: --no-ttl was
 * asked). With a `prefetch` fed while the listing came in, what it fetched is used.
 */
export async function lookupTtls(
  store: Store,
  listing: TtlSource,
  mode: TtlMode,
  opts: { limit?: number; prefetch?: TtlPrefetch | undefined } = {},
): Promise<TtlLookup> {
  const ids = etcdLeaseIds(listing);
  if (ids.size === 0) return { ttls: new Map(), skipped: 0 };
  if (mode === "never") return { skipped: ids.size };
  const limit = autoLimit(mode, opts.limit);
  if (limit !== undefined && ids.size > limit) {
    return {
      skipped: ids.size,
      note: `TTLs not looked up for ${ids.size} etcd leases (one request each, more than ${limit}); pass --ttl to fetch them`,
    };
  }
  const ttls =
    opts.prefetch === undefined ? await store.timeToLiveMany([...ids]) : await opts.prefetch.ttlsOf(ids);
  return { ttls, skipped: 0 };
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
