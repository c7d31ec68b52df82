/**
 * What `acquire` reads of the leases, decoded no further than it needs: which subnets are
 * occupied (the keys alone say so, a damaged value occupies its subnet all the same), and this
 * host's own leases (only values that could name its PublicIP are decoded). Two sources: one
 * listing ({@link LeaseSnapshot}), or a watch-fed cache for long-running callers
 * ({@link LeaseCache}). Neither decides anything on its own: the create-if-absent transaction
 * does, and a lost race re-lists.
 */
import { OccupiedSubnets } from "./allocator.js";
import type { KeyValue, Store } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import { decodeEntryIn, decodeListing, type Lease, type LeaseListing } from "./lease.js";
import { type LeaseSubnet, parseLeaseKey, parseLeaseKey4 } from "./lease-codec.js";
import { type LeaseWatch, watchLeases } from "./lease-watch.js";

/** The leases as `acquire` sees them at one revision. */
export interface AcquireView {
  readonly revision: number;
  /** Every subnet that occupies space: leases, reservations and damaged entries. */
  occupied(): OccupiedSubnets;
  /** The valid leases whose PublicIP is `publicIP`, in key order. */
  leasesOf(publicIP: string): Lease[];
}

const BACKSLASH = 0x5c;

/** One listing of `<prefix>/subnets/`, kept as etcd gave it and decoded on demand (memoized). */
export class LeaseSnapshot implements AcquireView {
  private readonly dir: string;
  private decoded: LeaseListing | undefined;
  private occupancy: OccupiedSubnets | undefined;
  private owners: OwnerIndex | undefined;

  constructor(
    private readonly prefix: string,
    readonly kvs: readonly KeyValue[],
    readonly revision: number,
  ) {
    this.dir = subnetsPrefix(prefix);
  }

  /** The entry of `key`, found by binary search (the listing is in etcd's key order). */
  get(key: string): KeyValue | undefined {
    const { kvs } = this;
    let lo = 0;
    let hi = kvs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = kvs[mid]!.key;
      if (k === key) return kvs[mid];
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The whole listing decoded, as `LeaseRegistry.list()` returns it. */
  listing(): LeaseListing {
    this.decoded ??= decodeListing(this.prefix, this.kvs, this.revision);
    return this.decoded;
  }

  occupied(): OccupiedSubnets {
    if (this.occupancy !== undefined) return this.occupancy;
    const out = new OccupiedSubnets();
    const { dir } = this;
    for (const kv of this.kvs) {
      const name = kv.key.startsWith(dir) ? kv.key.slice(dir.length) : kv.key;
      addKey(out, name);
    }
    this.occupancy = out;
    return out;
  }

  leasesOf(publicIP: string): Lease[] {
    if (this.decoded !== undefined) return this.decoded.leases.filter((l) => l.attrs.publicIP === publicIP);
    this.owners ??= indexOwners(this.kvs);
    const { byIP, unsure } = this.owners;
    const mine = byIP.get(publicIP);
    const candidates = mine === undefined ? unsure : unsure.length === 0 ? mine : [...mine, ...unsure];
    if (mine !== undefined && unsure.length > 0) candidates.sort((a, b) => a - b);
    const out: Lease[] = [];
    for (const i of candidates) {
      const entry = decodeEntryIn(this.dir, this.kvs[i]!);
      if (entry.kind === "lease" && entry.lease.attrs.publicIP === publicIP) out.push(entry.lease);
    }
    return out;
  }
}

/**
 * Which entries could belong to which PublicIP, from the bytes alone, built once per listing
 * (concurrent acquires share a listing, and each asks for its own host's leases): values
 * written compactly, as flannel and podnet write them, name their PublicIP right after
 * `{"PublicIP":"`; any other value (escapes, spaces, a repeated key, damage) is `unsure` and
 * always decoded.
 * Indices into the listing, ascending.
 */
interface OwnerIndex {
  readonly byIP: Map<string, number[]>;
  readonly unsure: number[];
}

const OWNER_HEAD = Buffer.from('{"PublicIP":"');
const QUOTE = 0x22;
const PUBLIC_IP_KEY = Buffer.from('"PublicIP"');

function indexOwners(kvs: readonly KeyValue[]): OwnerIndex {
  const byIP = new Map<string, number[]>();
  const unsure: number[] = [];
  for (let i = 0; i < kvs.length; i++) {
    const value = kvs[i]!.value;
    const end = value.indexOf(QUOTE, OWNER_HEAD.length);
    if (end < 0 || value.compare(OWNER_HEAD, 0, OWNER_HEAD.length, 0, OWNER_HEAD.length) !== 0) {
      unsure.push(i);
      continue;
    }
    // Escapes could spell another address, and a repeated key overrides the first (JSON.parse's rule).
    if (value.indexOf(BACKSLASH) >= 0 || value.indexOf(PUBLIC_IP_KEY, end) >= 0) {
      unsure.push(i);
      continue;
    }
    const ip = value.toString("utf8", OWNER_HEAD.length, end);
    const list = byIP.get(ip);
    if (list === undefined) byIP.set(ip, [i]);
    else list.push(i);
  }
  return { byIP, unsure };
}

/** Adds the subnet a key name occupies; foreign names occupy nothing. */
export function addKey(out: OccupiedSubnets, name: string): void {
  const packed = parseLeaseKey4(name);
  if (packed >= 0) out.addIPv4(Math.floor(packed / 64), packed % 64);
  else if (packed !== -1) {
    const subnet = parseLeaseKey(name);
    if (subnet !== null) out.add(subnet);
  }
}

/** One key of the cache: the subnet it occupies, and its lease when the value is valid. */
interface CachedEntry {
  readonly subnet: LeaseSubnet;
  readonly lease: Lease | undefined;
  readonly modRevision: number;
}

/** Options of {@link LeaseCache.start}. */
export interface LeaseCacheOptions {
  /** A failure of the watch, reported while it retries (the cache may lag meanwhile). */
  onError?(err: Error): void;
}

/**
 * The leases of a prefix kept current by a watch ({@link watchLeases}): listed once, then
 * patched by events, so a long-running process acquiring many times does not re-list. The
 * view may lag etcd by the watch's delay (longer while etcd is away); callers must treat it as
 * a hint that a create-if-absent transaction confirms, and re-list after a lost race.
 */
export class LeaseCache implements AcquireView {
  private readonly entries = new Map<string, CachedEntry>();
  /** Keys of valid leases by PublicIP. */
  private readonly owners = new Map<string, Set<string>>();
  private occupancy: OccupiedSubnets | undefined;
  private watch: LeaseWatch | undefined;
  private seen = 0;

  private constructor(private readonly prefix: string) {}

  /** Lists the prefix and starts watching it; rejects when the first listing fails. */
  static async start(store: Store, prefix: string, opts: LeaseCacheOptions = {}): Promise<LeaseCache> {
    const cache = new LeaseCache(prefix);
    cache.watch = await watchLeases(
      store,
      prefix,
      {
        snapshot: (listing) => cache.load(listing),
        events: (events) => {
          for (const e of events) {
            if (e.type === "added" || e.type === "changed") cache.put(e.lease.key, e.lease, e.revision);
            else if (e.type === "removed") cache.remove(e.key, e.revision);
            else if (e.type === "damaged") cache.putDamaged(e.key, e.revision);
            cache.seen = Math.max(cache.seen, e.revision);
          }
        },
        error: (err) => opts.onError?.(err),
      },
      // Removals need not say whether they expired: skip the lease lookup that would tell.
      { ownDelete: () => true },
    );
    return cache;
  }

  /** Every change up to this revision is in the cache (as far as the watch has delivered). */
  get revision(): number {
    return Math.max(this.seen, this.watch?.revision ?? 0);
  }

  /** Stops the watch; the cache keeps its last state. */
  async stop(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    await watch?.stop();
  }

  /** This process wrote `lease` (at `lease.modRevision`): know it before the watch tells. */
  noteWritten(lease: Lease): void {
    this.put(lease.key, lease, lease.modRevision);
  }

  /** This process deleted `key` at `revision`. */
  noteDeleted(key: string, revision: number): void {
    this.remove(key, revision);
  }

  occupied(): OccupiedSubnets {
    if (this.occupancy !== undefined) return this.occupancy;
    const out = new OccupiedSubnets();
    for (const entry of this.entries.values()) out.add(entry.subnet);
    this.occupancy = out;
    return out;
  }

  leasesOf(publicIP: string): Lease[] {
    const keys = this.owners.get(publicIP);
    if (keys === undefined) return [];
    const out: Lease[] = [];
    for (const key of [...keys].sort()) {
      const lease = this.entries.get(key)?.lease;
      if (lease !== undefined) out.push(lease);
    }
    return out;
  }

  // ---- state ----

  private load(listing: LeaseListing): void {
    for (const lease of listing.leases) this.put(lease.key, lease, lease.modRevision);
    for (const d of listing.damaged)
      this.set(d.key, { subnet: d.subnet, lease: undefined, modRevision: d.modRevision });
    this.seen = listing.revision;
  }

  private put(key: string, lease: Lease, revision: number): void {
    this.set(key, { subnet: lease.subnet, lease, modRevision: revision });
  }

  private putDamaged(key: string, revision: number): void {
    const name = key.startsWith(subnetsPrefix(this.prefix))
      ? key.slice(subnetsPrefix(this.prefix).length)
      : key;
    const subnet = parseLeaseKey(name);
    if (subnet === null) return;
    this.set(key, { subnet, lease: undefined, modRevision: revision });
  }

  /** Replaces a key's entry unless the cache already knows a newer write of it. */
  private set(key: string, entry: CachedEntry): void {
    const old = this.entries.get(key);
    if (old !== undefined && old.modRevision > entry.modRevision) return;
    this.forget(key, old);
    this.entries.set(key, entry);
    // A key names its subnet, so only a new key changes what is occupied.
    if (old === undefined) this.occupancy?.add(entry.subnet);
    if (entry.lease !== undefined) {
      const ip = entry.lease.attrs.publicIP;
      const keys = this.owners.get(ip);
      if (keys === undefined) this.owners.set(ip, new Set([key]));
      else keys.add(key);
    }
  }

  private remove(key: string, revision: number): void {
    const old = this.entries.get(key);
    if (old === undefined || old.modRevision > revision) return;
    this.forget(key, old);
    this.entries.delete(key);
    this.occupancy = undefined;
  }

  private forget(key: string, old: CachedEntry | undefined): void {
    const ip = old?.lease?.attrs.publicIP;
    if (ip === undefined) return;
    const keys = this.owners.get(ip);
    keys?.delete(key);
    if (keys?.size === 0) this.owners.delete(ip);
  }
}
