import {
  type ConnectionOptions,
  type ConnectionSettings,
  resolveConnectionSettings,
} from "@podnet/ipam-core";
import { type OutputFormat, parseOutputFormat } from "./print/output.js";

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
  color?: boolean;
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
  /** Where each connection setting came from ("flag" or a variable), for `doctor` and for messages. */
  readonly sources: Readonly<Record<string, string>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Resolves the global flags against the environment. The password is read, never echoed. */
export function resolveGlobalOptions(flags: RawGlobalFlags, env: Env = process.env): GlobalOptions {
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
    process.stderr.write(
      "podnet: warning: --password on the command line is visible to other users; use PODNET_PASSWORD or --password-file\n",
    );
  }
  const output = parseOutputFormat(flags.output ?? env["PODNET_OUTPUT"] ?? "table");
  const color =
    flags.color !== false &&
    env["NO_COLOR"] === undefined &&
    env["PODNET_NO_COLOR"] === undefined &&
    !!process.stdout.isTTY;
  return { connection: resolved.connection, prefix: resolved.prefix, output, color, sources };
}
