/**
 * The lease registry: the allocator's decisions carried out against etcd. This is the only
 * file where lease policy meets transport. Every write that could race is a transaction with
 * a compare, and every etcd lease granted here is either attached to a key or revoked.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type AllocationDecision, decideFrom, subnetsOverlap } from "./allocator.js";
import { keepBackendData, missingBackendData } from "./backend-data.js";
import { isPodnetError, PodnetError } from "./errors.js";
import { checkLeaseTtl } from "./etcd/limits.js";
import { readSnapshot } from "./etcd/snapshot-read.js";
import type { Compare, Grant, KeyValue, Op, Store, TxnResult } from "./etcd/store.js";
import { isStoreClosed, StoreClosedError } from "./etcd/store-closed.js";
import { HostScan } from "./host-scan.js";
import { subnetsPrefix } from "./keys.js";
import { isReservation, type Lease, type LeaseListing, type LeaseNetwork } from "./lease.js";
import { type AcquireView, LeaseCache, LeaseSnapshot } from "./lease-cache.js";
import {
  decodeLeaseValue,
  encodeLeaseValue,
  formatLeaseKey,
  type LeaseAttrs,
  type LeaseSubnet,
  leaseKey,
} from "./lease-codec.js";
import { revokeUnlessRidden } from "./lease-revoke.js";
import { type LeaseTable, LeaseTableBuilder } from "./lease-table.js";
import { deleteLanded, guardedWrite, putLanded } from "./lost-answer.js";
import { type OwnWrite, PatchedSnapshot } from "./patched-snapshot.js";
import { leaseKeySplits } from "./scan-splits.js";
import { rangeSize } from "./subnet-range.js";

/** flannel's lease TTL: 24 hours. */
export const DEFAULT_LEASE_TTL_SECONDS = 24 * 60 * 60;
/** flanneld's --subnet-lease-renew-margin default: renew when 60 minutes remain. */
export const DEFAULT_RENEW_MARGIN_SECONDS = 60 * 60;
/** flanneld retries a failed renewal every minute. */
export const DEFAULT_RENEW_RETRY_SECONDS = 60;

/** How the registry is set up. */
export interface LeaseRegistryOptions {
  /** The etcd prefix, e.g. `/coreos.com/network`. */
  readonly prefix: string;
  /** TTL of new leases in seconds; default 24 h. */
  readonly ttlSeconds?: number;
  /**
   * Keep the leases in a watch-fed cache (started by the first `acquire`, or by
   * {@link LeaseRegistry.startCache}) instead of reading them for every acquisition: for
   * long-running callers that acquire many times while others write too. (Without it, the
   * registry keeps its last listing patched with its transactions' answers and lists again only
   * when a count of the prefix shows a key created or deleted by someone else, see
   * {@link LeaseRegistry.acquire}; it drops that listing when idle.) Stop it with {@link LeaseRegistry.stopCache}.
   * The cache can lag etcd by the watch delay: a lease written for this host's PublicIP by
   * another process inside that window is not seen (subnets stay unique: the
   * create-if-absent transaction decides).
   */
  readonly cache?: boolean;
  /** Told the keys read so far after each page of a listing; `last` on the final page. */
  readonly onListProgress?: (keys: number, last: boolean) => void;
}

/** What `acquire` needs. */
export interface AcquireRequest {
  readonly network: LeaseNetwork;
  readonly attrs: LeaseAttrs;
  /** The subnet held before (a hint, e.g. from the subnet file); taken only if nobody holds it. */
  readonly previous?: LeaseSubnet | undefined;
  /** TTL of a newly created lease; default the registry's. */
  readonly ttlSeconds?: number | undefined;
  /** Uniform in [0, 1); default Math.random. */
  readonly random?: () => number;
  /** How many lost races (or unreachable-etcd failures) to retry through; default 10. */
  readonly maxAttempts?: number;
  /**
   * Lease even when the value could not carry traffic (a vxlan lease without a VtepMAC);
   * default false: such an acquisition is refused before anything is written.
   */
  readonly allowIncomplete?: boolean;
  /** Appended to the refusal of an incomplete lease, e.g. which flag supplies the VtepMAC. */
  readonly incompleteHint?: string;
  /** Stops retrying once aborted: `acquire` then rejects with the signal's reason (nothing is left half-written). */
  readonly signal?: AbortSignal | undefined;
  /**
   * A revision the caller read at or after its own start (the config's, say): a fresh
   * registry's scan for this host reads the leases there, one snapshot with what the caller
   * read and no read of its own to pin one (a retry reads afresh; a compacted one is read anew).
   */
  readonly atRevision?: number;
}

/** How `acquire` got its lease. */
export interface AcquireResult {
  readonly lease: Lease;
  readonly outcome: "reused" | "previous" | "new";
  /** 1 when the first try won. */
  readonly attempts: number;
  /** This host's leases that no longer fit the network and were deleted. */
  readonly removed: readonly Lease[];
  /**
   * The lease's remaining TTL in seconds as etcd told it while acquiring (the grant's, or the
   * renewal's of a lease reused), so no look-up is needed; undefined for a reservation or when
   * etcd did not tell it.
   */
  readonly ttlSeconds?: number;
}

/** How `keepAlive` renews. */
export interface KeepAliveOptions {
  /** Renew when this many seconds of the TTL remain; default 3600 (flanneld's 60 minutes). */
  readonly renewMarginSeconds?: number;
  /** Wait this long after a failed renewal before the next try; default 60. */
  readonly retryIntervalSeconds?: number;
  /** The lease was renewed; `ttlSeconds` is what remains now (0 for a reservation). */
  readonly onRenewed?: (lease: Lease, ttlSeconds: number) => void;
  /** The key is no longer ours (deleted, expired or taken); the loop has stopped. */
  readonly onLost: (err: PodnetError) => void;
  /** A renewal failed for another reason (etcd unreachable); the loop retries. */
  readonly onError?: (err: PodnetError) => void;
  /** Stops the loop once aborted, as {@link KeepAliveHandle.stop} does (the lease is kept, not released). */
  readonly signal?: AbortSignal | undefined;
}

/** A running keepalive loop. */
export interface KeepAliveHandle {
  /** The lease as last renewed. */
  readonly lease: Lease;
  /** Stops renewing; the lease is kept (release it to give it back). */
  stop(): void;
}

const MAX_TTL_LOOKUPS = 16;
/** How long an uncached registry keeps its last listing after its last use. */
const LIVE_IDLE_MS = 10_000;

/** A view `acquire` and `list` can both read. */
type ListingView = AcquireView & { listing(): LeaseListing };

/**
 * A view an acquisition reads, and what it may be trusted for: `fresh`, no older than the
 * call (so "out of subnets" is true, and this host's leases need no second look).
 */
interface Seen {
  readonly view: AcquireView;
  readonly fresh: boolean;
}

/** A check waiting for the answers of the own writes in flight when it started, or for the view to cover `at`. */
interface Waiter {
  readonly at: number;
  readonly pending: Set<Promise<void>>;
  readonly done: () => void;
}

/**
 * Runs of an async task shared by callers, each caller getting a run that started no earlier
 * than its call. A run started in the same synchronous stretch of code as the call counts as
 * no earlier: no answer from etcd can arrive in between, so every write that completed before
 * the call had completed before that run's request too (concurrent callers started together,
 * as by `Promise.all`, share one run).
 */
class SharedRuns<T> {
  private inflight: Promise<T> | undefined;
  private pending: Promise<T> | undefined;
  /** The run in flight started in the synchronous code still running (cleared by a microtask). */
  private joinable = false;

  constructor(private readonly run: () => Promise<T>) {}

  /** The run in flight if it started just now, a new one if none is, else one queued behind it (shared by every caller meanwhile). */
  next(): Promise<T> {
    if (this.inflight !== undefined && this.joinable) return this.inflight;
    if (this.inflight === undefined) return this.start();
    this.pending ??= this.inflight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.pending = undefined;
        return this.inflight ?? this.start();
      });
    return this.pending;
  }

  /** Whether a run is in flight. */
  get running(): boolean {
    return this.inflight !== undefined;
  }

  /** The run in flight, if any (it may have started before the caller's call). */
  get current(): Promise<T> | undefined {
    return this.inflight;
  }

  private start(): Promise<T> {
    const run = this.run();
    this.inflight = run;
    this.joinable = true;
    queueMicrotask(() => {
      this.joinable = false;
    });
    const done = (): void => {
      if (this.inflight === run) this.inflight = undefined;
    };
    run.then(done, done);
    return run;
  }
}

/** How many subnets a network hands out (its IPv4 range's, else its IPv6 range's), as a number. */
function subnetsOf(network: LeaseNetwork): number {
  if (network.ipv4 !== undefined) return rangeSize(network.ipv4);
  if (network.ipv6 === undefined) return 0;
  const size = rangeSize(network.ipv6);
  return size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size);
}

/** What {@link LeaseRegistry.table} reads, and how. */
export interface TableOptions {
  /** false: a table of counts and spans only (see LeaseTableBuilder). */
  readonly rows?: boolean | undefined;
  /** The network the leases are handed out from: the listing is fetched as sub-ranges at once. */
  readonly network?: LeaseNetwork | undefined;
  /** The snapshot to read. */
  readonly revision?: number | undefined;
  /**
   * Called as the listing comes in, after each page, with the etcd lease ids (decimal text,
   * none for a reservation) first seen in it, so that their TTLs can be looked up while etcd
   * still serves the rest; `share`: the part of the listing read so far (0 to 1), when known,
   * to project how many ids the whole will hold. An id may come again when a compaction
   * makes the read start over.
   */
  readonly onEtcdLeases?: ((ids: readonly string[], share: number | undefined) => void) | undefined;
}

/** Leases of one prefix in etcd: list, acquire, renew, release, reserve. */
export class LeaseRegistry {
  readonly prefix: string;
  readonly ttlSeconds: number;
  /** Listings of the prefix, shared by the callers that may use them. */
  private readonly listings = new SharedRuns(() => this.startListing());
  /** Checks that the last listing, patched with this registry's writes, is still current. */
  private readonly checks = new SharedRuns(() => this.check());
  /** etcd's revision, read for acquisitions that have no grant of their own to tell it. */
  private readonly heads = new SharedRuns(
    async () => (await this.store.get(subnetsPrefix(this.prefix))).revision,
  );
  /** Counts of the prefix that tell an acquisition whether the last listing may still serve it, and their revisions. */
  private readonly counts = new SharedRuns(() => this.countCheck());
  /** Whether an acquisition has scanned for its host alone; the next one lists, for every host. */
  private scannedOnce = false;
  /** The last listing patched with this registry's own writes since; dropped when idle. */
  private live: PatchedSnapshot | undefined;
  private liveTimer: NodeJS.Timeout | undefined;
  /** When the live listing was last used (performance.now()): its timer fires from then on, re-armed only on expiry. */
  private liveUsed = 0;
  /** This registry's writes under the prefix whose answer has not come yet. */
  private readonly writing = new Set<Promise<void>>();
  /** Checks waiting for some of those answers (see {@link settled}). */
  private readonly waiting = new Set<Waiter>();
  /** Writes answered while a listing is in flight (learned ones flagged), one array per listing. */
  private readonly duringListing = new Set<[OwnWrite, boolean][]>();
  private cacheWanted: boolean;
  private cache: Promise<LeaseCache> | undefined;
  /** The stop functions of the running keepAlive loops; close() stops them. */
  private readonly keepAlives = new Set<() => void>();

  private readonly onListProgress: ((keys: number, last: boolean) => void) | undefined;

  constructor(
    private readonly store: Store,
    opts: LeaseRegistryOptions,
  ) {
    if (typeof opts?.prefix !== "string")
      throw new PodnetError(
        "usage",
        "LeaseRegistry needs { prefix }, the etcd prefix of the network (such as etcd.prefix)",
      );
    this.prefix = opts.prefix;
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    this.cacheWanted = opts.cache ?? false;
    this.onListProgress = opts.onListProgress;
    checkLeaseTtl(this.ttlSeconds);
  }

  /**
   * Every entry under `<prefix>/subnets/` in one consistent listing, decoded. Concurrent calls
   * share listings, but never one that started before the call: every write that completed
   * before `list()` was called is in its answer.
   */
  async list(): Promise<LeaseListing> {
    return (await this.fresh()).listing();
  }

  /**
   * The same entries as {@link list}, read fresh (never a shared or cached listing) straight
   * into columns: for views over many leases, which need no object per lease (see lease-table.ts).
   * `rows: false` for a table of counts and spans only (see LeaseTableBuilder). With the
   * `network` the leases are handed out from, the listing is fetched as sub-ranges at once
   * (see scan-splits.ts); `revision` reads the table at that snapshot (compacted: the caller
   * reads again, see readSnapshot).
   */
  async table(opts: TableOptions = {}): Promise<LeaseTable> {
    const progress = this.onListProgress;
    const onIds = opts.onEtcdLeases;
    const read = async (): Promise<LeaseTable> => {
      const builder = new LeaseTableBuilder(this.prefix, {
        ...(opts.rows !== undefined && { rows: opts.rows }),
        // As many rows as the network has subnets, about: a full network's listing.
        ...(opts.network !== undefined && { expect: subnetsOf(opts.network) }),
      });
      const onPage =
        onIds === undefined
          ? progress
          : (keys: number, last: boolean, share?: number) => {
              progress?.(keys, last);
              const ids = builder.newEtcdLeaseIds();
              if (ids.length > 0) onIds(ids, last ? 1 : share);
            };
      const { revision } = await this.store.scan(subnetsPrefix(this.prefix), builder.visitor(), {
        ...(opts.revision !== undefined && { revision: opts.revision }),
        ...(opts.network !== undefined && { splits: leaseKeySplits(this.prefix, opts.network) }),
        ...(onPage && { onPage }),
      });
      return builder.finish(revision);
    };
    // Its pages (sub-ranges) are pinned to one revision: unpinned, a compaction in between reads again.
    return opts.revision === undefined ? readSnapshot(read) : read();
  }

  /**
   * Starts the watch-fed lease cache (see {@link LeaseRegistryOptions.cache}) and waits for its
   * first listing; later `acquire` calls read the cache instead of listing.
   */
  async startCache(): Promise<void> {
    this.cacheWanted = true;
    await this.cached();
  }

  /** The revision up to which the lease cache has seen every change; undefined without a running cache. */
  async cacheRevision(): Promise<number | undefined> {
    return (await this.cache?.catch(() => undefined))?.revision;
  }

  /**
   * Stops the keepAlive loops (the leases are kept) and the lease cache's watch, the only
   * connection the registry holds of its own; the store is the caller's and stays open.
   */
  async close(): Promise<void> {
    for (const stop of [...this.keepAlives]) stop();
    this.dropLive();
    await this.stopCache();
  }

  /** {@link close}, for `await using registry = new LeaseRegistry(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops the lease cache's watch; `acquire` lists again from then on. */
  async stopCache(): Promise<void> {
    this.cacheWanted = false;
    const cache = this.cache;
    this.cache = undefined;
    await (await cache?.catch(() => undefined))?.stop();
  }

  /** Remaining TTL in seconds of each distinct etcd lease of the listing (-1 when gone); reservations are absent. */
  async ttls(listing: LeaseListing): Promise<Map<string, number>> {
    const ids = [
      ...new Set([...listing.leases, ...listing.damaged].map((e) => e.etcdLease).filter((id) => id !== "0")),
    ];
    const out = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < ids.length; i = next++) {
        const id = ids[i]!;
        out.set(id, await this.store.timeToLive(id));
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_TTL_LOOKUPS, ids.length) }, worker));
    return out;
  }

  /**
   * Gets this host a lease: its own if it still fits, else the previous subnet if free, else a
   * random free one, created only if absent. Lost races are retried with another subnet.
   *
   * Without the lease cache, no attempt needs a listing of its own. A fresh registry scans the
   * prefix once for this host (compact: subnets and this host's values only), its grant asked
   * for beside the scan (and revoked when the host holds a lease after all); a long-running
   * one keeps its last listing patched and learns etcd's revision after the call (from the
   * grant's answer for a new host, so a create is a grant and one transaction; else a read
   * shared by concurrent callers) and, when someone else wrote since, how many keys the prefix
   * holds (shared by concurrent callers, asked after the call):
   * when that is what the view expects, nobody else created or deleted a key since and the view
   * serves, else it lists again (shared). What each property rests on:
   * - no duplicate subnet: the create-if-absent compare, whatever the view; a lost create's
   *   answer says what won, and that is patched into the view, so a stale view costs one retry;
   * - this host's lease written by another process before the call: that write created a key,
   *   so the count differs and the registry lists (a count can miss it only when a delete or an
   *   expiry under the prefix balanced it in the same interval; a lease of this host's already
   *   in the view is checked against etcd before it is reused);
   * - reservations are never taken: a reservation's key makes the create compare fail (and one
   *   of another length, added since, changes the count);
   * - "out of subnets" comes only from a view no older than the call (a listing is taken first
   *   otherwise), so expired or deleted leases are free again; a stale lease of this host's is
   *   removed from any view, as its delete compares its revision and its etcd lease is revoked
   *   only once etcd says no key rides on it;
   * - backend data: the request's data, with what it leaves out kept from the lease reused.
   */
  async acquire(req: AcquireRequest): Promise<AcquireResult> {
    const random = req.random ?? Math.random;
    const maxAttempts = Math.max(1, req.maxAttempts ?? 10);
    const ttl = req.ttlSeconds ?? this.ttlSeconds;
    checkLeaseTtl(ttl); // before any request: etcd would refuse the grant only after the listing
    const requested = encodeLeaseValue(req.attrs); // checks the attributes before anything is written
    // A long-running registry whose view gives this host no lease asks for the grant first, and
    // the grant's answer tells etcd's revision too (it is applied in order with the writes): that
    // is the check, so a create is a grant and a transaction, as raw etcd's. A fresh registry
    // (one acquisition, as `podnet lease acquire`) asks for it beside its scan for this host, so
    // a new lease costs no round trip more. An unused grant (the host had a lease after all, or
    // the call failed) is revoked before `acquire` returns, beside the reuse.
    const scanFirst = this.live === undefined && !this.scannedOnce && !this.listings.running;
    let early =
      !this.cacheWanted &&
      !req.signal?.aborted &&
      (scanFirst || (this.live !== undefined && this.live.leasesOf(req.attrs.publicIP).length === 0))
        ? this.store.grantAt(ttl)
        : undefined;
    early?.catch(() => undefined); // its failure is met by the create that awaits it
    const head = early?.then(
      (g) => g.revision,
      () => 0,
    );
    let revoking: Promise<void> | undefined;
    const dropGrant = (): void => {
      if (early === undefined) return;
      revoking = early.then(
        (g) => this.revokeHard(g.lease),
        () => undefined,
      );
      early = undefined;
    };
    try {
      return await this.attempts(
        req,
        { random, maxAttempts, ttl, tried: [], head, requested },
        () => {
          const grant = early;
          early = undefined;
          return grant;
        },
        dropGrant,
      );
    } finally {
      dropGrant();
      await revoking;
    }
  }

  /**
   * The attempts of one {@link acquire}; `takeGrant` hands over (once) a grant asked for ahead,
   * `dropGrant` revokes it unused (once a lease is to be reused), and `head` is the revision its
   * answer told (0 when it failed or could not tell).
   */
  private async attempts(
    req: AcquireRequest,
    opts: {
      random: () => number;
      maxAttempts: number;
      ttl: number;
      tried: LeaseSubnet[];
      head: Promise<number> | undefined;
      /** `req.attrs` encoded. */
      requested: string;
    },
    takeGrant: () => Promise<Grant> | undefined,
    dropGrant: () => void,
  ): Promise<AcquireResult> {
    const { random, maxAttempts, ttl, tried, head, requested } = opts;
    let removed: Lease[] | undefined;
    let lastFailure = "";
    /** This call's own scan, patched with what its lost creates found, and how many it lost since. */
    let scan: HostScan | undefined;
    let lostOnScan = 0;
    /** The last attempt found the view wrong about this host's lease: read the leases again. */
    let wrong = false;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      req.signal?.throwIfAborted();
      if (attempt > 1) await sleep(5 + Math.floor(random() * 46), undefined, { signal: req.signal });
      try {
        // A scan patched with one lost create's answer serves the retry; a second loss means
        // others are creating fast here, so the next retry reads the leases again.
        if (lostOnScan >= 2) wrong = true;
        let seen = await this.viewFor(
          req.attrs.publicIP,
          attempt,
          attempt === 1 ? head : undefined,
          scan,
          wrong,
          req.network,
          attempt === 1 ? req.atRevision : undefined,
        );
        if (seen.view instanceof HostScan && seen.view !== scan) {
          scan = seen.view;
          lostOnScan = 0;
        }
        wrong = false;
        let decision: AllocationDecision | undefined;
        while (decision === undefined) {
          try {
            decision = decideFrom(
              { mine: seen.view.leasesOf(req.attrs.publicIP), occupied: seen.view.occupied() },
              {
                network: req.network,
                random,
                exclude: tried,
                ...(req.previous !== undefined ? { previous: req.previous } : {}),
              },
            );
          } catch (err) {
            if (!isPodnetError(err, "exhausted") || seen.fresh) throw err;
            seen = await this.listed();
          }
        }
        // Data the request leaves out is kept from this host's live lease (a VtepMAC peers route by).
        const attrs = keepBackendData(
          req.attrs,
          decision.kind === "reuse" ? decision.lease.attrs : undefined,
        );
        refuseIncomplete(attrs, req);
        const value = attrs === req.attrs ? requested : encodeLeaseValue(attrs);
        removed ??= await this.removeStale(decision.stale);
        if (decision.kind === "reuse") {
          dropGrant();
          const reused = await this.reuse(decision.lease, value, !seen.fresh);
          if (reused !== null) return { ...reused, outcome: "reused", attempts: attempt, removed };
          wrong = true;
          lastFailure = `this host's lease ${nameOf(decision.lease.subnet)} changed or expired while being reused`;
          continue;
        }
        const created = await this.create(decision.subnet, value, ttl, takeGrant());
        if ("lease" in created) return { ...created, outcome: decision.kind, attempts: attempt, removed };
        if (created.winner !== undefined) {
          this.learn(created.winner);
          scan?.learn(created.winner);
          if (seen.view === scan) lostOnScan++;
        }
        tried.push(decision.subnet);
        lastFailure = `another host took ${nameOf(decision.subnet)} first`;
      } catch (err) {
        if (!isPodnetError(err, "unavailable") || attempt === maxAttempts || req.signal?.aborted) throw err;
        lastFailure = err.message;
      }
    }
    throw new PodnetError(
      "conflict",
      `could not acquire a subnet in ${maxAttempts} attempts (last: ${lastFailure}); try again`,
    );
  }

  /**
   * Renews a lease: checks in a transaction that the key still holds our value and our etcd
   * lease (optionally writing new attributes under the same guard), then keeps the etcd lease
   * alive. Never writes a key that is no longer ours; throws conflict or not-found instead.
   */
  async renew(lease: Lease, opts: { attrs?: LeaseAttrs } = {}): Promise<Lease> {
    return (await this.renewWithTtl(lease, opts)).lease;
  }

  /**
   * Deletes the lease if it is still ours, then revokes its etcd lease unless another key rides
   * on it (`revoked: false`: it then expires with its TTL). A reservation is never released
   * (an admin made it on purpose): that is a conflict; {@link unreserve} deletes it.
   */
  async release(lease: Lease): Promise<{ revoked: boolean }> {
    if (isReservation(lease)) {
      throw new PodnetError(
        "conflict",
        `${nameOf(lease.subnet)} is a reservation for ${lease.attrs.publicIP}, not a lease; nothing was deleted; unreserve it ('podnet lease unreserve') to delete it`,
      );
    }
    // A key deleted while our etcd lease lives: our delete landed, even if its answer was lost.
    const res = await guardedWrite(
      () => this.write(guardOf(lease), [{ delete: lease.key }], (r) => [deletedAt(lease.key, r)]),
      () => deleteLanded(this.store, lease.key, lease.etcdLease),
    );
    if (res.kind === "lost") throw await this.lostError(lease, "release");
    if (res.kind === "written") this.noteDeleted(lease.key, res.revision);
    return { revoked: await revokeUnlessRidden(this.store, lease.etcdLease) };
  }

  /**
   * Reserves a subnet for a host: a key with no etcd lease, so it never expires. Creates it if
   * absent; turns this host's own live lease on it into a reservation, keeping the backend
   * data the request leaves out; refuses anyone else's.
   */
  async reserve(
    subnet: LeaseSubnet,
    requested: LeaseAttrs,
    opts: Pick<AcquireRequest, "allowIncomplete" | "incompleteHint"> = {},
  ): Promise<Lease> {
    encodeLeaseValue(requested); // checks the attributes before anything is read
    const key = leaseKey(this.prefix, subnet);
    const name = nameOf(subnet);
    const listing = await this.list();
    const damaged = listing.damaged.find((d) => subnetsOverlap(d.subnet, subnet));
    if (damaged !== undefined) {
      throw new PodnetError(
        "conflict",
        `cannot reserve ${name}: the entry ${damaged.key} overlaps it and is damaged (${damaged.reason}); fix or delete it first`,
      );
    }
    const other = listing.leases.find((l) => l.key !== key && subnetsOverlap(l.subnet, subnet));
    if (other !== undefined) {
      throw new PodnetError(
        "conflict",
        `cannot reserve ${name}: it overlaps ${nameOf(other.subnet)}, held by ${other.attrs.publicIP}`,
      );
    }
    const current = listing.leases.find((l) => l.key === key);
    if (current !== undefined && current.attrs.publicIP !== requested.publicIP) {
      throw new PodnetError(
        "conflict",
        `cannot reserve ${name}: it is held by ${current.attrs.publicIP}; release that lease first`,
      );
    }
    const attrs = keepBackendData(requested, current?.attrs);
    refuseIncomplete(attrs, opts);
    const value = encodeLeaseValue(attrs);
    if (current === undefined) {
      const res = await guardedWrite(
        () =>
          this.write([{ key, modRevision: 0 }], [{ put: key, value }], (r) => [putAt(key, value, "0", r, r)]),
        () => putLanded(this.store, key, value, "0"),
      );
      if (res.kind === "written") return leaseOf(key, subnet, value, "0", res.revision, res.revision);
      if (res.kind === "landed")
        return leaseOf(key, subnet, value, "0", res.found.modRevision, res.found.createRevision);
      throw new PodnetError("conflict", `cannot reserve ${name}: another host took it just now; try again`);
    }
    if (isReservation(current) && current.value === value) return current;
    // A put without a lease detaches the key from its etcd lease: it becomes a reservation.
    // A key that holds exactly our reservation: our put landed, even if its answer was lost.
    const res = await guardedWrite(
      () =>
        this.write([{ key, modRevision: current.modRevision }], [{ put: key, value }], (r) => [
          putAt(key, value, "0", r, current.createRevision),
        ]),
      () => putLanded(this.store, key, value, "0", current.createRevision),
    );
    if (res.kind === "lost")
      throw new PodnetError("conflict", `cannot reserve ${name}: it changed just now; try again`);
    const modRevision = res.kind === "written" ? res.revision : res.found.modRevision;
    // The old etcd lease carries nothing now, unless another key rides on it (revoking would delete that).
    if (!isReservation(current)) await revokeUnlessRidden(this.store, current.etcdLease);
    return leaseOf(key, subnet, value, "0", modRevision, current.createRevision);
  }

  /**
   * Deletes a reservation; refuses a live lease (release that instead) and a key that changed
   * meanwhile (since `expect` was read, when given).
   */
  async unreserve(subnet: LeaseSubnet, opts: { expect?: Lease } = {}): Promise<Lease> {
    const key = leaseKey(this.prefix, subnet);
    const name = nameOf(subnet);
    const { value: kv } = await this.store.get(key);
    if (kv === undefined) throw new PodnetError("not-found", `there is no reservation for ${name}`);
    if (opts.expect !== undefined && kv.modRevision !== opts.expect.modRevision) {
      throw new PodnetError(
        "conflict",
        `the reservation for ${name} changed since it was read; nothing was deleted`,
      );
    }
    if (kv.lease !== "0") {
      throw new PodnetError(
        "conflict",
        `${name} is a live lease, not a reservation; release it instead if its host is gone`,
      );
    }
    // A key that is gone: our delete landed, even if its answer was lost.
    const res = await guardedWrite(
      () =>
        this.write(
          [
            { key, modRevision: kv.modRevision },
            { key, lease: "0" },
          ],
          [{ delete: key }],
          (r) => [deletedAt(key, r)],
        ),
      () => deleteLanded(this.store, key, "0"),
    );
    if (res.kind === "lost")
      throw new PodnetError("conflict", `the reservation for ${name} changed just now; try again`);
    const decoded = decodeLeaseValue(kv.value);
    return {
      key,
      subnet,
      attrs: decoded.ok ? decoded.attrs : { publicIP: "0.0.0.0", publicIPv6: null },
      value: kv.value.toString("utf8"),
      etcdLease: "0",
      modRevision: kv.modRevision,
      createRevision: kv.createRevision,
    };
  }

  /**
   * Renews the lease whenever `renewMarginSeconds` of its TTL remain, retries failures every
   * `retryIntervalSeconds`, and stops with `onLost` once the key is no longer ours, with
   * `onError` once the store is closed, or when the registry is closed.
   */
  keepAlive(lease: Lease, opts: KeepAliveOptions): KeepAliveHandle {
    const margin = opts.renewMarginSeconds ?? DEFAULT_RENEW_MARGIN_SECONDS;
    const retry = opts.retryIntervalSeconds ?? DEFAULT_RENEW_RETRY_SECONDS;
    let current = lease;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const schedule = (seconds: number): void => {
      if (!stopped) timer = setTimeout(() => void tick(), seconds * 1000);
    };
    // Renew when the margin remains; a margin as long as the TTL would renew non-stop, so cap it.
    const untilRenewal = (ttl: number): number => (ttl > margin ? ttl - margin : Math.max(1, ttl / 3));
    const fail = (err: unknown): void => {
      if (stopped) return;
      const e = isPodnetError(err) ? err : new PodnetError("failed", String(err), { cause: err });
      if (e.code === "conflict" || e.code === "not-found") {
        stop();
        opts.onLost(e);
      } else if (isStoreClosed(e)) {
        // Nothing can renew through a closed store: say so once, and let the process end.
        stop();
        opts.onError?.(e);
      } else {
        opts.onError?.(e);
        schedule(retry);
      }
    };
    const tick = async (): Promise<void> => {
      try {
        const renewed = await this.renewWithTtl(current);
        if (stopped) return;
        current = renewed.lease;
        opts.onRenewed?.(current, renewed.ttl);
        schedule(isReservation(current) ? margin : untilRenewal(renewed.ttl));
      } catch (err) {
        fail(err);
      }
    };
    if (isReservation(lease)) schedule(margin);
    else {
      this.store.timeToLive(lease.etcdLease).then(
        (ttl) => (ttl > 0 ? schedule(untilRenewal(ttl)) : void tick()),
        (err: unknown) => fail(err),
      );
    }
    const stop = (): void => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", stop);
      this.keepAlives.delete(stop);
      unsubscribe?.();
    };
    this.keepAlives.add(stop);
    // A store closed under it: stop now, not at the next renewal (a timer of up to a day).
    const unsubscribe = this.store.onClose?.(() => fail(new StoreClosedError()));
    if (opts.signal?.aborted) stop();
    opts.signal?.addEventListener("abort", stop, { once: true });
    return {
      get lease() {
        return current;
      },
      stop,
    };
  }

  // ---- internals ----

  /**
   * The leases as of no earlier than this call. With a listing of its own kept current by its
   * own writes, the registry only asks etcd for its revision: when no one else wrote since, that
   * listing is exact and nothing is listed. Otherwise (and the first time) it lists, sharing
   * the listing with concurrent callers.
   */
  private fresh(): Promise<ListingView> {
    return this.live === undefined ? this.listings.next() : this.checks.next();
  }

  /**
   * The view an attempt reads: the cache's on a cached registry's first try; this call's own
   * scan again after a lost create; on a registry with no listing yet, a scan for this host
   * (once: the next acquisition lists, for every host); else the live listing, if etcd's
   * revision (`head`, told by this call's grant, else read) or a count says it may serve (see
   * {@link acquire}). After a failed reuse, the leases are read again.
   */
  private async viewFor(
    publicIP: string,
    attempt: number,
    head: Promise<number> | undefined,
    scan: HostScan | undefined,
    wrong: boolean,
    network: LeaseNetwork,
    atRevision?: number,
  ): Promise<Seen> {
    if (this.cacheWanted) {
      // The cache only for the first try: after any failure, a listing that started after it.
      return attempt === 1 ? { view: await this.cached(), fresh: false } : this.listedFresh();
    }
    if (scan !== undefined && !wrong) return { view: scan, fresh: true };
    if (scan !== undefined || (this.live === undefined && !this.scannedOnce && !this.listings.running)) {
      this.scannedOnce = true;
      const read = (revision?: number) =>
        HostScan.read(this.store, this.prefix, publicIP, this.onListProgress, network, revision);
      const view = await (atRevision === undefined || scan !== undefined
        ? read()
        : read(atRevision).catch((err: unknown) => {
            if (isPodnetError(err, "compacted")) return read();
            throw err;
          }));
      return { view, fresh: true };
    }
    if (wrong) return this.listed();
    const at = head === undefined ? 0 : await head;
    return this.checkAt(at > 0 ? at : await this.heads.next());
  }

  /** A listing started after this call (shared with concurrent callers). */
  private async listed(): Promise<Seen> {
    return { view: await this.listings.next(), fresh: true };
  }

  /** The leases as of no earlier than this call, listed only when someone else wrote. */
  private async listedFresh(): Promise<Seen> {
    return { view: await this.fresh(), fresh: true };
  }

  /**
   * Whether the live listing may serve an acquisition, given etcd's revision `at`, read after
   * the call (by its grant, or shared by concurrent callers): when only this registry wrote up
   * to there (its writes answered by then filling every revision above the view's), the view is
   * exact. Otherwise the number of keys under the prefix, compared with what the view expects
   * at that revision (its own writes answered by then, and the keys learned from lost creates,
   * included): the same number, and nobody else created or deleted a key since, so the view
   * serves; else it lists. The count is etcd's in-memory index, no value read, but it walks
   * every key (16–32 ms at about 65,000 on the development machine), so it is asked only when
   * someone else wrote somewhere since the last count that matched (shared by concurrent callers).
   */
  private async checkAt(at: number): Promise<Seen> {
    const live = await this.settled(at);
    if (live === undefined) return this.listed();
    if (live.revision >= at) return this.serve(live, true);
    // Nothing but own writes since a count vouched for the view: it still holds.
    if (live.vouched >= at) return this.serve(live, false);
    // A count in flight serves when it counted at `at` or later; else the next one.
    const inflight = this.counts.current;
    if (inflight !== undefined) {
      const counted = await inflight;
      if (counted.revision >= at) return counted.seen;
    }
    return (await this.counts.next()).seen;
  }

  /** The count half of {@link checkAt}: a count of the prefix, compared with the view's, and its revision. */
  private async countCheck(): Promise<{ seen: Seen; revision: number }> {
    const { revision, value: keys } = await this.store.count(subnetsPrefix(this.prefix));
    const live = await this.settled(revision);
    const seen = async (): Promise<Seen> => {
      if (live === undefined) return this.listed();
      if (live.revision >= revision) return this.serve(live, true);
      if (live.sizeAt(revision) !== keys) return this.listed();
      live.vouch(revision);
      return this.serve(live, false);
    };
    return { seen: await seen(), revision };
  }

  /**
   * The live listing once this registry's writes in flight that may account for the revisions
   * up to `at` have been answered: all of them, or fewer once the view is vouched for up to
   * `at` (every revision up to there known). Notes that every own write up to `at` is in it;
   * undefined when there is no live listing.
   */
  private async settled(at: number): Promise<PatchedSnapshot | undefined> {
    if (this.writing.size > 0 && this.live !== undefined && this.live.vouched < at) {
      await new Promise<void>((done) => this.waiting.add({ at, pending: new Set(this.writing), done }));
    }
    const live = this.live;
    live?.settle(at);
    return live;
  }

  /** The live listing as an acquisition's view: exact (as good as a listing now), or vouched for by a count. */
  private serve(live: PatchedSnapshot, exact: boolean): Seen {
    this.keepLive();
    return { view: live, fresh: exact };
  }

  private async check(): Promise<ListingView> {
    const live = this.live;
    if (live === undefined) return this.listings.next();
    const { revision } = await this.store.get(subnetsPrefix(this.prefix));
    // Own writes still in flight may account for the revisions above the view's.
    if (live.revision < revision && this.writing.size > 0) await Promise.all([...this.writing]);
    const now = this.live;
    if (now !== undefined && now.revision >= revision) {
      this.keepLive();
      return now;
    }
    return this.listings.next();
  }

  private startListing(): Promise<ListingView> {
    const during: [OwnWrite, boolean][] = [];
    this.duringListing.add(during);
    const listing = this.store
      .list(subnetsPrefix(this.prefix), this.onListProgress ? { onPage: this.onListProgress } : undefined)
      .then((res) => {
        const view = new PatchedSnapshot(
          this.prefix,
          new LeaseSnapshot(this.prefix, res.value, res.revision),
        );
        for (const [w, learned] of during) view.apply(w, learned);
        if (this.live === undefined || this.live.revision <= view.revision) this.live = view;
        this.keepLive();
        return view;
      });
    const done = (): void => {
      this.duringListing.delete(during);
    };
    listing.then(done, done);
    return listing;
  }

  /** Keeps the live listing for another idle period (it can be large; an idle registry lets it go). */
  private keepLive(): void {
    // A timestamp per use, not a timer per use (this runs for every acquisition): the one timer
    // pending, when it fires early, waits out the rest of the idle period from the last use.
    this.liveUsed = performance.now();
    if (this.liveTimer === undefined) this.armLive(LIVE_IDLE_MS);
  }

  private armLive(ms: number): void {
    this.liveTimer = setTimeout(() => {
      const left = this.liveUsed + LIVE_IDLE_MS - performance.now();
      if (left > 0) this.armLive(left);
      else this.dropLive();
    }, ms);
    this.liveTimer.unref();
  }

  /** Lets the live listing go; the next read lists. */
  private dropLive(): void {
    if (this.liveTimer !== undefined) clearTimeout(this.liveTimer);
    this.liveTimer = undefined;
    this.live = undefined;
  }

  /**
   * A transaction that writes under the prefix: while it is in flight, checks wait for it; once
   * it succeeded, `written(revision)` is what it wrote, patched into the live listing.
   */
  private write(
    compares: readonly Compare[],
    ops: readonly Op[],
    written: (revision: number) => OwnWrite[],
    failure: readonly Op[] = [],
  ): Promise<TxnResult> {
    const res = this.store.txn(compares, ops, failure);
    const noted = res
      .then((r) => {
        if (r.succeeded && ops.length > 0) this.noteOwn(written(r.revision));
      })
      // Bookkeeping that throws must not leave checks waiting, nor reject unhandled: a view that
      // missed the write is caught by the next count.
      .catch(() => undefined);
    this.writing.add(noted);
    void noted.then(() => this.answered(noted));
    return res;
  }

  /** A write's answer is in (and patched into the view): wakes the checks it was the last one for, or whose revision the view now covers. */
  private answered(noted: Promise<void>): void {
    this.writing.delete(noted);
    const vouched = this.live?.vouched ?? Number.POSITIVE_INFINITY;
    for (const w of this.waiting) {
      w.pending.delete(noted);
      if (w.pending.size > 0 && vouched < w.at) continue;
      this.waiting.delete(w);
      w.done();
    }
  }

  private noteOwn(writes: readonly OwnWrite[]): void {
    for (const w of writes) {
      this.live?.apply(w);
      for (const during of this.duringListing) during.push([w, false]);
    }
  }

  /** Patches what a lost create found holding its key into the live listing (it never makes it exact). */
  private learn(kv: KeyValue): void {
    const w: OwnWrite = { key: kv.key, kv, revision: kv.modRevision };
    this.live?.apply(w, true);
    for (const during of this.duringListing) during.push([w, true]);
  }

  /** The lease cache, started on first use; a failed start is retried by the next call. */
  private cached(): Promise<LeaseCache> {
    if (this.cache === undefined) {
      const started = LeaseCache.start(this.store, this.prefix);
      this.cache = started;
      started.catch(() => {
        if (this.cache === started) this.cache = undefined;
      });
    }
    return this.cache;
  }

  private noteWritten(lease: Lease): void {
    void this.cache?.then((c) => c.noteWritten(lease)).catch(() => undefined);
  }

  private noteDeleted(key: string, revision: number): void {
    void this.cache?.then((c) => c.noteDeleted(key, revision)).catch(() => undefined);
  }

  private async renewWithTtl(
    lease: Lease,
    opts: { attrs?: LeaseAttrs } = {},
  ): Promise<{ lease: Lease; ttl: number }> {
    const value =
      opts.attrs !== undefined ? encodeLeaseValue(keepBackendData(opts.attrs, lease.attrs)) : lease.value;
    const ops = value !== lease.value ? [{ put: lease.key, value, lease: lease.etcdLease }] : [];
    // A put that landed leaves the key exactly as we wrote it (a compare alone writes nothing).
    const res = await guardedWrite(
      () =>
        this.write(guardOf(lease), ops, (r) => [
          putAt(lease.key, value, lease.etcdLease, r, lease.createRevision),
        ]),
      async () =>
        ops.length > 0
          ? await putLanded(this.store, lease.key, value, lease.etcdLease, lease.createRevision)
          : undefined,
    );
    if (res.kind === "lost") {
      const adopted = await this.adoptReservation(lease);
      if (adopted !== null) return { lease: adopted, ttl: 0 };
      throw await this.lostError(lease, "renew");
    }
    const modRevision = res.kind === "written" ? res.revision : res.found.modRevision;
    const renewed =
      ops.length > 0 ? { ...lease, value, attrs: attrsOf(value, lease.attrs), modRevision } : lease;
    if (renewed !== lease) this.noteWritten(renewed);
    if (isReservation(lease)) return { lease: renewed, ttl: 0 };
    const ttl = await this.store.keepAliveOnce(lease.etcdLease);
    if (ttl <= 0) {
      throw new PodnetError(
        "not-found",
        `the lease on ${nameOf(lease.subnet)} expired before it could be renewed; acquire a subnet again`,
      );
    }
    return { lease: renewed, ttl };
  }

  /** An admin turned our lease into a reservation with the same value: still ours, keep it. */
  private async adoptReservation(lease: Lease): Promise<Lease | null> {
    if (isReservation(lease)) return null;
    const { value: kv } = await this.store.get(lease.key);
    if (kv === undefined || kv.lease !== "0" || kv.value.toString("utf8") !== lease.value) return null;
    return { ...lease, etcdLease: "0", modRevision: kv.modRevision };
  }

  /** Why a guarded write on our lease failed; revokes our etcd lease once no key is on it. */
  private async lostError(lease: Lease, action: "renew" | "release"): Promise<PodnetError> {
    const name = nameOf(lease.subnet);
    const { value: kv } = await this.store.get(lease.key);
    if (kv === undefined || kv.lease !== lease.etcdLease) {
      // Our etcd lease no longer carries the key: revoke it so it does not linger for a day,
      // unless another key rides on it (revoking would delete that).
      if (!isReservation(lease)) await revokeUnlessRidden(this.store, lease.etcdLease).catch(() => false);
    }
    const nothing = action === "renew" ? "nothing was written" : "nothing was deleted";
    if (kv === undefined) {
      return new PodnetError(
        "not-found",
        `the lease on ${name} was lost: it expired or was deleted; ${nothing}`,
      );
    }
    const decoded = decodeLeaseValue(kv.value);
    const holder = decoded.ok ? decoded.attrs.publicIP : "a damaged entry";
    return new PodnetError(
      "conflict",
      `the lease on ${name} was lost: it is now held by ${holder}${
        kv.lease === "0" ? " as a reservation" : ""
      }; ${nothing}`,
    );
  }

  /**
   * Makes sure this host's lease is alive and carries `value`; null when it changed or expired
   * meanwhile, with the TTL its renewal told (none for a reservation). A lease seen in the cache
   * is checked against etcd first, since the cache may lag.
   */
  private async reuse(
    lease: Lease,
    value: string,
    fromCache: boolean,
  ): Promise<{ lease: Lease; ttlSeconds?: number } | null> {
    if (fromCache) {
      const { value: kv } = await this.store.get(lease.key);
      if (kv === undefined || kv.modRevision !== lease.modRevision || kv.lease !== lease.etcdLease)
        return null;
    }
    const ttl = isReservation(lease) ? undefined : await this.store.keepAliveOnce(lease.etcdLease);
    if (ttl !== undefined && ttl <= 0) return null;
    const ttlSeconds = ttl !== undefined ? { ttlSeconds: ttl } : {};
    if (lease.value === value) return { lease, ...ttlSeconds };
    // Same etcd lease on the put (a put without one would make the key permanent); "0" keeps a reservation.
    const res = await this.write(
      [{ key: lease.key, modRevision: lease.modRevision }],
      [{ put: lease.key, value, lease: lease.etcdLease }],
      (r) => [putAt(lease.key, value, lease.etcdLease, r, lease.createRevision)],
    );
    if (!res.succeeded) return null;
    const updated = { ...lease, value, attrs: attrsOf(value, lease.attrs), modRevision: res.revision };
    this.noteWritten(updated);
    return { lease: updated, ...ttlSeconds };
  }

  /**
   * Grants an etcd lease and creates the key on it only if absent. When the key exists, the
   * grant is revoked and the answer says what holds the key (read in the same transaction).
   */
  private async create(
    subnet: LeaseSubnet,
    value: string,
    ttl: number,
    granted?: Promise<Grant>,
  ): Promise<{ lease: Lease; ttlSeconds?: number } | { winner: KeyValue | undefined }> {
    const key = leaseKey(this.prefix, subnet);
    const attrs = attrsOf(value); // decoded once, for the lease returned and the one patched into the view
    const { lease: grant, ttl: grantedTtl } = await (granted ?? this.store.grantAt(ttl));
    const ttlSeconds = grantedTtl > 0 ? { ttlSeconds: grantedTtl } : {};
    let res: TxnResult;
    let made: Lease | undefined;
    try {
      res = await this.write(
        [{ key, modRevision: 0 }],
        [{ put: key, value, lease: grant }],
        (r) => {
          made = leaseOf(key, subnet, value, grant, r, r, attrs);
          return [{ ...putAt(key, value, grant, r, r), lease: made }];
        },
        [{ get: key }],
      );
    } catch (err) {
      // The transaction may have committed before the answer was lost: revoking deletes the key too.
      await this.revokeHard(grant);
      throw err;
    }
    const winner = res.gets[0];
    if (
      !res.succeeded &&
      winner !== undefined &&
      winner.lease === grant &&
      winner.value.equals(Buffer.from(value))
    ) {
      // A transport retry of a create that had committed: what holds the key is this very write.
      const lease = leaseOf(key, subnet, value, grant, winner.modRevision, winner.createRevision);
      this.noteOwn([{ key, kv: winner, revision: winner.modRevision }]);
      this.noteWritten(lease);
      return { lease, ...ttlSeconds };
    }
    if (!res.succeeded) {
      await this.revokeHard(grant);
      return { winner };
    }
    const lease = made ?? leaseOf(key, subnet, value, grant, res.revision, res.revision, attrs);
    this.noteWritten(lease);
    return { lease, ...ttlSeconds };
  }

  /** Revokes a grant, once more if the first try fails; a grant that cannot be revoked expires with its TTL. */
  private async revokeHard(grant: string): Promise<void> {
    try {
      await this.store.revoke(grant);
    } catch {
      await this.store.revoke(grant).catch(() => undefined);
    }
  }

  /** Deletes this host's leases that no longer fit, each only if unchanged; returns those deleted. */
  private async removeStale(stale: readonly Lease[]): Promise<Lease[]> {
    const removed: Lease[] = [];
    for (const lease of stale) {
      // Our delete may have landed with its answer lost: then it is ours to finish (revoke).
      const res = await guardedWrite(
        () =>
          this.write([{ key: lease.key, modRevision: lease.modRevision }], [{ delete: lease.key }], (r) => [
            deletedAt(lease.key, r),
          ]),
        () => deleteLanded(this.store, lease.key, lease.etcdLease),
      );
      if (res.kind === "lost") continue;
      if (res.kind === "written") this.noteDeleted(lease.key, res.revision);
      removed.push(lease);
      await revokeUnlessRidden(this.store, lease.etcdLease);
    }
    return removed;
  }
}

/** Throws a usage error for a lease value that could not carry traffic, unless the caller allows it. */
function refuseIncomplete(
  attrs: LeaseAttrs,
  opts: Pick<AcquireRequest, "allowIncomplete" | "incompleteHint">,
): void {
  const incomplete = missingBackendData(attrs);
  if (incomplete === null || opts.allowIncomplete === true) return;
  const hint = opts.incompleteHint === undefined ? "" : `; ${opts.incompleteHint}`;
  throw new PodnetError(
    "usage",
    `a ${attrs.backendType} lease for ${attrs.publicIP} needs a VtepMAC in its BackendData, and ${incomplete}; nothing was written${hint}`,
  );
}

/** The compare that says "this key is still exactly our lease": same value, same etcd lease. */
function guardOf(lease: Lease) {
  return [
    { key: lease.key, value: lease.value },
    { key: lease.key, lease: lease.etcdLease },
  ];
}

/** An own put as the key now reads in etcd (its version is not known here: 0). */
function putAt(
  key: string,
  value: string,
  lease: string,
  revision: number,
  createRevision: number,
): OwnWrite {
  const kv: KeyValue = {
    key,
    value: Buffer.from(value, "utf8"),
    createRevision,
    modRevision: revision,
    version: 0,
    lease,
  };
  return { key, kv, revision };
}

/** An own delete. */
function deletedAt(key: string, revision: number): OwnWrite {
  return { key, kv: undefined, revision };
}

function leaseOf(
  key: string,
  subnet: LeaseSubnet,
  value: string,
  etcdLease: string,
  modRevision: number,
  createRevision: number,
  attrs: LeaseAttrs = attrsOf(value),
): Lease {
  return { key, subnet, attrs, value, etcdLease, modRevision, createRevision };
}

/** The attributes as a reader will decode them from `value`. */
function attrsOf(value: string, fallback?: LeaseAttrs): LeaseAttrs {
  const decoded = decodeLeaseValue(value);
  if (decoded.ok) return decoded.attrs;
  if (fallback !== undefined) return fallback;
  throw new PodnetError("failed", `podnet encoded a lease value it cannot read back: ${value}`);
}

function nameOf(subnet: LeaseSubnet): string {
  return formatLeaseKey(subnet);
}
