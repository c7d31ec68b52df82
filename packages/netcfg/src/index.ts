/** The network config validator: diagnostics, options, and the config as flanneld resolves it. */

/** The host agent (`podnet agent`): leases into a working VXLAN data plane, with health and metrics. */
export {
  type AgentEnvironment,
  type AgentOptions,
  type AgentResult,
  type LogLevel,
  type LogMeta,
  runAgent,
  type StatusUpdate,
} from "./agent/agent.js";
export { type HealthServer, type HealthSource, startHealthServer } from "./agent/health.js";
export {
  AGENT_METRICS,
  type AgentMetricName,
  AgentMetrics,
  type CounterName,
  type GaugeName,
} from "./agent/metrics.js";
/** The underlay interface: chosen as flanneld chooses it, or read by name for a view. */
export {
  chooseUnderlay,
  findUnderlay,
  type Underlay,
  type UnderlayRequest,
  underlayByName,
} from "./agent/underlay.js";
export type { Diagnostic, Severity } from "./config/diagnostic.js";
/** `podnet ifconfig`'s setting grammar: ifconfig-style words to a config document. */
export * from "./config/ifconfig-grammar.js";
/** What a config change does to the hosts holding leases (orphaned leases, data-plane changes). */
export * from "./config/impact.js";
/** The subnet ranges a resolved config hands out, for the lease registry. */
export { leaseNetworkOf } from "./config/lease-network.js";
/** The overlay device names and MTUs flanneld uses (flannel.<VNI>, MTU minus 50). */
export * from "./config/overlay.js";
export type { BackendType, ResolvedBackend, ResolvedConfig } from "./config/schema.js";
export { BACKEND_TYPES } from "./config/schema.js";
/** The one redaction rule for secrets in a config, its text and its diffs. */
export * from "./config/secrets.js";
export type { ValidateOptions, ValidationResult } from "./config/validate.js";
export { validateConfig, validateConfigText } from "./config/validate.js";
/** `podnet doctor`'s checks as pure functions returning verdicts. */
export * from "./doctor/index.js";
/** The VXLAN data plane: the plan (pure), the kernel's state, the diff and report (pure), and applying it. */
export * from "./host/apply.js";
/** The two address families of the data plane (addresses as numbers and bigints). */
export * from "./host/family.js";
/** This host's plan from the same inputs for the agent and every view: planHost(input, family). */
export * from "./host/host-plan.js";
export * from "./host/iproute.js";
export * from "./host/kernel-state.js";
/** One network device as the kernel sees it (ip -json link/addr show). */
export * from "./host/link.js";
export * from "./host/masquerade.js";
export * from "./host/plan.js";
export * from "./host/reconcile.js";
/** flannel's subnet file (subnet.env): exact writer, tolerant reader. */
export * from "./host/subnet-file.js";
/** `podnet migrate v2`: the plan of a v2-keyspace migration (pure) and its guarded writes. */
export * from "./migrate/v2-apply.js";
export * from "./migrate/v2-plan.js";
export * from "./store/change-impact.js";
export * from "./store/config-store.js";
/** The stored config, read and validated into a network in one call. */
export * from "./store/network-loader.js";
