/**
 * The agent's metrics, through prom-client on a registry of the agent's own (never the global
 * one of the program that imports netcfg). Names follow Prometheus' conventions: `_total`
 * only on counters, units in the name (`_seconds`), a `family` label for per-device gauges.
 * Process metrics (CPU, memory, file descriptors, event loop) only when the program asks.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/** A metric's kind and help line. */
interface MetricSpec {
  readonly help: string;
  readonly type: "gauge" | "counter";
  readonly labels?: readonly string[];
}

/** Every metric the agent exports. */
export const AGENT_METRICS = {
  podnet_leases: {
    type: "gauge",
    help: "Leases under <prefix>/subnets/ the agent knows of, its own included.",
  },
  podnet_peers_programmed: {
    type: "gauge",
    help: "Other hosts' leases whose entries are in the kernel, per address family (4: flannel.<VNI>, 6: flannel-v6.<VNI>).",
    labels: ["family"],
  },
  podnet_peers_skipped: {
    type: "gauge",
    help: "Leases not programmed (another backend, another VNI, damaged backend data), per address family.",
    labels: ["family"],
  },
  podnet_subnets_capacity: {
    type: "gauge",
    help: "Subnets the network config's range (SubnetMin..SubnetMax) holds.",
  },
  podnet_subnets_used: { type: "gauge", help: "Subnets of that range held by a lease or reservation." },
  podnet_ready: { type: "gauge", help: "1 while /readyz says ready: subnet file written, peers programmed." },
  podnet_etcd_up: {
    type: "gauge",
    help: "1 while etcd answers the agent, 0 during an outage (data plane kept).",
  },
  podnet_last_sync_timestamp_seconds: {
    type: "gauge",
    help: "Unix time of the last answer from etcd (a watch event, progress or a renewal).",
  },
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
  podnet_etcd_outages_total: { type: "counter", help: "Times etcd stopped answering the agent." },
} as const satisfies Record<string, MetricSpec>;

/** A metric name the agent exports. */
export type AgentMetricName = keyof typeof AGENT_METRICS;

/** The agent's gauges (a value that goes up and down). */
export type GaugeName = {
  [K in AgentMetricName]: (typeof AGENT_METRICS)[K]["type"] extends "gauge" ? K : never;
}[AgentMetricName];
/** The agent's counters (`_total`, only ever up). */
export type CounterName = Exclude<AgentMetricName, GaugeName>;

/** The agent's current values; all start at 0. */
export class AgentMetrics {
  private readonly registry = new Registry();
  private readonly gauges = new Map<string, Gauge>();
  private readonly counters = new Map<string, Counter>();

  /** With `processMetrics`, prom-client's standard process_* and nodejs_* metrics are added. */
  constructor(opts: { processMetrics?: boolean } = {}) {
    for (const [name, spec] of Object.entries(AGENT_METRICS) as [AgentMetricName, MetricSpec][]) {
      const config = {
        name,
        help: spec.help,
        registers: [this.registry],
        labelNames: [...(spec.labels ?? [])],
      };
      if (spec.type === "gauge") this.gauges.set(name, new Gauge(config));
      else this.counters.set(name, new Counter(config));
    }
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Sets a gauge (of one family when it has that label). */
  set(name: GaugeName, value: number, family?: 4 | 6): void {
    const g = this.gauges.get(name);
    if (family === undefined) g?.set(value);
    else g?.set({ family: String(family) }, value);
  }

  /** Adds to a counter (by 1 unless told). */
  inc(name: CounterName, by = 1): void {
    this.counters.get(name)?.inc(by);
  }

  /** The value of an unlabelled metric. */
  async get(name: AgentMetricName): Promise<number> {
    const m = this.gauges.get(name) ?? this.counters.get(name);
    const v = await m?.get();
    return v?.values[0]?.value ?? 0;
  }

  /** The exposition text (Prometheus 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
