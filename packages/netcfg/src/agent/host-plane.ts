/**
 * This host's whole data plane as the agent keeps it: one plane per family of the network,
 * brought in step with the peer tables by a full comparison (with the masquerade rules) or by
 * applying just the changed peers, and what each pass reports to the status and the metrics.
 */
import type { Lease, LeaseNetwork } from "@podnet/ipam-core";
import type { ResolvedConfig } from "../config/schema.js";
import type { HostTarget } from "../host/iproute.js";
import { type FamilyPlane, planesFor } from "./family-plane.js";
import type { LeaseBook } from "./lease-book.js";
import { keepMasquerade } from "./leaving.js";
import type { AgentMonitor } from "./monitor.js";
import type { LogMeta } from "./options.js";
import type { Underlay } from "./underlay.js";

/** What the host plane needs from the agent. */
export interface HostPlaneContext {
  readonly monitor: AgentMonitor;
  readonly target: HostTarget;
  /** Whether the masquerade rules are kept (`--ip-masq`). */
  readonly ipMasq: boolean;
  log(line: string, meta?: LogMeta): void;
  /** Makes the scheduler's next pass a full reconcile. */
  fullNext(): void;
}

/** Every family's plane of this host. */
export class HostPlane {
  /** One per family of the network; empty while the plan cannot be made (`planError` says why). */
  private families: FamilyPlane[] = [];
  private planError: unknown;

  constructor(private readonly ctx: HostPlaneContext) {}

  /** The family planes (IPv4 first). */
  get planes(): readonly FamilyPlane[] {
    return this.families;
  }

  /** Whether any family's peers changed since they were last applied. */
  get pending(): boolean {
    return this.families.some((p) => p.peers.pending);
  }

  /** Works out each family's device and per-peer context once; a failure is reported by every reconcile. */
  prepare(config: ResolvedConfig, own: Lease, underlay: Underlay, book: LeaseBook): void {
    const { monitor, target } = this.ctx;
    try {
      this.families = planesFor(config, own, underlay, target, {
        log: (line) => this.ctx.log(line),
        changed: (n) => monitor.metrics.inc("podnet_kernel_changes_total", n),
      });
    } catch (err) {
      this.families = [];
      this.planError = err;
    }
    book.tables = this.families.map((p) => p.peers);
  }

  /** Applies exactly the changed peers' entries; a failure makes the next pass a full reconcile. */
  async applyChanged(): Promise<void> {
    for (const plane of this.families) {
      try {
        await plane.applyChanged();
      } catch (err) {
        // The kernel is not as we thought (an entry or the device removed by hand): compare it all.
        this.ctx.log(`applying lease changes failed (reconciling fully): ${errorText(err)}`, {
          level: "warn",
        });
        this.ctx.fullNext();
      }
    }
    this.updatePeerMetrics();
  }

  /** One full comparison of the kernel with the plan, applying the difference in batches. */
  async reconcile(own: Lease, network: LeaseNetwork): Promise<void> {
    const { monitor } = this.ctx;
    monitor.metrics.inc("podnet_reconciles_total");
    if (this.families.length === 0) return this.reconcileFailed(this.planError);
    let failure: unknown;
    for (const plane of this.families) {
      await plane.reconcile().catch((err: unknown) => {
        failure ??= err;
      });
    }
    // The rules need no device or peer: pods keep their way out while a peer entry fails.
    if (this.ctx.ipMasq) {
      await keepMasquerade(network, own, this.ctx.target, (line) => this.ctx.log(line)).catch(
        (err: unknown) => {
          failure ??= err;
        },
      );
    }
    if (failure !== undefined) return this.reconcileFailed(failure);
    const { status } = monitor;
    if (status.lastReconcileError !== null) this.ctx.log("reconcile succeeded again");
    const first = !status.programmed;
    const peers = this.families.map((p) => `${p.peers.programmed} peer(s) on ${p.name}`).join(", ");
    status.reconciled(peers);
    this.updatePeerMetrics();
    if (first) this.ctx.log(`ready: ${peers}`);
  }

  private reconcileFailed(err: unknown): void {
    const { metrics, status } = this.ctx.monitor;
    const text = errorText(err);
    metrics.inc("podnet_reconcile_errors_total");
    if (text !== status.lastReconcileError)
      this.ctx.log(`reconcile failed (will retry): ${text}`, { level: "error" });
    status.reconcileFailed(text);
  }

  private updatePeerMetrics(): void {
    this.ctx.monitor.peers(this.families.map((p) => ({ peers: p.peers, family: p.plan.device.family })));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
