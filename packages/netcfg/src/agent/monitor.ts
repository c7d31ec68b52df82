/**
 * The agent's account of itself in one place: its metrics, etcd's health, its readiness and
 * status line, and the HTTP server that shows them. The agent reports what happens; the
 * monitor keeps the gauges, the log lines about etcd and the supervisor's updates in step.
 */
import { EtcdHealth, formatOutage } from "./etcd-health.js";
import { type HealthServer, startHealthServer } from "./health.js";
import type { LeaseBook } from "./lease-book.js";
import { AgentMetrics } from "./metrics.js";
import type { LogMeta, StatusUpdate } from "./options.js";
import type { PeerTable } from "./peer-table.js";
import { AgentStatus } from "./status.js";

/** The agent's metrics, etcd health, status and health server. */
export class AgentMonitor {
  readonly metrics: AgentMetrics;
  readonly etcd: EtcdHealth;
  readonly status: AgentStatus;
  private server: HealthServer | undefined;

  constructor(opts: {
    readonly processMetrics: boolean;
    log(line: string, meta?: LogMeta): void;
    /** Readiness or the status line changed. */
    onStatus?(update: StatusUpdate): void;
  }) {
    const metrics = new AgentMetrics({ processMetrics: opts.processMetrics });
    this.metrics = metrics;
    this.etcd = new EtcdHealth({
      down: (reason, since) => {
        metrics.set("podnet_etcd_up", 0);
        metrics.inc("podnet_etcd_outages_total");
        opts.log(
          `etcd stopped answering (data plane kept as it is; last answer ${new Date(since).toISOString()}): ${reason}`,
          { level: "warn" },
        );
        this.status.changed();
      },
      up: (outageMs) => {
        metrics.set("podnet_etcd_up", 1);
        opts.log(`etcd answers again after an outage of ${formatOutage(outageMs)}`, {
          fields: { outage_ms: outageMs },
        });
        this.status.changed();
      },
    });
    metrics.set("podnet_etcd_up", 1);
    this.status = new AgentStatus(this.etcd, (update) => {
      metrics.set("podnet_ready", update.ready ? 1 : 0);
      opts.onStatus?.(update);
    });
  }

  /** Serves /healthz, /readyz and /metrics on host:port; returns the address bound. */
  async serve(host: string, port: number): Promise<string> {
    this.server = await startHealthServer(host, port, {
      health: () => this.status.health(),
      readiness: () => this.status.notReady(),
      metrics: () => {
        this.metrics.set("podnet_last_sync_timestamp_seconds", this.etcd.lastSync / 1000);
        return this.metrics.render();
      },
    });
    return this.server.address;
  }

  /** The peer gauges, per family. */
  peers(tables: readonly { readonly peers: PeerTable; readonly family: 4 | 6 }[]): void {
    for (const t of tables) {
      this.metrics.set("podnet_peers_programmed", t.peers.programmed, t.family);
      this.metrics.set("podnet_peers_skipped", t.peers.skipped, t.family);
    }
  }

  /** The lease gauges. */
  leases(book: LeaseBook): void {
    this.metrics.set("podnet_leases", book.size);
    this.metrics.set("podnet_subnets_capacity", book.capacity);
    this.metrics.set("podnet_subnets_used", book.inRange);
  }

  /** Stops probing etcd and closes the server. */
  async close(): Promise<void> {
    this.etcd.stop();
    await this.server?.close().catch(() => undefined);
  }
}
