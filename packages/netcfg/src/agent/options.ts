/** The agent's settings, what it runs against and how it ended. */
import type { Store } from "@podnet/ipam-core";
import type { HostTarget } from "../host/iproute.js";
import type { StatusUpdate } from "./status.js";

export type { StatusUpdate } from "./status.js";

/** The agent's settings (the CLI's flags, resolved). */
export interface AgentOptions {
  /** The etcd prefix, normalised. */
  readonly prefix: string;
  /** Underlay interface candidates, names or IPv4 addresses, the first that exists wins; none: the default route's. */
  readonly ifaces?: readonly string[];
  /** Tried when no `ifaces` candidate exists: patterns matched against interface addresses, then names. */
  readonly ifaceRegexes?: readonly string[];
  /** The address to publish in the lease instead of the interface's. */
  readonly publicIp?: string;
  /** The IPv6 address to publish (PublicIPv6) instead of the interface's. */
  readonly publicIpv6?: string;
  /** Where to write flannel's subnet file. */
  readonly subnetFile: string;
  /**
   * Masquerade pod traffic leaving the overlay (iptables rules kept by each reconcile, as
   * flanneld's `--ip-masq`); also written as FLANNEL_IPMASQ, which tells Docker not to.
   */
  readonly ipMasq: boolean;
  /** Renew when this many seconds of the lease's TTL remain. */
  readonly renewMarginSeconds: number;
  /** TTL of a newly created lease; default 24 h (testing). */
  readonly leaseTtlSeconds?: number;
  /** On a clean stop: release the lease and delete the device, so peers drop this host. */
  readonly releaseOnExit: boolean;
  /** How often to compare the kernel with the plan and repair drift. */
  readonly reconcileIntervalMs: number;
  /** Serve /healthz, /readyz and /metrics here; absent: no server. */
  readonly healthz?: { readonly host: string; readonly port: number };
  /** How often to look again at a missing or invalid config; default 5 s. */
  readonly configRetryMs?: number;
  /** The network namespace to program; default the agent's own. */
  readonly target?: HostTarget;
  /** How often to ask etcd whether it answers (a frozen etcd fails no watch); default 5 s. */
  readonly etcdProbeMs?: number;
  /** Export prom-client's standard process metrics too (the program's choice; default off). */
  readonly processMetrics?: boolean;
}

/** How much a log line matters; the caller filters by it (`--log-level`). */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A log line's level and structured fields (lease, peer, subnet, ...), for `--log-format json`. */
export interface LogMeta {
  readonly level?: LogLevel;
  readonly fields?: Readonly<Record<string, string | number>>;
}

/** What the agent runs against. */
export interface AgentEnvironment {
  /** Connects to etcd; called again after a failure to connect. */
  connect(): Promise<Store>;
  /** One line per event, without a timestamp (the caller adds it); level info unless `meta` says. */
  log(line: string, meta?: LogMeta): void;
  /** Aborted on SIGTERM/SIGINT: stop cleanly. */
  readonly signal: AbortSignal;
  /** Readiness or the one-line status changed (systemd's READY=1 and STATUS=). */
  status?(update: StatusUpdate): void;
}

/** How the agent ended: 0 after a requested stop, 1 when its lease was lost. */
export interface AgentResult {
  readonly exitCode: 0 | 1;
  readonly reason: string;
}
