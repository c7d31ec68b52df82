/**
 * This host's lease while the agent runs: renewed by the guarded keep-alive (each renewal and
 * failure counted and logged), and judged whenever etcd shows its key changed. Losing it is
 * the agent's to act on (`lost`).
 */
import {
  formatLeaseKey,
  type KeepAliveHandle,
  type Lease,
  type LeaseEvent,
  type LeaseRegistry,
} from "@podnet/ipam-core";
import type { EtcdHealth } from "./etcd-health.js";
import type { LeaseBook } from "./lease-book.js";
import { describeLease } from "./lease-log.js";
import type { AgentMetrics } from "./metrics.js";
import type { LogMeta } from "./options.js";
import { checkRewrittenLease, judgeOwnEvent, keepOwnLease } from "./own-lease.js";

/** What the keeper reports to. */
export interface OwnLeaseHooks {
  readonly etcd: EtcdHealth;
  readonly metrics: AgentMetrics;
  log(line: string, meta?: LogMeta): void;
  /** The lease is gone, taken or damaged; the agent stops with exit status 1. */
  lost(reason: string): void;
}

/** This host's lease, kept alive and watched. */
export class OwnLeaseKeeper {
  private keep: KeepAliveHandle | undefined;
  private own: Lease;

  constructor(
    private readonly registry: LeaseRegistry,
    own: Lease,
    private readonly hooks: OwnLeaseHooks,
  ) {
    this.own = own;
  }

  /** The lease as last renewed or confirmed. */
  get lease(): Lease {
    return this.own;
  }

  /** The lease as the keep-alive holds it: what a release at exit must match. */
  get kept(): Lease {
    return this.keep?.lease ?? this.own;
  }

  /** Starts renewing it `renewMarginSeconds` before it expires, as flanneld does. */
  start(renewMarginSeconds: number): void {
    const { etcd, metrics } = this.hooks;
    const name = formatLeaseKey(this.own.subnet);
    const fields = { fields: { lease: name } };
    this.keep = keepOwnLease(this.registry, this.own, renewMarginSeconds, {
      renewed: (lease, remaining) => {
        etcd.answered();
        this.own = lease;
        metrics.inc("podnet_renewals_total");
        this.hooks.log(
          `renewed lease ${name}${remaining > 0 ? ` (${remaining}s left)` : " (a reservation)"}`,
          fields,
        );
      },
      lost: (reason) => this.hooks.lost(reason),
      failed: (err) => {
        etcd.failed(err);
        metrics.inc("podnet_renew_failures_total");
        this.hooks.log(`renewing lease ${name} failed (will retry): ${err.message}`, {
          level: "warn",
          ...fields,
        });
      },
    });
  }

  /** Our own key changed under us: gone or taken means the lease is lost; anything else is checked. */
  onEvent(e: LeaseEvent, book: LeaseBook | undefined): void {
    const own = this.own;
    if (e.type === "added" || e.type === "changed") book?.track(e.lease.key, e.lease);
    else if (e.type === "removed") book?.track(e.key, undefined);
    const verdict = judgeOwnEvent(e, own);
    if (verdict.kind === "lost") this.hooks.lost(verdict.reason);
    if (verdict.kind !== "check") return;
    // Someone rewrote our key with our address: still ours only if a guarded renewal agrees.
    void checkRewrittenLease(this.registry, own).then((r) => {
      if ("lease" in r) {
        this.own = r.lease;
        this.hooks.log(
          `this host's lease was rewritten in etcd and is still ours: ${describeLease(r.lease)}`,
        );
      } else if ("lost" in r) {
        this.hooks.lost(r.lost);
      } else {
        const line = `checking this host's rewritten lease failed (will check at the next renewal): ${r.error}`;
        this.hooks.log(line, { level: "warn" });
      }
    });
  }

  /** Stops renewing. */
  stop(): void {
    this.keep?.stop();
  }
}
