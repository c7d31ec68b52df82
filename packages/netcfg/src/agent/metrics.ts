/**
 * The agent's numbers in Prometheus text format (version 0.0.4): gauges it sets and counters
 * it bumps. Pure: no clock, no I/O; the health server renders it on request.
 */

/** A metric's name, kind and help line. */
interface MetricSpec {
  readonly help: string;
  readonly type: "gauge" | "counter";
}

/** Every metric the agent exports, in the order they are printed. */
export const AGENT_METRICS = {
  podnet_leases: {
    type: "gauge",
    help: "Leases under <prefix>/subnets/ the agent knows of, its own included.",
  },
  podnet_peers_programmed: {
    type: "gauge",
    help: "Other hosts' leases whose entries are in the kernel after the last successful reconcile.",
  },
  podnet_peers_skipped: {
    type: "gauge",
    help: "Leases not programmed (another backend, another VNI, damaged backend data).",
  },
  podnet_subnets_total: {
    type: "gauge",
    help: "Subnets the network config's range (SubnetMin..SubnetMax) holds.",
  },
  podnet_subnets_used: { type: "gauge", help: "Subnets of that range held by a lease or reservation." },
  podnet_ready: { type: "gauge", help: "1 once the subnet file is written and the peers are programmed." },
  podnet_reconciles_total: {
    type: "counter",
    help: "Comparisons of the kernel with the plan, event-driven or periodic.",
  },
  podnet_reconcile_errors_total: {
    type: "counter",
    help: "Reconciles that failed (the data plane was left as it was).",
  },
  podnet_kernel_changes_total: {
    type: "counter",
    help: "Kernel entries added, changed or removed by reconciles.",
  },
  podnet_renewals_total: { type: "counter", help: "Successful renewals of this host's lease." },
  podnet_renew_failures_total: {
    type: "counter",
    help: "Renewals of this host's lease that failed and were retried.",
  },
} as const satisfies Record<string, MetricSpec>;

/** A metric name the agent exports. */
export type AgentMetricName = keyof typeof AGENT_METRICS;

/** The agent's current values; all start at 0. */
export class AgentMetrics {
  private readonly values = new Map<AgentMetricName, number>();

  /** Sets a gauge. */
  set(name: AgentMetricName, value: number): void {
    this.values.set(name, value);
  }

  /** Adds to a counter (by 1 unless told). */
  inc(name: AgentMetricName, by = 1): void {
    this.values.set(name, this.get(name) + by);
  }

  /** The current value of one metric. */
  get(name: AgentMetricName): number {
    return this.values.get(name) ?? 0;
  }

  /** The exposition text: HELP, TYPE and value of every metric. */
  render(): string {
    let out = "";
    for (const [name, spec] of Object.entries(AGENT_METRICS) as [AgentMetricName, MetricSpec][]) {
      out += `# HELP ${name} ${spec.help}\n# TYPE ${name} ${spec.type}\n${name} ${this.get(name)}\n`;
    }
    return out;
  }
}
