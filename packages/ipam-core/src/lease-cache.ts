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
  /** Whether a valid lease other than `lease` is attached to the same etcd lease. */
  sharesEtcdLease(lease: Lease): boolean;
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

  sharesEtcdLease(lease: Lease): boolean {
    for (const kv of this.kvs) {
      if (kv.lease !== lease.etcdLease || kv.key === lease.key) continue;
      if (decodeEntryIn(this.dir, kv).kind === "lease") return true;
    }
    return false;
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
function addKey(out: OccupiedSubnets, name: string): void {
  const packed = parseLeaseKey4(name);
  if (packed >= 0) out.addIPv4(Math.floor(packed / 64), packed % 64);
  else if (packed !== -1) {
    const subnet = parseLeaseKey(name);
    if (subnet !== null) out.add(subnet);
  }
}

/** A write this process made under the prefix, as its transaction's answer told it. */
export interface OwnWrite {
  readonly key: string;
  /** The key as written, or undefined when the write deleted it. */
  readonly kv: KeyValue | undefined;
  /** The revision the write committed at. */
  readonly revision: number;
}

/** Key order (etcd's, for the ASCII keys of leases). */
function byKey(a: { readonly key: string }, b: { readonly key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Own writes kept beside the listing before they are folded into a new one. */
const MAX_PATCHES = 4096;

/**
 * One listing patched with this process's own writes since (from their transactions' answers),
 * and the revision up to which it is exact: every revision between the listing's and
 * {@link revision} is one of those writes. When etcd's current revision is no higher, nobody
 * else wrote anything meanwhile and the view is as good as a listing taken now, without listing.
 */
export class PatchedSnapshot implements AcquireView {
  private base: LeaseSnapshot;
  private readonly patches = new Map<string, OwnWrite>();
  /** The valid leases among the patches, by key, and their keys by PublicIP (decoded once, on apply). */
  private readonly patchLeases = new Map<string, Lease>();
  private readonly patchOwners = new Map<string, Set<string>>();
  /** Revisions above {@link revision} that were own writes (they close a gap once it fills). */
  private readonly ahead = new Set<number>();
  private exact: number;
  private occupancy: OccupiedSubnets | undefined;
  private decoded: LeaseListing | undefined;

  constructor(
    private readonly prefix: string,
    base: LeaseSnapshot,
  ) {
    this.base = base;
    this.exact = base.revision;
  }

  /** Every revision up to this one is in the view. */
  get revision(): number {
    return this.exact;
  }

  /** Takes in an own write; one the listing already holds (at or below its revision) changes nothing. */
  apply(write: OwnWrite): void {
    if (write.revision <= this.base.revision) return;
    const old = this.patches.get(write.key);
    if (old === undefined || old.revision < write.revision) {
      this.patches.set(write.key, write);
      this.unindex(write.key);
      const entry = write.kv === undefined ? undefined : decodeEntryIn(subnetsPrefix(this.prefix), write.kv);
      if (entry?.kind === "lease") {
        this.patchLeases.set(write.key, entry.lease);
        const ip = entry.lease.attrs.publicIP;
        const keys = this.patchOwners.get(ip);
        if (keys === undefined) this.patchOwners.set(ip, new Set([write.key]));
        else keys.add(write.key);
      }
      this.decoded = undefined;
      if (write.kv === undefined) this.occupancy = undefined;
      else if (old === undefined || old.kv === undefined) {
        // A key names its subnet: only a new key changes what is occupied.
        const dir = subnetsPrefix(this.prefix);
        if (this.occupancy !== undefined)
          addKey(this.occupancy, write.key.startsWith(dir) ? write.key.slice(dir.length) : write.key);
      }
    }
    if (write.revision > this.exact) this.ahead.add(write.revision);
    while (this.ahead.delete(this.exact + 1)) this.exact++;
    if (this.patches.size > MAX_PATCHES) this.fold();
  }

  /** The listing as of {@link revision}, as `LeaseRegistry.list()` returns it. */
  listing(): LeaseListing {
    this.decoded ??= decodeListing(this.prefix, this.merged(this.exact), this.exact);
    return this.decoded;
  }

  occupied(): OccupiedSubnets {
    if (this.occupancy !== undefined) return this.occupancy;
    if (this.patches.size === 0) {
      // The listing's own occupancy, patched in place from now on (the listing is this view's alone).
      this.occupancy = this.base.occupied();
      return this.occupancy;
    }
    const out = new OccupiedSubnets();
    const dir = subnetsPrefix(this.prefix);
    for (const kv of this.merged(Number.POSITIVE_INFINITY))
      addKey(out, kv.key.startsWith(dir) ? kv.key.slice(dir.length) : kv.key);
    this.occupancy = out;
    return out;
  }

  leasesOf(publicIP: string): Lease[] {
    const fromBase = this.base.leasesOf(publicIP);
    if (this.patches.size === 0) return fromBase;
    const out = fromBase.filter((l) => !this.patches.has(l.key));
    for (const key of this.patchOwners.get(publicIP) ?? []) {
      const lease = this.patchLeases.get(key);
      if (lease !== undefined) out.push(lease);
    }
    return out.sort(byKey);
  }

  sharesEtcdLease(lease: Lease): boolean {
    const dir = subnetsPrefix(this.prefix);
    for (const kv of this.merged(Number.POSITIVE_INFINITY)) {
      if (kv.lease !== lease.etcdLease || kv.key === lease.key) continue;
      if (decodeEntryIn(dir, kv).kind === "lease") return true;
    }
    return false;
  }

  /** The listing's entries with the own writes up to `upTo` applied, in key order. */
  private merged(upTo: number): KeyValue[] {
    const kept = this.base.kvs.filter((kv) => {
      const p = this.patches.get(kv.key);
      return p === undefined || p.revision > upTo;
    });
    const added: KeyValue[] = [];
    for (const p of this.patches.values()) if (p.kv !== undefined && p.revision <= upTo) added.push(p.kv);
    if (added.length === 0) return kept;
    added.sort(byKey);
    const out: KeyValue[] = [];
    let i = 0;
    for (const kv of kept) {
      while (i < added.length && byKey(added[i]!, kv) < 0) out.push(added[i++]!);
      out.push(kv);
    }
    while (i < added.length) out.push(added[i++]!);
    return out;
  }

  /** Forgets the decoded lease of a patch. */
  private unindex(key: string): void {
    const lease = this.patchLeases.get(key);
    if (lease === undefined) return;
    this.patchLeases.delete(key);
    const keys = this.patchOwners.get(lease.attrs.publicIP);
    keys?.delete(key);
    if (keys?.size === 0) this.patchOwners.delete(lease.attrs.publicIP);
  }

  /** Folds the writes up to {@link revision} into the listing, so the patches stay few. */
  private fold(): void {
    const kvs = this.merged(this.exact);
    for (const [key, p] of this.patches) {
      if (p.revision > this.exact) continue;
      this.patches.delete(key);
      this.unindex(key);
    }
    this.base = new LeaseSnapshot(this.prefix, kvs, this.exact);
    this.occupancy = undefined;
    this.decoded = undefined;
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

  sharesEtcdLease(lease: Lease): boolean {
    for (const [key, entry] of this.entries) {
      if (key !== lease.key && entry.lease?.etcdLease === lease.etcdLease) return true;
    }
    return false;
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
