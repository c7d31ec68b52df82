/**
 * The peers of one address family as the agent keeps them: one compact plan per lease (never
 * the lease itself), indexed by network address and VtepMAC the ways the kernel's entries are
 * looked up, with the leases changed since they were last applied. A lease whose VtepMAC or
 * address clashes with a programmed peer is held back and retried when that peer goes.
 */
import type { Lease } from "@podnet/ipam-core";
import { type PeerAddress, type PeerContext, type PeerPlan, planPeer } from "../host/plan.js";
import {
  diffPeer,
  noPeerChanges,
  type PeerChanges,
  type PeerTable as PeerLookup,
} from "../host/reconcile.js";

/** What the table keeps of one lease. */
interface Entry {
  /** What is programmed for it; undefined when it is skipped. */
  plan: PeerPlan | undefined;
  /** Why it is not programmed. */
  skip: string | undefined;
  /** Its plan, held back by a clash with another peer's VtepMAC or address. */
  blocked: PeerPlan | undefined;
}

/** One family's programmed peers. */
export class PeerTable {
  private readonly entries = new Map<string, Entry>();
  private readonly byNet = new Map<PeerAddress, PeerPlan>();
  private readonly byMac = new Map<string, PeerPlan>();
  private blockedCount = 0;
  private skippedCount = 0;
  /** Peers changed since they were last applied, with what was programmed for them then. */
  private readonly dirty = new Map<string, PeerPlan | undefined>();
  /** The table as the kernel comparison reads it. */
  readonly lookup: PeerLookup;

  constructor(
    readonly context: PeerContext,
    private readonly log: (line: string) => void,
    /** Added to skip lines, e.g. " (IPv6)". */
    private readonly label = "",
  ) {
    const { byNet, byMac } = this;
    this.lookup = {
      context,
      byNet: (net) => byNet.get(net),
      byMac: (mac) => byMac.get(mac),
      peers: () => byNet.values(),
    };
  }

  /** Programmed peers. */
  get programmed(): number {
    return this.byNet.size;
  }

  /** Leases not programmed (another backend, VNI or family; a clash). */
  get skipped(): number {
    return this.skippedCount;
  }

  /** Whether peers changed since {@link takeChanges}. */
  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** What is programmed for a lease, if anything. */
  planOf(key: string): PeerPlan | undefined {
    return this.entries.get(key)?.plan;
  }

  /** Records a lease's new state (undefined: it is gone) and marks it for the next apply. */
  set(key: string, lease: Lease | undefined): void {
    const old = this.entries.get(key);
    const before = old?.plan;
    if (old !== undefined) this.forget(old);
    if (lease === undefined) {
      this.entries.delete(key);
    } else {
      const next: Entry = { plan: undefined, skip: undefined, blocked: undefined };
      this.entries.set(key, next);
      this.plan(key, lease, next, old?.skip);
    }
    const after = this.entries.get(key)?.plan;
    if (before !== after && !this.dirty.has(key)) this.dirty.set(key, before);
    if (before !== undefined && this.blockedCount > 0) this.unblock();
  }

  /** The changes that bring the kernel from what was applied to the table, without reading it; clears them. */
  takeChanges(): PeerChanges {
    const changes = noPeerChanges();
    for (const [key, before] of this.dirty) {
      const after = this.entries.get(key)?.plan;
      const why = before === undefined ? "lease added" : after === undefined ? "lease gone" : "lease changed";
      diffPeer(this.context, before, after, why, changes);
    }
    this.dirty.clear();
    return changes;
  }

  /** Forgets the pending changes (a full reconcile compares everything anyway). */
  clearChanges(): void {
    this.dirty.clear();
  }

  private forget(e: Entry): void {
    if (e.blocked !== undefined) this.blockedCount--;
    if (e.skip !== undefined) this.skippedCount--;
    if (e.plan !== undefined) this.unindex(e.plan);
  }

  private plan(key: string, lease: Lease, e: Entry, oldSkip: string | undefined): void {
    const p = planPeer(this.context, lease);
    let skip: string | undefined;
    if (typeof p === "string") {
      skip = p;
    } else if (p.mac === this.context.ownMac) {
      skip = `its VtepMAC ${p.mac} is already used by this host`;
    } else {
      skip = this.clash(p);
      if (skip !== undefined) {
        e.blocked = p;
        this.blockedCount++;
      } else {
        e.plan = p;
        this.index(p);
      }
    }
    e.skip = skip;
    if (skip !== undefined) this.skippedCount++;
    if (skip !== undefined && skip !== oldSkip) this.log(`skipping lease ${key}${this.label}: ${skip}`);
  }

  /** Why `p` cannot be programmed beside the programmed peers, if it cannot. */
  private clash(p: PeerPlan): string | undefined {
    const macHolder = this.byMac.get(p.mac);
    if (macHolder !== undefined) return `its VtepMAC ${p.mac} is already used by ${macHolder.key}`;
    const netHolder = this.byNet.get(p.net);
    if (netHolder !== undefined) return `its network address is already used by ${netHolder.key}`;
    return undefined;
  }

  private index(p: PeerPlan): void {
    this.byNet.set(p.net, p);
    this.byMac.set(p.mac, p);
  }

  private unindex(p: PeerPlan): void {
    if (this.byNet.get(p.net) === p) this.byNet.delete(p.net);
    if (this.byMac.get(p.mac) === p) this.byMac.delete(p.mac);
  }

  /** A peer went: leases held back by a clash with it may be programmed now. */
  private unblock(): void {
    for (const [key, e] of this.entries) {
      const p = e.blocked;
      if (p === undefined || this.clash(p) !== undefined) continue;
      e.blocked = undefined;
      e.skip = undefined;
      e.plan = p;
      this.blockedCount--;
      this.skippedCount--;
      this.index(p);
      if (!this.dirty.has(key)) this.dirty.set(key, undefined);
    }
  }
}
