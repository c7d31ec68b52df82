/**
 * flanneld's command line as it is, for `podnet agent`: Go's flag syntax (`-flag=value`,
 * `-flag value`, `--flag=value`, booleans as `-flag`, `-flag=true` or `-flag=false`) turned into
 * commander's (`--flag=value`, `--flag`, `--no-flag`), `-v=N` as log verbosity. flanneld flags
 * the agent does not implement are refused by name, never silently accepted. Pure.
 */
import { PodnetError } from "@podnet/ipam-core";

/** Flags that take a value (podnet's own and flanneld's), after `agent`. */
const VALUE_FLAGS = new Set([
  // podnet's agent flags
  "iface",
  "iface-regex",
  "public-ip",
  "public-ipv6",
  "subnet-file",
  "healthz-ip",
  "healthz-port",
  "renew-margin",
  "reconcile-interval",
  "lease-ttl",
  "log-format",
  "log-level",
  "log-verbosity",
  // flanneld's etcd flags
  "etcd-endpoints",
  "etcd-prefix",
  "etcd-cafile",
  "etcd-certfile",
  "etcd-keyfile",
  "etcd-username",
  "etcd-password",
  "subnet-lease-renew-margin",
  // podnet's global flags, which commander also takes after the command
  "endpoints",
  "prefix",
  "cacert",
  "cert",
  "key",
  "user",
  "password",
  "password-file",
  "dial-timeout",
  "command-timeout",
  "output",
]);

/** Boolean flags after `agent`. */
const BOOL_FLAGS = new Set(["ip-masq", "release-on-exit", "color", "help"]);

/** flanneld flags podnet agent does not implement, with what to do instead. */
const NOT_IMPLEMENTED: Readonly<Record<string, string>> = {
  "kube-subnet-mgr": "podnet leases from etcd only",
  "kube-api-url": "podnet leases from etcd only",
  "kube-annotation-prefix": "podnet leases from etcd only",
  "kubeconfig-file": "podnet leases from etcd only",
  "net-config-path": "the network config lives in etcd ('podnet config set FILE')",
  "set-node-network-unavailable": "podnet leases from etcd only",
  "iface-can-reach": "use -iface or -iface-regex",
  "ip-masq-fully-random-disable": "podnet uses --random-fully whenever iptables has it",
  "iptables-resync": "podnet checks its rules at every reconcile (--reconcile-interval)",
  "iptables-forward-rules": "podnet adds no FORWARD rules",
  "ip-blackhole-route": "podnet adds no blackhole route",
  vmodule: "use -v or --log-level",
  log_backtrace_at: "use -v or --log-level",
  version: "run 'podnet version'",
};

/** Global flags of `podnet` that take a value (before the command). */
const GLOBAL_VALUE = new Set([
  "--endpoints",
  "--prefix",
  "--cacert",
  "--cert",
  "--key",
  "--user",
  "--password",
  "--password-file",
  "--dial-timeout",
  "--command-timeout",
  "-o",
  "--output",
]);

/** Go's strconv.ParseBool. */
function goBool(text: string, flag: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new PodnetError("usage", `-${flag}="${text}" is not a boolean (true or false)`);
}

/**
 * The arguments with everything after the `agent` command in Go's flag syntax turned into
 * commander's; other commands' arguments are returned as they are. Throws a usage error naming
 * every flanneld flag the agent does not implement.
 */
export function flanneldArgv(argv: readonly string[]): string[] {
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] ?? "";
    if (a === "--") return [...argv];
    if (!a.startsWith("-")) break;
    i += GLOBAL_VALUE.has(a) ? 2 : 1;
  }
  if (argv[i] !== "agent") return [...argv];
  const out = argv.slice(0, i + 1);
  const refused: string[] = [];
  for (let j = i + 1; j < argv.length; j++) {
    const a = argv[j] ?? "";
    if (a === "--" || !a.startsWith("-") || a === "-") {
      out.push(...argv.slice(j));
      break;
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    if (name in NOT_IMPLEMENTED) {
      refused.push(name);
      // Skip its value too, so the rest of the line is still read as flags.
      if (
        value === undefined &&
        !(argv[j + 1] ?? "-").startsWith("-") &&
        name !== "version" &&
        !isBoolish(name)
      )
        j++;
      continue;
    }
    if (name === "v") {
      const level = value ?? argv[++j];
      if (level === undefined || !/^\d+$/.test(level)) {
        throw new PodnetError("usage", `-v wants a log verbosity like -v=2 (got ${level ?? "nothing"})`);
      }
      out.push(`--log-verbosity=${level}`);
    } else if (name === "h") {
      out.push("--help");
    } else if (BOOL_FLAGS.has(name) || (name.startsWith("no-") && BOOL_FLAGS.has(name.slice(3)))) {
      const on = value === undefined ? true : goBool(value, name);
      const base = name.startsWith("no-") ? name.slice(3) : name;
      const positive = name.startsWith("no-") ? !on : on;
      out.push(positive ? `--${base}` : `--no-${base}`);
    } else if (VALUE_FLAGS.has(name)) {
      const v = value ?? argv[++j];
      if (v === undefined) throw new PodnetError("usage", `-${name} wants a value`);
      out.push(`--${name}=${v}`);
    } else {
      // Not a flag the agent knows: commander names it (exit 2).
      out.push(a.startsWith("--") || name.length === 1 ? a : `--${body}`);
    }
  }
  if (refused.length > 0) {
    const hints = [...new Set(refused.map((n) => NOT_IMPLEMENTED[n]))].join("; ");
    throw new PodnetError(
      "usage",
      `podnet agent does not implement flanneld's ${refused.map((n) => `-${n}`).join(", ")} (${hints})`,
    );
  }
  return out;
}

/** flanneld's boolean flags among those podnet does not implement (they take no separate value). */
function isBoolish(name: string): boolean {
  return [
    "kube-subnet-mgr",
    "set-node-network-unavailable",
    "ip-masq-fully-random-disable",
    "iptables-forward-rules",
    "ip-blackhole-route",
  ].includes(name);
}
