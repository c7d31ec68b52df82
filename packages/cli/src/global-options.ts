import {
  type ConnectionOptions,
  type ConnectionSettings,
  resolveConnectionSettings,
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
  /** `--pretty`: indent JSON output even when stdout is not a terminal. */
  pretty?: boolean;
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
  /** Indent JSON output: `--pretty`, else whether stdout is a terminal. */
  readonly pretty: boolean;
  /** Where each connection setting came from, for `doctor` and for messages. */
  readonly sources: Readonly<Record<string, string>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Resolves the global flags against the environment. The password is read, never echoed. */
export function resolveGlobalOptions(
  flags: RawGlobalFlags,
  env: Env = process.env,
  terminal: boolean = !!process.stdout.isTTY,
): GlobalOptions {
  // flanneld's spellings (`podnet agent`) stand in for podnet's own when those are absent.
  const given: ConnectionSettings = {
    endpoints: flags.endpoints ?? flags.etcdEndpoints,
    prefix: flags.prefix ?? flags.etcdPrefix,
    cacert: flags.cacert ?? flags.etcdCafile,
    cert: flags.cert ?? flags.etcdCertfile,
    key: flags.key ?? flags.etcdKeyfile,
    user: flags.user ?? flags.etcdUsername,
    password: flags.password ?? flags.etcdPassword,
    passwordFile: flags.passwordFile,
    dialTimeout: flags.dialTimeout,
    commandTimeout: flags.commandTimeout,
  };
  const resolved = resolveConnectionSettings(given, env);
  const sources: Record<string, string> = {};
  for (const [name, source] of Object.entries(resolved.sources))
    sources[name] = source === "given" ? "flag" : source;
  if (sources["password"] === "flag") {
    warn("--password on the command line is visible to other users; use PODNET_PASSWORD or --password-file");
  }
  if (sources["user"] === "flag" && resolved.connection.user?.includes(":")) {
    warn(
      "--user name:password on the command line shows the password to other users; give --user name and PODNET_PASSWORD or --password-file",
    );
  }
  const connection: ConnectionOptions = {
    ...resolved.connection,
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
    prefix: resolved.prefix,
    output,
    color,
    verbose: flags.verbose === true,
    showSecrets: flags.showSecrets === true,
    pretty: flags.pretty === true || terminal,
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
