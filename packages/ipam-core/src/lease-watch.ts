/**
 * Watching leases as flanneld does (flannel-compat.md section 7), without its gaps: a
 * snapshot, then every change exactly once, across compaction, stream errors and etcd
 * restarts. The watcher keeps the current leases so every event carries what it replaced,
 * and so a resync after compaction can report exactly the differences.
 */
import { isPodnetError } from "./errors.js";
import type { KeyValue, Store, Watch, WatchEvent } from "./etcd/store.js";
import { isStoreClosed, StoreClosedError } from "./etcd/store-closed.js";
import { subnetsPrefix } from "./keys.js";
import { type DamagedEntry, decodeEntry, decodeListing, type Lease, type LeaseListing } from "./lease.js";
import { classifyEntry, leaseNameOf } from "./lease-codec.js";

/**
 * A change under `<prefix>/subnets/`, in etcd's order. `revision` is the change's revision,
 * or after a resync the listing's revision; it never goes backwards.
 */
export type LeaseEvent =
  /** A lease appeared (a new key, or a damaged value replaced by a valid one). */
  | { readonly type: "added"; readonly lease: Lease; readonly revision: number }
  /** A lease key was written again (renewal, new attributes). */
  | {
      readonly type: "changed";
      readonly lease: Lease;
      readonly previous: Lease | undefined;
      readonly revision: number;
    }
  /**
   * A lease (or damaged entry, then `previous` is undefined) went away. `expired` is true when
   * its etcd lease no longer exists after the delete: a TTL expiry, or a revoke, which etcd
   * records the same way. An explicit delete leaves the etcd lease alive, so it reads false.
   */
  | {
      readonly type: "removed";
      readonly key: string;
      readonly previous: Lease | undefined;
      readonly revision: number;
      readonly expired: boolean;
    }
  /** A key under `subnets/` that names no subnet was written or deleted; skipped. */
  | { readonly type: "foreign"; readonly key: string; readonly reason: string; readonly revision: number }
  /** A subnet key now holds a value that is not a lease; `previous` is the lease it replaced. */
  | {
      readonly type: "damaged";
      readonly key: string;
      readonly reason: string;
      readonly revision: number;
      readonly previous: Lease | undefined;
    };

/** What the caller of {@link watchLeases} hears. */
export interface LeaseWatchHandlers {
  /** The initial listing, once; a later resync arrives as events, never as a second snapshot. */
  snapshot(listing: LeaseListing): void;
  /** A batch of events, in revision order; never empty. */
  events(events: LeaseEvent[]): void;
  /** A non-fatal failure, reported while the watcher retries. */
  error?(err: Error): void;
}

/** Options of {@link watchLeases}. */
export interface LeaseWatchOptions {
  /**
   * The first revision to deliver. Without `known`, the snapshot is the listing at
   * `fromRevision - 1` (or the current listing when that revision is compacted).
   */
  fromRevision?: number;
  /**
   * The leases the caller already holds as of `fromRevision - 1` (e.g. a previous watch's
   * `current()`): no snapshot is taken, and a compacted `fromRevision` resyncs against them.
   */
  known?: Iterable<Lease>;
  /** Retry delays after failures: doubling from `initialMs` up to `maxMs` (flannel: 100 ms to 5 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Deletes made by the caller itself: never reported as expired. */
  ownDelete?(key: string, revision: number): boolean;
  /**
   * Keep the current leases (default true). False: the watcher keeps only each lease's etcd
   * lease and revision, for a caller that keeps its own compact records of 10,000s of leases.
   * Every event's `previous` is then undefined ("changed" still tells a lease seen before from
   * a new one, and "removed" still reports `expired`), and `current()` throws.
   */
  keepLeases?: boolean;
  /** Stops the watch once aborted, as {@link LeaseWatch.stop} does; an already aborted signal rejects at once. */
  signal?: AbortSignal | undefined;
}

/** A running lease watch. */
export interface LeaseWatch extends AsyncDisposable {
  /** Cancels the watch, its retries and timers; no handler is called once it resolves. */
  stop(): Promise<void>;
  /** The same as {@link stop}, under the name every connection-holding podnet object has. */
  close(): Promise<void>;
  /** Every change up to this revision has been delivered. */
  readonly revision: number;
  /** The leases as of {@link revision}, by key; throws when watching with `keepLeases: false`. */
  current(): ReadonlyMap<string, Lease>;
}

const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 5000 };

/**
 * Lists the leases under `<prefix>/subnets/`, hands over the snapshot, then watches from the
 * listing's revision + 1. Rejects only when the first listing fails; afterwards failures are
 * reported through `handlers.error` and retried.
 */
export async function watchLeases(
  store: Store,
  prefix: string,
  handlers: LeaseWatchHandlers,
  opts: LeaseWatchOptions = {},
): Promise<LeaseWatch> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const watcher = new LeaseWatcher(store, prefix, handlers, opts);
  const stop = (): Promise<void> => {
    signal?.removeEventListener("abort", onAbort);
    return watcher.stop();
  };
  const onAbort = (): void => void stop().catch(() => undefined);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await watcher.start();
  } catch (err) {
    await stop();
    throw err;
  }
  if (signal?.aborted) await stop();
  return {
    stop,
    close: stop,
    [Symbol.asyncDispose]: stop,
    get revision() {
      return watcher.revision;
    },
    current: () => watcher.current(),
  };
}

/** What the watcher holds of a current lease: the lease, or with `keepLeases: false` only this. */
type Held = Lease | { readonly etcdLease: string; readonly modRevision: number };

class LeaseWatcher {
  /** Every change up to here has been delivered. */
  revision = 0;
  private readonly leases = new Map<string, Held>();
  private readonly keepLeases: boolean;
  private readonly damaged = new Map<string, DamagedEntry>();
  /** Foreign keys by the revision they were last reported at. */
  private readonly foreign = new Map<string, number>();
  private readonly dir: string;
  private readonly backoff: { initialMs: number; maxMs: number };
  /** Every step runs on this chain, one after the other, so the state changes in etcd's order. */
  private chain: Promise<void> = Promise.resolve();
  /** Bumped whenever a watch is abandoned; callbacks of older watches are ignored. */
  private generation = 0;
  private watch: Watch | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private attempt = 0;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly handlers: LeaseWatchHandlers,
    private readonly opts: LeaseWatchOptions,
  ) {
    this.dir = subnetsPrefix(prefix);
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.keepLeases = opts.keepLeases ?? true;
  }

  private unsubscribe: (() => void) | undefined;

  /**
   * From the first listing on (its own failure rejects watchLeases): a store closed under
   * the watch is said once and stops it, as its stream may end without a word.
   */
  private listenForClose(): void {
    this.unsubscribe = this.store.onClose?.(() => this.report(new StoreClosedError()));
  }

  current(): Map<string, Lease> {
    if (!this.keepLeases) throw new TypeError("watchLeases: current() needs `keepLeases`");
    return new Map(this.leases as Map<string, Lease>);
  }

  private hold(lease: Lease): Held {
    return this.keepLeases ? lease : { etcdLease: lease.etcdLease, modRevision: lease.modRevision };
  }

  /** A held lease as an event's `previous`. */
  private shown(held: Held | undefined): Lease | undefined {
    return this.keepLeases ? (held as Lease | undefined) : undefined;
  }

  async start(): Promise<void> {
    const from = this.opts.fromRevision;
    if (this.opts.known !== undefined) {
      if (from === undefined) throw new TypeError("watchLeases: `known` needs `fromRevision`");
      for (const lease of this.opts.known) this.leases.set(lease.key, this.hold(lease));
      this.revision = from - 1;
      // The resume point may be compacted already: probe first, as after any failure.
      this.enqueue(() => this.resume());
      this.listenForClose();
      return;
    }
    const listing = await this.initialListing(from);
    this.revision = listing.revision;
    for (const lease of listing.leases) this.leases.set(lease.key, this.hold(lease));
    for (const entry of listing.damaged) this.damaged.set(entry.key, entry);
    for (const entry of listing.foreign) this.foreign.set(entry.key, entry.modRevision);
    this.handlers.snapshot(listing);
    this.enqueue(() => this.startWatch());
    this.listenForClose();
  }

  private async initialListing(from: number | undefined): Promise<LeaseListing> {
    if (from !== undefined && from <= 1) return decodeListing(this.prefix, [], 0);
    if (from !== undefined) {
      try {
        const res = await this.store.list(this.dir, { revision: from - 1 });
        // Revision 0 would mean "now" to etcd, so the listing names the revision asked for.
        return decodeListing(this.prefix, res.value, from - 1);
      } catch (err) {
        if (!isPodnetError(err, "compacted")) throw err;
      }
    }
    const res = await this.store.list(this.dir);
    return decodeListing(this.prefix, res.value, res.revision);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const watch = this.watch;
    this.watch = undefined;
    await Promise.all([watch?.cancel(), this.chain]);
  }

  private enqueue(step: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(() => (this.stopped ? undefined : step()))
      .catch((err: unknown) => this.report(err));
  }

  private report(err: unknown): void {
    if (this.stopped) return;
    try {
      this.handlers.error?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A throwing error handler must not stop the watcher.
    }
    // A closed store never answers again: retrying would only keep the process alive.
    if (isStoreClosed(err)) void this.stop();
  }

  private retry(step: () => Promise<void> | void): void {
    if (this.stopped) return;
    const delay = Math.min(this.backoff.initialMs * 2 ** this.attempt, this.backoff.maxMs);
    this.attempt = Math.min(this.attempt + 1, 30);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.enqueue(step);
    }, delay);
    this.timers.add(timer);
  }

  /** Abandons the current watch; its late callbacks are ignored. */
  private abandon(): void {
    this.generation++;
    const watch = this.watch;
    this.watch = undefined;
    void watch?.cancel().catch(() => undefined);
  }

  /**
   * Before watching again from an older revision: when it is compacted, resync instead.
   * Reading at `revision` fails exactly when watching from it would (or one revision early,
   * which only costs a needless resync); it also tells whether etcd answers at all.
   */
  private async resume(): Promise<void> {
    try {
      await this.store.get(this.dir, { revision: this.revision });
    } catch (err) {
      if (isPodnetError(err, "compacted")) return this.resync();
      this.report(err);
      return this.retry(() => this.resume());
    }
    this.startWatch();
  }

  /** Starts a watch from `revision + 1`; does not wait for it (etcd may be away for long). */
  private startWatch(): void {
    const generation = ++this.generation;
    const started = Date.now();
    const live = (): boolean => !this.stopped && generation === this.generation;
    const failed = (err: Error): void => {
      if (!live()) return;
      // A watch that ran for a while was healthy: the next retry starts from the shortest delay.
      if (Date.now() - started > this.backoff.maxMs) this.attempt = 0;
      this.abandon();
      this.report(err);
      this.retry(() => this.resume());
    };
    this.store
      .watch(this.dir, this.revision + 1, {
        events: (events) => {
          if (live()) this.enqueue(() => this.apply(events));
        },
        compacted: () => {
          if (!live()) return;
          this.abandon();
          this.enqueue(() => this.resync());
        },
        error: failed,
      })
      .then(
        (watch) => {
          if (live()) this.watch = watch;
          else void watch.cancel().catch(() => undefined);
        },
        (err: unknown) => {
          if (!live()) return;
          if (isPodnetError(err, "compacted")) {
            this.generation++;
            this.enqueue(() => this.resync());
          } else failed(err instanceof Error ? err : new Error(String(err)));
        },
      );
  }

  /** Re-lists after compaction, reports the differences as events, and watches on. */
  private async resync(): Promise<void> {
    let listing: LeaseListing;
    try {
      const res = await this.store.list(this.dir);
      listing = decodeListing(this.prefix, res.value, res.revision);
    } catch (err) {
      this.report(err);
      return this.retry(() => this.resync());
    }
    const events = await this.diff(listing);
    if (this.stopped) return;
    this.revision = listing.revision;
    this.attempt = 0;
    this.emit(events);
    this.startWatch();
  }

  /**
   * Applies one watch response; events at or below `revision` were delivered already. The
   * revision advances with the events, not the response header: while etcd catches a watch
   * up, the header names the store's newest revision ahead of the events still to come.
   */
  private async apply(batch: readonly WatchEvent[]): Promise<void> {
    const delivered = this.revision;
    const events: (LeaseEvent | Promise<LeaseEvent>)[] = [];
    for (const { type, kv } of batch) {
      const revision = kv.modRevision;
      if (revision <= delivered) continue;
      const event = type === "put" ? this.put(kv) : this.delete(kv.key, revision);
      if (event) events.push(event);
      this.revision = Math.max(this.revision, revision);
    }
    if (events.length > 0) this.attempt = 0;
    this.emit(await Promise.all(events));
  }

  private put(kv: KeyValue): LeaseEvent | undefined {
    const decoded = decodeEntry(this.prefix, kv);
    const revision = kv.modRevision;
    if (decoded.kind === "foreign") {
      if (this.foreign.get(kv.key) === revision) return undefined;
      this.foreign.set(kv.key, revision);
      return { type: "foreign", key: kv.key, reason: decoded.entry.reason, revision };
    }
    const held = this.leases.get(kv.key);
    const previous = this.shown(held);
    if (decoded.kind === "damaged") {
      this.leases.delete(kv.key);
      this.damaged.set(kv.key, decoded.entry);
      return { type: "damaged", key: kv.key, reason: decoded.entry.reason, revision, previous };
    }
    this.damaged.delete(kv.key);
    this.leases.set(kv.key, this.hold(decoded.lease));
    return held
      ? { type: "changed", lease: decoded.lease, previous, revision }
      : { type: "added", lease: decoded.lease, revision };
  }

  /** Forgets a deleted key; undefined when it was nothing the caller knew of. */
  private delete(key: string, revision: number): LeaseEvent | Promise<LeaseEvent> | undefined {
    const entry = classifyEntry(leaseNameOf(this.prefix, key) ?? key, "");
    if (entry.kind === "foreign") {
      this.foreign.delete(key);
      return { type: "foreign", key, reason: `${entry.reason}; it was deleted`, revision };
    }
    const previous = this.leases.get(key);
    const wasDamaged = this.damaged.delete(key);
    this.leases.delete(key);
    if (!previous && !wasDamaged) return undefined;
    return this.removal(key, previous, revision);
  }

  /**
   * A removal, `expired` when the previous lease's etcd lease is gone too: a TTL expiry or a
   * revoke (etcd records both alike), unless the caller says the delete was its own. An
   * explicit delete leaves the etcd lease alive. Best effort: when etcd cannot tell, false.
   */
  private async removal(key: string, held: Held | undefined, revision: number): Promise<LeaseEvent> {
    let expired = false;
    if (held && held.etcdLease !== "0" && !this.opts.ownDelete?.(key, revision)) {
      try {
        expired = (await this.store.timeToLive(held.etcdLease)) === -1;
      } catch (err) {
        this.report(err);
      }
    }
    return { type: "removed", key, previous: this.shown(held), revision, expired };
  }

  /**
   * The events that turn the current state into `listing`, applied to the state. They all
   * carry the listing's revision (the changes' own revisions may be compacted away), so
   * revisions never go backwards across a resync.
   */
  private async diff(listing: LeaseListing): Promise<LeaseEvent[]> {
    const revision = listing.revision;
    const leases = new Map(listing.leases.map((l) => [l.key, l]));
    const damaged = new Map(listing.damaged.map((d) => [d.key, d]));
    const foreign = new Map(listing.foreign.map((f) => [f.key, f]));
    const keys = [
      ...new Set([
        ...this.leases.keys(),
        ...this.damaged.keys(),
        ...this.foreign.keys(),
        ...leases.keys(),
        ...damaged.keys(),
        ...foreign.keys(),
      ]),
    ].sort();
    const events: (LeaseEvent | Promise<LeaseEvent>)[] = [];
    for (const key of keys) {
      const lease = leases.get(key);
      const bad = damaged.get(key);
      const alien = foreign.get(key);
      const held = this.leases.get(key);
      const previous = this.shown(held);
      if (lease) {
        if (held?.modRevision === lease.modRevision) continue;
        events.push(
          held ? { type: "changed", lease, previous, revision } : { type: "added", lease, revision },
        );
      } else if (bad) {
        if (this.damaged.get(key)?.modRevision === bad.modRevision) continue;
        events.push({ type: "damaged", key, reason: bad.reason, revision, previous });
      } else if (alien) {
        if (this.foreign.get(key) === alien.modRevision) continue;
        events.push({ type: "foreign", key, reason: alien.reason, revision });
      } else {
        const gone = this.delete(key, revision);
        if (gone) events.push(gone);
      }
    }
    const settled = await Promise.all(events);
    this.leases.clear();
    for (const [key, lease] of leases) this.leases.set(key, this.hold(lease));
    this.damaged.clear();
    for (const [key, entry] of damaged) this.damaged.set(key, entry);
    this.foreign.clear();
    for (const [key, entry] of foreign) this.foreign.set(key, entry.modRevision);
    return settled;
  }

  private emit(events: LeaseEvent[]): void {
    if (events.length === 0 || this.stopped) return;
    try {
      this.handlers.events(events);
    } catch (err) {
      this.report(err);
    }
  }
}
