/**
 * `podnet agent`: the host agent. Flags as flanneld names them, each also from the environment
 * as PODNET_<FLAG> or, where flanneld has the same flag, FLANNELD_<FLAG>; the command line wins.
 * Logs one timestamped line per event on stderr; exits 1 when its lease is lost.
 */
import { compilePattern, connect, PodnetError, parseDuration, parseIPv4, parseIPv6 } from "@podnet/ipam-core";
import { type AgentOptions, type LogLevel, runAgent } from "@podnet/netcfg";
import { Command, Option } from "commander";
import { contextFor } from "../context.js";
import { agentLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat } from "../print/agent-log.js";
import { SystemdNotifier } from "../systemd-notify.js";

/** The agent's flags as commander hands them over. */
interface AgentFlags {
  iface?: string[];
  ifaceRegex?: string[];
  publicIp?: string;
  publicIpv6?: string;
  subnetFile?: string;
  ipMasq?: boolean;
  healthzIp?: string;
  healthzPort?: string;
  renewMargin?: string;
  releaseOnExit?: boolean;
  reconcileInterval?: string;
  leaseTtl?: string;
  /** flanneld's spelling of --renew-margin. */
  subnetLeaseRenewMargin?: string;
  logFormat?: string;
  logLevel?: string;
  /** flanneld's -v (glog verbosity): 1 and above is debug. */
  logVerbosity?: string;
  /** How often to ask etcd whether it answers (testing; default 5s). */
  etcdProbeInterval?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Each flag's environment variables, podnet's first; flanneld's only where its flag means the same. */
const ENV: Record<
  Exclude<keyof AgentFlags, "subnetLeaseRenewMargin" | "logVerbosity" | "etcdProbeInterval">,
  readonly string[]
> = {
  iface: ["PODNET_IFACE", "FLANNELD_IFACE"],
  ifaceRegex: ["PODNET_IFACE_REGEX", "FLANNELD_IFACE_REGEX"],
  publicIp: ["PODNET_PUBLIC_IP", "FLANNELD_PUBLIC_IP"],
  publicIpv6: ["PODNET_PUBLIC_IPV6", "FLANNELD_PUBLIC_IPV6"],
  subnetFile: ["PODNET_SUBNET_FILE", "FLANNELD_SUBNET_FILE"],
  ipMasq: ["PODNET_IP_MASQ", "FLANNELD_IP_MASQ"],
  healthzIp: ["PODNET_HEALTHZ_IP", "FLANNELD_HEALTHZ_IP"],
  healthzPort: ["PODNET_HEALTHZ_PORT", "FLANNELD_HEALTHZ_PORT"],
  renewMargin: ["PODNET_RENEW_MARGIN", "FLANNELD_SUBNET_LEASE_RENEW_MARGIN"],
  releaseOnExit: ["PODNET_RELEASE_ON_EXIT"],
  reconcileInterval: ["PODNET_RECONCILE_INTERVAL"],
  leaseTtl: ["PODNET_LEASE_TTL"],
  logFormat: ["PODNET_LOG_FORMAT"],
  logLevel: ["PODNET_LOG_LEVEL"],
};

/** The resolved settings, before the agent's library options. */
export interface AgentSettings {
  readonly ifaces: string[];
  /** `--iface-regex` patterns, each a valid (unanchored) JavaScript regex. */
  readonly ifaceRegexes: string[];
  readonly publicIp?: string;
  readonly publicIpv6?: string;
  readonly subnetFile: string;
  readonly ipMasq: boolean;
  readonly healthz?: { host: string; port: number };
  readonly renewMarginMinutes: number;
  readonly releaseOnExit: boolean;
  readonly reconcileIntervalMs: number;
  readonly leaseTtlSeconds?: number;
  readonly logFormat: LogFormat;
  readonly logLevel: LogLevel;
  readonly etcdProbeMs?: number;
}

function fromEnv(env: Env, name: keyof typeof ENV): { value: string; source: string } | undefined {
  for (const variable of ENV[name]) {
    const value = env[variable];
    if (value !== undefined && value !== "") return { value, source: variable };
  }
  return undefined;
}

function text(
  flags: AgentFlags,
  env: Env,
  name: keyof typeof ENV,
  flag: string,
): { value: string; source: string } | undefined {
  const given = flags[name];
  if (typeof given === "string") return { value: given, source: flag };
  return fromEnv(env, name);
}

function bool(flags: AgentFlags, env: Env, name: "ipMasq" | "releaseOnExit", flag: string): boolean {
  // --ip-masq (true) or --no-ip-masq / -ip-masq=false (false) on the command line wins.
  if (typeof flags[name] === "boolean") return flags[name];
  const e = fromEnv(env, name);
  if (e === undefined) return false;
  const v = e.value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new PodnetError("usage", `${e.source}="${e.value}" is not true or false (for ${flag})`);
}

/**
 * A repeatable flag's values from the command line, else from the environment; `split` splits
 * every value at commas (interface names and addresses have none). Unsplit, an environment
 * variable is one value, as flanneld reads it: commas belong to regexes (`\d{1,3}`).
 */
function list(
  flags: AgentFlags,
  env: Env,
  name: "iface" | "ifaceRegex",
  flag: string,
  split: boolean,
): { values: string[]; source: string } {
  const given = flags[name] ?? [];
  const e = given.length > 0 ? undefined : fromEnv(env, name);
  const values = (e === undefined ? given : [e.value]).flatMap((v) => (split ? v.split(",") : [v]));
  return { values: values.map((v) => v.trim()).filter((v) => v !== ""), source: e?.source ?? flag };
}

/** Resolves the agent's flags against the environment; every bad value is a usage error naming its source. */
export function resolveAgentSettings(flags: AgentFlags, env: Env = process.env): AgentSettings {
  const ifaces = list(flags, env, "iface", "--iface", true).values;
  // A pattern is never split, on the command line or in the environment: commas belong to regexes.
  const ifaceRegexes = list(flags, env, "ifaceRegex", "--iface-regex", false);
  for (const pattern of ifaceRegexes.values) compilePattern(pattern, ifaceRegexes.source);
  const publicIp = text(flags, env, "publicIp", "--public-ip");
  if (publicIp !== undefined && parseIPv4(publicIp.value) === null) {
    throw new PodnetError(
      "usage",
      `${publicIp.source} "${publicIp.value}" is not an IPv4 address like 192.0.2.7`,
    );
  }
  const publicIpv6 = text(flags, env, "publicIpv6", "--public-ipv6");
  if (publicIpv6 !== undefined && parseIPv6(publicIpv6.value) === null) {
    throw new PodnetError(
      "usage",
      `${publicIpv6.source} "${publicIpv6.value}" is not an IPv6 address like 2001:db8::7`,
    );
  }
  const port = text(flags, env, "healthzPort", "--healthz-port");
  const portNumber = port === undefined ? 0 : Number(port.value);
  if (port !== undefined && (!/^\d{1,5}$/.test(port.value) || portNumber > 65_535)) {
    throw new PodnetError("usage", `${port.source} "${port.value}" is not a port from 0 (off) to 65535`);
  }
  const hostIp = text(flags, env, "healthzIp", "--healthz-ip");
  const margin =
    flags.renewMargin === undefined && flags.subnetLeaseRenewMargin !== undefined
      ? { value: flags.subnetLeaseRenewMargin, source: "--subnet-lease-renew-margin" }
      : text(flags, env, "renewMargin", "--renew-margin");
  const marginMinutes = margin === undefined ? 60 : Number(margin.value);
  if (margin !== undefined && (!/^\d+$/.test(margin.value) || marginMinutes < 1 || marginMinutes > 1439)) {
    throw new PodnetError(
      "usage",
      `${margin.source} "${margin.value}" is not a number of minutes from 1 to 1439`,
    );
  }
  const interval = text(flags, env, "reconcileInterval", "--reconcile-interval");
  const intervalMs = interval === undefined ? 10_000 : parseDuration(interval.value);
  if (intervalMs === null || intervalMs < 100) {
    throw new PodnetError(
      "usage",
      `${interval?.source} "${interval?.value}" is not a duration of at least 100ms like 10s`,
    );
  }
  const ttl = text(flags, env, "leaseTtl", "--lease-ttl");
  const ttlMs = ttl === undefined ? undefined : parseDuration(ttl.value);
  if (ttl !== undefined && (ttlMs === null || ttlMs === undefined || ttlMs < 5000)) {
    throw new PodnetError("usage", `${ttl.source} "${ttl.value}" is not a duration of at least 5s like 24h`);
  }
  const format = text(flags, env, "logFormat", "--log-format");
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format.value)) {
    throw new PodnetError(
      "usage",
      `${format.source} "${format.value}" is not one of ${LOG_FORMATS.join(", ")}`,
    );
  }
  const level = text(flags, env, "logLevel", "--log-level");
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level.value)) {
    throw new PodnetError("usage", `${level.source} "${level.value}" is not one of ${LOG_LEVELS.join(", ")}`);
  }
  const verbosity = flags.logVerbosity === undefined ? 0 : Number(flags.logVerbosity);
  const probeMs = flags.etcdProbeInterval === undefined ? undefined : parseDuration(flags.etcdProbeInterval);
  if (probeMs === null || (probeMs !== undefined && probeMs < 100)) {
    throw new PodnetError(
      "usage",
      `--etcd-probe-interval "${flags.etcdProbeInterval}" is not a duration of at least 100ms`,
    );
  }
  return {
    logFormat: (format?.value ?? "text") as LogFormat,
    logLevel: (level?.value ?? (verbosity >= 1 ? "debug" : "info")) as LogLevel,
    ...(probeMs !== undefined && { etcdProbeMs: probeMs }),
    ifaces,
    ifaceRegexes: ifaceRegexes.values,
    ...(publicIp !== undefined && { publicIp: publicIp.value }),
    ...(publicIpv6 !== undefined && { publicIpv6: publicIpv6.value }),
    subnetFile: text(flags, env, "subnetFile", "--subnet-file")?.value ?? "/run/flannel/subnet.env",
    ipMasq: bool(flags, env, "ipMasq", "--ip-masq"),
    ...(portNumber > 0 && { healthz: { host: hostIp?.value ?? "127.0.0.1", port: portNumber } }),
    renewMarginMinutes: marginMinutes,
    releaseOnExit: bool(flags, env, "releaseOnExit", "--release-on-exit"),
    reconcileIntervalMs: intervalMs,
    ...(ttlMs !== undefined && ttlMs !== null && { leaseTtlSeconds: Math.ceil(ttlMs / 1000) }),
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `podnet agent`: runs until SIGTERM/SIGINT (exit 0) or until its lease is lost (exit 1). */
export function agentCommand(): Command {
  return (
    new Command("agent")
      .description(
        "the host agent: lease a subnet, write the subnet file, and keep a VXLAN overlay (flannel.<VNI>) in step with every host's lease",
      )
      .option(
        "--iface <name|ip>",
        "underlay interface, by name or address; repeat (or comma-separate) for fallbacks (default: the default route's)",
        collect,
      )
      .option(
        "--iface-regex <regex>",
        "when no --iface exists: the first interface whose IPv4 address, else name, matches this regex; repeat for fallbacks",
        collect,
      )
      .option("--public-ip <ip>", "IPv4 address to publish in the lease (default: the interface's address)")
      .option(
        "--public-ipv6 <ip>",
        "IPv6 address to publish in a dual-stack lease (default: the interface's global IPv6 address)",
      )
      .option(
        "--subnet-file <path>",
        "where to write flannel's subnet file (default: /run/flannel/subnet.env)",
      )
      .option(
        "--ip-masq",
        "masquerade pod traffic leaving the overlay (iptables and ip6tables nat chain PODNET-POSTRTG) and write FLANNEL_IPMASQ=true",
      )
      .addOption(new Option("--no-ip-masq").hideHelp())
      .option("--healthz-ip <ip>", "address of /healthz, /readyz and /metrics (default: 127.0.0.1)")
      .option("--healthz-port <n>", "port of /healthz, /readyz and /metrics; 0 turns them off (default: 0)")
      .option(
        "--renew-margin <minutes>",
        "renew the lease when this many minutes remain, 1 to 1439 (default: 60)",
      )
      .option(
        "--release-on-exit",
        "on SIGTERM/SIGINT release the lease and delete flannel.<VNI>, so peers drop this host (default: keep both)",
      )
      .addOption(new Option("--no-release-on-exit").hideHelp())
      .option("--log-format <format>", "text (one timestamped line per event) or json (default: text)")
      .option(
        "--log-level <level>",
        "debug, info, warn or error (default: info; flanneld's -v=1 and above: debug)",
      )
      .addOption(new Option("--log-verbosity <n>").hideHelp())
      .addOption(new Option("--etcd-probe-interval <duration>").hideHelp())
      .option(
        "--reconcile-interval <duration>",
        "how often to compare the kernel with the leases and repair drift (default: 10s)",
      )
      .addOption(new Option("--lease-ttl <duration>", "TTL of a new lease (testing; default 24h)").hideHelp())
      // flanneld's spellings, so its command lines work as they are (the global flags' own names win).
      .addOption(new Option("--etcd-endpoints <list>").hideHelp())
      .addOption(new Option("--etcd-prefix <path>").hideHelp())
      .addOption(new Option("--etcd-cafile <file>").hideHelp())
      .addOption(new Option("--etcd-certfile <file>").hideHelp())
      .addOption(new Option("--etcd-keyfile <file>").hideHelp())
      .addOption(new Option("--etcd-username <name>").hideHelp())
      .addOption(new Option("--etcd-password <password>").hideHelp())
      .addOption(new Option("--subnet-lease-renew-margin <minutes>").hideHelp())
      .addHelpText(
        "after",
        "\nEach flag also comes from the environment as PODNET_<FLAG> (PODNET_IFACE, ...) or as flanneld's\n" +
          "FLANNELD_IFACE, FLANNELD_IFACE_REGEX, FLANNELD_PUBLIC_IP, FLANNELD_SUBNET_FILE, FLANNELD_IP_MASQ,\n" +
          "FLANNELD_HEALTHZ_IP, FLANNELD_HEALTHZ_PORT, FLANNELD_SUBNET_LEASE_RENEW_MARGIN; the command line wins.\n" +
          "flanneld's command line works as it is (Go flag syntax: -flag=value, -flag value, -ip-masq=true, -v=2):\n" +
          "-etcd-endpoints, -etcd-prefix, -etcd-cafile, -etcd-certfile, -etcd-keyfile, -etcd-username, -etcd-password,\n" +
          "-subnet-lease-renew-margin and the flags above; flanneld flags podnet does not implement are refused by name.\n" +
          "Under systemd (Type=notify, NotifyAccess=all) it sends READY=1 once ready, STATUS= lines, STOPPING=1 and\n" +
          "WATCHDOG=1 when WatchdogSec is set (through systemd-notify).\n" +
          "Exit status: 0 after SIGTERM/SIGINT, 1 when the lease is lost (revoked, expired or taken) or setup fails.",
      )
      .action(async (flags: AgentFlags, cmd: Command) => {
        const settings = resolveAgentSettings(flags);
        const ctx = contextFor(cmd);
        const log = agentLogger(settings.logFormat, settings.logLevel);
        const notifier = new SystemdNotifier(process.env, (message) => log(message, { level: "warn" }));
        notifier.startWatchdog();
        const stop = new AbortController();
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            log(`second ${sig}: exiting at once`, { level: "warn" });
            process.exit(1);
          }
          log(`received ${sig}`);
          void notifier.stopping(`stopping: received ${sig}`);
          stop.abort();
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
        try {
          const result = await runAgent(agentOptions(ctx.globals.prefix, settings), {
            connect: () => connect(ctx.globals.connection),
            log,
            signal: stop.signal,
            status: (update) => notifier.update(update.ready, update.text),
          });
          await notifier.stopping(`exiting with status ${result.exitCode}: ${result.reason}`);
          log(
            `exiting with status ${result.exitCode}: ${result.reason}`,
            result.exitCode === 0 ? {} : { level: "error" },
          );
          process.exitCode = result.exitCode;
          // Nothing should linger after the store is closed; if something does, do not hang a supervisor.
          setTimeout(() => process.exit(result.exitCode), 3000).unref();
        } finally {
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
        }
      })
  );
}

/** The library's options from the resolved settings. */
function agentOptions(prefix: string, settings: AgentSettings): AgentOptions {
  return {
    prefix,
    ifaces: settings.ifaces,
    ifaceRegexes: settings.ifaceRegexes,
    ...(settings.publicIp !== undefined && { publicIp: settings.publicIp }),
    ...(settings.publicIpv6 !== undefined && { publicIpv6: settings.publicIpv6 }),
    subnetFile: settings.subnetFile,
    ipMasq: settings.ipMasq,
    renewMarginSeconds: settings.renewMarginMinutes * 60,
    ...(settings.leaseTtlSeconds !== undefined && { leaseTtlSeconds: settings.leaseTtlSeconds }),
    releaseOnExit: settings.releaseOnExit,
    reconcileIntervalMs: settings.reconcileIntervalMs,
    ...(settings.healthz !== undefined && { healthz: settings.healthz }),
    ...(settings.etcdProbeMs !== undefined && { etcdProbeMs: settings.etcdProbeMs }),
    // The program (not the library) opts into prom-client's process_* and nodejs_* metrics.
    processMetrics: true,
  };
}
