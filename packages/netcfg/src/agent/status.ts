/**
 * What the agent says about itself: the phase it is in, whether it is ready (/readyz, podnet_ready,
 * systemd's READY=1), whether it is healthy (/healthz), and a one-line status (systemd's
 * STATUS=). /healthz stays 200 while the data plane is kept, even through an etcd outage (a
 * supervisor must not restart a host that forwards traffic), but its body names the outage.
 */
import { type EtcdHealth, formatOutage } from "./etcd-health.js";

/** A change worth telling a supervisor: ready or not, and the status line. */
export interface StatusUpdate {
  readonly ready: boolean;
  readonly text: string;
}

/** The agent's state as the endpoints and the supervisor see it. */
export class AgentStatus {
  private phaseText = "starting";
  private subnetFileWritten = false;
  private programmedOnce = false;
  private reconcileError: string | null = null;
  private stopping: string | undefined;
  private lastSent = "";
  private peers = "";

  constructor(
    private readonly etcd: EtcdHealth,
    private readonly onChange: (update: StatusUpdate) => void,
  ) {}

  /** The start-up phase (connecting, waiting for the config, acquiring, ...). */
  phase(text: string): void {
    this.phaseText = text;
    this.changed();
  }

  /** The subnet file is written: consumers may start. */
  wroteSubnetFile(): void {
    this.subnetFileWritten = true;
    this.changed();
  }

  /** A full reconcile succeeded; `peers` says what is programmed (`2 peers on flannel.1`). */
  reconciled(peers: string): void {
    this.programmedOnce = true;
    this.reconcileError = null;
    this.peers = peers;
    this.changed();
  }

  /** A reconcile failed with this text. */
  reconcileFailed(text: string): void {
    this.reconcileError = text;
    this.changed();
  }

  /** The last reconcile's error, if it failed. */
  get lastReconcileError(): string | null {
    return this.reconcileError;
  }

  /** Whether peers were programmed at least once. */
  get programmed(): boolean {
    return this.programmedOnce;
  }

  /** The agent is stopping, for this reason. */
  stop(reason: string): void {
    this.stopping = reason;
    this.changed();
  }

  /** Null once ready (subnet file written, peers programmed, the last reconcile good), else why not. */
  notReady(): string | null {
    if (this.stopping !== undefined) return `stopping: ${this.stopping}`;
    if (!this.subnetFileWritten) return this.phaseText;
    if (!this.programmedOnce) return this.reconcileError ?? "programming peers";
    if (this.reconcileError !== null) return `the last reconcile failed: ${this.reconcileError}`;
    return null;
  }

  /** /healthz: 200 unless stopping; the body names an etcd outage while the data plane is kept. */
  health(): { ok: boolean; body: string } {
    if (this.stopping !== undefined) return { ok: false, body: `stopping: ${this.stopping}` };
    if (!this.etcd.up) {
      return {
        ok: true,
        body: `ok: data plane kept; etcd unreachable for ${formatOutage(this.etcd.outageMs())} (last answer ${new Date(this.etcd.lastSync).toISOString()}): ${this.etcd.reason}`,
      };
    }
    return { ok: true, body: "ok" };
  }

  /** The one-line status: `ready: 2 peers on flannel.1; etcd unreachable for 5.0s`. */
  text(): string {
    const why = this.notReady();
    const base = why === null ? `ready: ${this.peers}` : `not ready: ${why}`;
    return this.etcd.up ? base : `${base}; etcd unreachable (data plane kept)`;
  }

  /** Tells the supervisor when readiness or the status line changed. */
  changed(): void {
    const update = { ready: this.notReady() === null, text: this.text() };
    const key = `${update.ready} ${update.text}`;
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.onChange(update);
  }
}
