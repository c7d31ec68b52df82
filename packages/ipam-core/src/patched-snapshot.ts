/**
 * The long-running registry's shared view of the leases: its last listing patched with what
 * its transactions' answers told it since (its own writes, and what won a create it lost),
 * knowing the revision up to which it is exact, and how many keys etcd should count under the
 * prefix if nobody else created or deleted one. That count is the cheap signal (etcd answers it
 * from its in-memory index) that decides whether an acquisition may go on with this view or
 * must list again.
 */
import { OccupiedSubnets } from "./allocator.js";
import type { KeyValue } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import { decodeEntryIn, decodeListing, type Lease, type LeaseListing } from "./lease.js";
import { type AcquireView, addKey, LeaseSnapshot } from "./lease-cache.js";

/** A write under the prefix, as a transaction's answer told it. */
export interface OwnWrite {
  readonly key: string;
  /** The key as written, or undefined when the write deleted it. */
  readonly kv: KeyValue | undefined;
  /** The revision the write committed at (for a key learned of: its mod revision). */
  readonly revision: number;
  /** `kv` as a lease, when the writer has it decoded already (the view then need not decode it again). */
  readonly lease?: Lease;
}

/** Key order (etcd's, for the ASCII keys of leases). */
function byKey(a: { readonly key: string }, b: { readonly key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Writes kept beside the listing before they are folded into a new one. */
const MAX_PATCHES = 4096;

/**
 * One listing patched with this process's own writes since (from their transactions' answers),
 * and the revision up to which it is exact: every revision between the listing's and
 * {@link revision} is one of those writes. When etcd's current revision is no higher, nobody
 * else wrote anything meanwhile and the view is as good as a listing taken now, without listing.
 *
 * Keys learned of otherwise (what won a lost create) are patched in too, but never make the
 * view exact: other writes may lie between. Once the view has been folded past its exact
 * revision it is exact nowhere ({@link revision} is -1) and serves acquisitions only.
 */
export class PatchedSnapshot implements AcquireView {
  private base: LeaseSnapshot;
  private readonly patches = new Map<string, OwnWrite>();
  /** The valid leases among the patches, by key, and their keys by PublicIP (decoded once, on apply). */
  private readonly patchLeases = new Map<string, Lease>();
  private readonly patchOwners = new Map<string, Set<string>>();
  /** Revisions above {@link revision} or {@link vouched} that were own writes (they close a gap once it fills). */
  private readonly ahead = new Set<number>();
  private exact: number;
  /** Up to this revision a count vouched for the view, and only own writes came since. */
  private counted = 0;
  /** Someone else's write lies right above the exact revision: it can never move again. */
  private stuck = false;
  /** Whether the base holds writes above the exact revision (a fold past it): exact nowhere then. */
  private inexact = false;
  /** How each patch changed the number of keys, at the revision it did so (only non-zero changes). */
  private deltas: { readonly revision: number; readonly delta: number }[] = [];
  /** Every own write up to this revision has been applied (the registry waited for their answers). */
  private settled = 0;
  private occupancy: OccupiedSubnets | undefined;
  private decoded: LeaseListing | undefined;
  /** `<prefix>/subnets/`. */
  private readonly dir: string;

  constructor(
    private readonly prefix: string,
    base: LeaseSnapshot,
  ) {
    this.dir = subnetsPrefix(prefix);
    this.base = base;
    this.exact = base.revision;
    this.counted = base.revision;
  }

  /** Every revision up to this one is in the view; -1 once that is known of none. */
  get revision(): number {
    return this.inexact ? -1 : this.exact;
  }

  /**
   * Up to this revision the view is as good as a count of the prefix can tell: a count at some
   * revision matched {@link sizeAt}, and every revision since was an own write.
   */
  get vouched(): number {
    return Math.max(this.counted, this.revision);
  }

  /** A count of the prefix at `revision` matched {@link sizeAt}. */
  vouch(revision: number): void {
    if (revision <= this.counted) return;
    // Asked only when more than own writes lay between the exact revision and this one.
    if (revision > this.exact) this.stuck = true;
    this.counted = revision;
    this.advance();
  }

  /**
   * Takes in a write: an own one (`learned` false), or a key's state learned from a failed
   * compare. A write the view already holds (no newer than what it has of the key) changes nothing.
   */
  apply(write: OwnWrite, learned = false): void {
    const old = this.patches.get(write.key);
    const current = old === undefined ? this.base.get(write.key) : old.kv;
    const fresh = learned
      ? (current?.modRevision ?? 0) < write.revision && (old === undefined || old.revision < write.revision)
      : write.revision > this.base.revision && (old === undefined || old.revision < write.revision);
    if (fresh) {
      const had = old === undefined ? current !== undefined : old.kv !== undefined;
      const has = write.kv !== undefined;
      if (had !== has) {
        // A key learned of counts from its creation: etcd counted it from then on.
        const at = learned && write.kv !== undefined ? write.kv.createRevision : write.revision;
        this.deltas.push({ revision: at, delta: has ? 1 : -1 });
      }
      this.patches.set(write.key, write);
      this.unindex(write.key);
      const entry =
        write.kv === undefined
          ? undefined
          : write.lease !== undefined
            ? { kind: "lease" as const, lease: write.lease }
            : decodeEntryIn(this.dir, write.kv);
      if (entry?.kind === "lease") {
        this.patchLeases.set(write.key, entry.lease);
        const ip = entry.lease.attrs.publicIP;
        const keys = this.patchOwners.get(ip);
        if (keys === undefined) this.patchOwners.set(ip, new Set([write.key]));
        else keys.add(write.key);
      }
      this.decoded = undefined;
      if (!has) this.occupancy = undefined;
      else if (!had) {
        // A key names its subnet: only a new key changes what is occupied.
        const { dir } = this;
        if (this.occupancy !== undefined)
          addKey(this.occupancy, write.key.startsWith(dir) ? write.key.slice(dir.length) : write.key);
      }
    }
    if (!learned) {
      if (write.revision > this.floor()) this.ahead.add(write.revision);
      this.advance();
    }
    if (this.patches.size > MAX_PATCHES) this.fold();
  }

  /**
   * How many keys etcd holds under the prefix at `revision` if nobody but the writes this view
   * knows created or deleted one since the listing; undefined when the view cannot say (a
   * revision older than its base).
   */
  sizeAt(revision: number): number | undefined {
    if (revision < this.base.revision) return undefined;
    let n = this.base.kvs.length;
    for (const d of this.deltas) if (d.revision <= revision) n += d.delta;
    return n;
  }

  /** Every own write up to `revision` has been applied: the view may fold up to there. */
  settle(revision: number): void {
    this.settled = Math.max(this.settled, revision);
  }

  /** The listing as of {@link revision}, as `LeaseRegistry.list()` returns it (only while exact). */
  listing(): LeaseListing {
    if (this.inexact) throw new Error("PatchedSnapshot.listing() on a view that is exact nowhere");
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
    const { dir } = this;
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

  /** Moves the exact and the vouched revision over the own writes right above them. */
  private advance(): void {
    if (!this.inexact && !this.stuck) while (this.ahead.has(this.exact + 1)) this.exact++;
    while (this.ahead.has(this.counted + 1)) this.counted++;
    const floor = this.floor();
    for (const r of this.ahead) if (r <= floor) this.ahead.delete(r);
  }

  /** Own writes at or below this revision can move neither the exact nor the vouched revision. */
  private floor(): number {
    return this.inexact || this.stuck ? this.counted : Math.min(this.exact, this.counted);
  }

  /** The listing's entries with the writes up to `upTo` applied, in key order. */
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

  /**
   * Folds the writes into the listing, so the patches stay few: those up to {@link revision},
   * or, when others' writes keep the exact revision behind, every write up to the settled one
   * (the view is exact nowhere from then on, which only `list()` minds: it lists again).
   */
  private fold(): void {
    let upTo = this.inexact ? this.base.revision : this.exact;
    if (this.settled > upTo) {
      upTo = this.settled;
      this.inexact = true;
    }
    // The new listing's revision: the newest write it takes in (no later one may be missing).
    let top = this.base.revision;
    for (const p of this.patches.values()) if (p.revision <= upTo && p.revision > top) top = p.revision;
    if (top <= this.base.revision) return; // nothing settled to fold yet
    const kvs = this.merged(top);
    for (const [key, p] of this.patches) {
      if (p.revision > top) continue;
      this.patches.delete(key);
      this.unindex(key);
    }
    this.deltas = this.deltas.filter((d) => d.revision > top);
    this.base = new LeaseSnapshot(this.prefix, kvs, top);
    // The occupancy stays: a fold moves writes into the base, the keys of base and patches together stay the same.
    this.decoded = undefined;
  }
}
