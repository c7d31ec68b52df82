import { readFileSync } from "node:fs";
import {
  type ConnectionOptions,
  checkPrefix,
  DEFAULT_ENDPOINTS,
  DEFAULT_PREFIX,
  PodnetError,
  parseDuration,
} from "@podnet/ipam-core";
import { type OutputFormat, parseOutputFormat } from "./print/output.js";
import { warn } from "./print/warn.js";

/** The global flags as commander hands them over (strings, all optional). */
export interface RawGlobalFlags {
  endpoints?: string;
  prefix?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  dialTimeout?: string;
  commandTimeout?: string;
  output?: string;
  /** etcdctl's `-w/--write-out`, the same as `-o/--output`. */
  writeOut?: string;
  color?: boolean;
  /** `--verbose`: every warning line, not the first 20 and a count. */
  verbose?: boolean;
  /** `--show-secrets`: print pre-shared keys and other secrets in clear. */
  showSecrets?: boolean;
  /** etcdctl's `--insecure-skip-tls-verify`. */
  insecureSkipTlsVerify?: boolean;
  /** flanneld's spellings of the same flags, which `podnet agent` accepts (the podnet spelling wins). */
  etcdEndpoints?: string;
  etcdPrefix?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  etcdUsername?: string;
  etcdPassword?: string;
}

/** flanneld's flag for each setting that has one. */
const FLANNELD_FLAGS: Partial<Record<keyof typeof ENV_FALLBACKS, keyof RawGlobalFlags>> = {
  endpoints: "etcdEndpoints",
  prefix: "etcdPrefix",
  cacert: "etcdCafile",
  cert: "etcdCertfile",
  key: "etcdKeyfile",
  user: "etcdUsername",
  password: "etcdPassword",
};

/** The settings every command shares, resolved from flags and environment. */
export interface GlobalOptions {
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  readonly output: OutputFormat;
  readonly color: boolean;
  /** Print every warning (`--verbose`). */
  readonly verbose: boolean;
  /** Show secrets in clear (`--show-secrets`); otherwise they print as `<redacted>`. */
  readonly showSecrets: boolean;
  /** Where each connection setting came from, for `doctor` and for messages. */
  readonly sources: Readonly<Record<string, string>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Each setting: its flag, then PODNET_<FLAG>, then etcdctl's and flanneld's variables where
 * they mean the same thing. The command line always wins.
 */
const ENV_FALLBACKS: Record<
  Exclude<
    keyof RawGlobalFlags,
    "color" | "output" | "writeOut" | "verbose" | "showSecrets" | "insecureSkipTlsVerify" | `etcd${string}`
  >,
  readonly string[]
> = {
  endpoints: ["PODNET_ENDPOINTS", "ETCDCTL_ENDPOINTS", "FLANNELD_ETCD_ENDPOINTS"],
  prefix: ["PODNET_PREFIX", "FLANNELD_ETCD_PREFIX"],
  cacert: ["PODNET_CACERT", "ETCDCTL_CACERT", "FLANNELD_ETCD_CAFILE"],
  cert: ["PODNET_CERT", "ETCDCTL_CERT", "FLANNELD_ETCD_CERTFILE"],
  key: ["PODNET_KEY", "ETCDCTL_KEY", "FLANNELD_ETCD_KEYFILE"],
  user: ["PODNET_USER", "ETCDCTL_USER", "FLANNELD_ETCD_USERNAME"],
  password: ["PODNET_PASSWORD", "ETCDCTL_PASSWORD", "FLANNELD_ETCD_PASSWORD"],
  passwordFile: ["PODNET_PASSWORD_FILE"],
  dialTimeout: ["PODNET_DIAL_TIMEOUT", "ETCDCTL_DIAL_TIMEOUT"],
  commandTimeout: ["PODNET_COMMAND_TIMEOUT", "ETCDCTL_COMMAND_TIMEOUT"],
};

function pick(
  flags: RawGlobalFlags,
  env: Env,
  name: keyof typeof ENV_FALLBACKS,
  sources: Record<string, string>,
) {
  const alias = FLANNELD_FLAGS[name];
  const fromFlag = flags[name] ?? (alias !== undefined ? flags[alias] : undefined);
  if (typeof fromFlag === "string" && fromFlag !== "") {
    sources[name] = "flag";
    return fromFlag;
  }
  for (const variable of ENV_FALLBACKS[name]) {
    const value = env[variable];
    if (value !== undefined && value !== "") {
      sources[name] = variable;
      return value;
    }
  }
  return undefined;
}

function duration(text: string | undefined, flag: string, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text);
  if (ms === null || ms <= 0)
    throw new PodnetError("usage", `--${flag} "${text}" is not a duration like 2s or 500ms`);
  return ms;
}

/** Resolves the global flags against the environment. The password is read, never echoed. */
export function resolveGlobalOptions(
  flags: RawGlobalFlags,
  env: Env = process.env,
  terminal: boolean = !!process.stdout.isTTY,
): GlobalOptions {
  const sources: Record<string, string> = {};
  const endpoints = pick(flags, env, "endpoints", sources);
  // An explicit empty --prefix is a mistake, not a request for the default.
  const prefixFlag =
    flags.prefix !== undefined ? "--prefix" : flags.etcdPrefix !== undefined ? "--etcd-prefix" : undefined;
  const givenPrefix =
    prefixFlag === "--prefix" ? flags.prefix : prefixFlag !== undefined ? flags.etcdPrefix : undefined;
  const rawPrefix = givenPrefix ?? pick(flags, env, "prefix", sources);
  if (givenPrefix !== undefined) sources["prefix"] = "flag";
  const prefix = checkPrefix(rawPrefix ?? DEFAULT_PREFIX, prefixFlag ?? sources["prefix"] ?? "--prefix");
  const caFile = pick(flags, env, "cacert", sources);
  const certFile = pick(flags, env, "cert", sources);
  const keyFile = pick(flags, env, "key", sources);
  const user = pick(flags, env, "user", sources);
  let password = pick(flags, env, "password", sources);
  const passwordFile = pick(flags, env, "passwordFile", sources);
  if (passwordFile !== undefined) {
    try {
      password = readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new PodnetError("usage", `cannot read --password-file ${passwordFile} (${code})`);
    }
  }
  if (sources["password"] === "flag") {
    warn("--password on the command line is visible to other users; use PODNET_PASSWORD or --password-file");
  }
  if (sources["user"] === "flag" && user?.includes(":")) {
    warn(
      "--user name:password on the command line shows the password to other users; give --user name and PODNET_PASSWORD or --password-file",
    );
  }
  const connection: ConnectionOptions = {
    endpoints: endpoints !== undefined ? endpoints.split(",") : DEFAULT_ENDPOINTS,
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    dialTimeoutMs: duration(pick(flags, env, "dialTimeout", sources), "dial-timeout", 2000),
    commandTimeoutMs: duration(pick(flags, env, "commandTimeout", sources), "command-timeout", 5000),
    onWarning: warn,
    ...(insecureSkipTlsVerify(flags, env) ? { insecureSkipTlsVerify: true } : {}),
  };
  const output = parseOutputFormat(
    flags.output ??
      flags.writeOut ??
      nonEmpty(env["PODNET_OUTPUT"]) ??
      nonEmpty(env["ETCDCTL_WRITE_OUT"]) ??
      "table",
  );
  // NO_COLOR's convention (no-color.org): only a non-empty value turns colour off.
  const color =
    flags.color !== false &&
    nonEmpty(env["NO_COLOR"]) === undefined &&
    nonEmpty(env["PODNET_NO_COLOR"]) === undefined &&
    terminal;
  return {
    connection,
    prefix,
    output,
    color,
    verbose: flags.verbose === true,
    showSecrets: flags.showSecrets === true,
    sources,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** `--insecure-skip-tls-verify`, or ETCDCTL_INSECURE_SKIP_TLS_VERIFY=true as etcdctl reads it. */
function insecureSkipTlsVerify(flags: RawGlobalFlags, env: Env): boolean {
  if (flags.insecureSkipTlsVerify === true) return true;
  const value = env["PODNET_INSECURE_SKIP_TLS_VERIFY"] ?? env["ETCDCTL_INSECURE_SKIP_TLS_VERIFY"];
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}
