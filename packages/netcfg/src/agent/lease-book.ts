/**
 * Every lease the agent knows of, its own included, as a compact record (a value hash and
 * whether it lies in the network's range), fanned out to each family's peer table; and the
 * log and counts of a batch of watch events.
 */
import {
  hasIPv4,
  type Lease,
  type LeaseEvent,
  type LeaseNetwork,
  type LeaseWatch,
  rangeContains,
  rangeSize,
  type Store,
  watchLeases,
} from "@podnet/ipam-core";
import { describeLease, EventCounts, MAX_EVENT_LINES, valueHash } from "./lease-log.js";
import type { LogMeta } from "./options.js";
import type { PeerTable } from "./peer-table.js";

/** What the book keeps of one lease. */
interface LeaseRecord {
  /** A hash of its value, to tell a renewal (same value) from a change without keeping the value. */
  readonly value: number;
  /** Its subnet lies in the network's range (the subnets-used metric). */
  readonly inRange: boolean;
}

/** The leases and the peer tables they feed. */
export class LeaseBook {
  private readonly records = new Map<string, LeaseRecord>();
  private used = 0;
  /** Every family's peer table (empty until this host's lease is known). */
  tables: PeerTable[] = [];
  /** This host's lease key: recorded, never planned as a peer. */
  ownKey: string | undefined;

  constructor(
    private readonly network: LeaseNetwork,
    private readonly log: (line: string, meta?: LogMeta) => void,
  ) {}

  /** Leases known. */
  get size(): number {
    return this.records.size;
  }

  /** Leases inside the network's range. */
  get inRange(): number {
    return this.used;
  }

  /** Subnets the range holds. */
  get capacity(): number {
    const r = this.network;
    return Number(r.ipv4 !== undefined ? rangeSize(r.ipv4) : r.ipv6 !== undefined ? rangeSize(r.ipv6) : 0);
  }

  /** A warning line about an entry. */
  warn(line: string): void {
    this.log(line, { level: "warn" });
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  /** Records a lease's new state (undefined: gone) and hands it to every peer table. */
  track(key: string, lease: Lease | undefined): void {
    if (this.records.get(key)?.inRange) this.used--;
    if (lease === undefined) {
      this.records.delete(key);
    } else {
      const r = this.network;
      const inRange =
        r.ipv4 !== undefined
          ? hasIPv4(lease.subnet) && rangeContains(r.ipv4, lease.subnet.ipv4)
          : r.ipv6 !== undefined &&
            lease.subnet.ipv6 !== undefined &&
            rangeContains(r.ipv6, lease.subnet.ipv6);
      this.records.set(key, { value: valueHash(lease.value), inRange });
      if (inRange) this.used++;
    }
    if (key === this.ownKey) return;
    for (const table of this.tables) table.set(key, lease);
  }

  /**
   * Applies a batch of watch events (this host's own key goes to `own`), logging a line per
   * lease for a few and counts for a burst.
   */
  apply(events: readonly LeaseEvent[], own: (e: LeaseEvent) => void): void {
    const each = events.length <= MAX_EVENT_LINES;
    const counts = new EventCounts();
    for (const e of events) {
      const key = e.type === "added" || e.type === "changed" ? e.lease.key : e.key;
      if (key === this.ownKey) {
        own(e);
        continue;
      }
      const peer = { fields: { peer: key } };
      switch (e.type) {
        case "added":
          if (each) this.log(`lease added: ${describeLease(e.lease)}`, peer);
          counts.added++;
          this.track(key, e.lease);
          break;
        case "changed":
          // A renewal rewrites the same value: not worth a line.
          if (this.records.get(key)?.value !== valueHash(e.lease.value)) {
            if (each) this.log(`lease changed: ${describeLease(e.lease)}`, peer);
            counts.changed++;
          }
          this.track(key, e.lease);
          break;
        case "removed":
          if (each)
            this.log(`lease ${e.expired ? "gone (released, revoked or expired)" : "deleted"}: ${key}`, peer);
          if (e.expired) counts.gone++;
          else counts.deleted++;
          this.track(key, undefined);
          break;
        case "damaged":
          this.log(`skipping damaged lease ${key}: ${e.reason}`, { level: "warn", ...peer });
          this.track(key, undefined);
          break;
        case "foreign":
          this.log(`skipping foreign key ${key}: ${e.reason}`, { level: "warn", ...peer });
          break;
      }
    }
    const summary = counts.summary();
    if (!each && summary !== "") this.log(summary);
  }
}

/** What the book's watch tells the agent beyond the leases themselves. */
export interface WatchHooks {
  /** etcd answered (the listing, a batch of events). */
  answered(): void;
  /** The watch failed and retries. */
  failed(err: Error): void;
  /** The first listing is in the book. */
  snapshot(): void;
  /** A batch of events arrived (the agent applies them with {@link LeaseBook.apply}). */
  events(events: LeaseEvent[]): void;
}

/** Lists the leases into `book` (damaged and foreign entries logged), then watches from that revision. */
export function watchInto(
  book: LeaseBook,
  store: Store,
  prefix: string,
  hooks: WatchHooks,
): Promise<LeaseWatch> {
  return watchLeases(
    store,
    prefix,
    {
      snapshot: (listing) => {
        hooks.answered();
        for (const lease of listing.leases) book.track(lease.key, lease);
        for (const d of listing.damaged) book.warn(`skipping damaged lease ${d.key}: ${d.reason}`);
        for (const f of listing.foreign) book.warn(`skipping foreign key ${f.key}: ${f.reason}`);
        hooks.snapshot();
      },
      events: (events) => hooks.events(events),
      error: (err) => hooks.failed(err),
    },
    // The book keeps its own compact record per lease; the watcher need not keep the leases.
    { backoff: { initialMs: 100, maxMs: 5000 }, keepLeases: false },
  );
}
