/**
 * Where etcd is and how to reach it, from explicit settings and the environment: podnet's
 * `PODNET_*` variables, then etcdctl's `ETCDCTL_*` and flanneld's `FLANNELD_ETCD_*` where they
 * mean the same. The CLI's global flags and the library's {@link connectFromEnv} both resolve
 * here, so the rule exists once.
 */
import { readFileSync } from "node:fs";
import { PodnetError } from "./errors.js";
import {
  type ConnectionOptionNames,
  type ConnectionOptions,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_ENDPOINTS,
  parseDuration,
} from "./etcd/connection.js";
import { connect } from "./etcd/etcd-store.js";
import type { Store } from "./etcd/store.js";
import { checkPrefix, DEFAULT_PREFIX } from "./keys.js";

/**
 * Connection settings as a person types them (strings, all optional), named like podnet's
 * global flags: `endpoints` is `--endpoints`, `dialTimeout` is `--dial-timeout`, and so on.
 */
export interface ConnectionSettings {
  /** Comma-separated client URLs or host:port pairs. */
  readonly endpoints?: string | undefined;
  /** The etcd prefix of the network, default `/coreos.com/network`. */
  readonly prefix?: string | undefined;
  /** The CA file; given alone, it turns on server-only TLS. */
  readonly cacert?: string | undefined;
  /** The client certificate file (with `key`). */
  readonly cert?: string | undefined;
  /** The client key file (with `cert`). */
  readonly key?: string | undefined;
  /** The etcd user, `name` or `name:password`. */
  readonly user?: string | undefined;
  /** The etcd password. */
  readonly password?: string | undefined;
  /** A file whose first line is the etcd password (wins over `password`). */
  readonly passwordFile?: string | undefined;
  /** The dial timeout as a duration (`2s`, `500ms`), default 2 s. */
  readonly dialTimeout?: string | undefined;
  /** The deadline of each request as a duration, default 5 s. */
  readonly commandTimeout?: string | undefined;
}

/** The name of one connection setting. */
export type ConnectionSetting = keyof ConnectionSettings;

/**
 * The environment variables of each setting, in the order they are tried: podnet's own,
 * then etcdctl's, then flanneld's.
 */
export const CONNECTION_ENV: Readonly<Record<ConnectionSetting, readonly string[]>> = {
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

/** The flag spelling of each setting, for messages (`--dial-timeout`). */
const FLAG_NAMES: Readonly<Record<ConnectionSetting, string>> = {
  endpoints: "--endpoints",
  prefix: "--prefix",
  cacert: "--cacert",
  cert: "--cert",
  key: "--key",
  user: "--user",
  password: "--password",
  passwordFile: "--password-file",
  dialTimeout: "--dial-timeout",
  commandTimeout: "--command-timeout",
};

/** What messages call the connection's options when they come from these settings. */
const SETTING_NAMES: ConnectionOptionNames = {
  endpoints: `${FLAG_NAMES.endpoints} host:port`,
  caFile: FLAG_NAMES.cacert,
  certFile: FLAG_NAMES.cert,
  keyFile: FLAG_NAMES.key,
  password: `PODNET_PASSWORD or ${FLAG_NAMES.passwordFile}`,
  user: FLAG_NAMES.user,
};

/** An environment to read variables from; `process.env` by default. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Connection settings resolved to values, with where each one came from. */
export interface ResolvedConnection {
  /** What {@link connect} takes. */
  readonly connection: ConnectionOptions;
  /** The etcd prefix, without a trailing `/`. */
  readonly prefix: string;
  /** For each setting that was found: `"given"` or the environment variable it came from. */
  readonly sources: Readonly<Partial<Record<ConnectionSetting, string>>>;
}

/**
 * Resolves each setting: the given value, then its environment variables in
 * {@link CONNECTION_ENV} order, then the default. Reads `passwordFile`. Throws a `usage`
 * PodnetError for a malformed duration or an unreadable password file.
 */
export function resolveConnectionSettings(
  given: ConnectionSettings = {},
  env: Environment = process.env,
): ResolvedConnection {
  checkSettings(given);
  const sources: Partial<Record<ConnectionSetting, string>> = {};
  const pick = (name: ConnectionSetting): string | undefined => {
    const value = given[name];
    if (value !== undefined && value !== "") {
      sources[name] = "given";
      return value;
    }
    for (const variable of CONNECTION_ENV[name]) {
      const fromEnv = env[variable];
      if (fromEnv !== undefined && fromEnv !== "") {
        sources[name] = variable;
        return fromEnv;
      }
    }
    return undefined;
  };
  const named = (name: ConnectionSetting): string =>
    sources[name] === "given" ? FLAG_NAMES[name] : (sources[name] ?? FLAG_NAMES[name]);
  const duration = (name: "dialTimeout" | "commandTimeout", fallbackMs: number): number => {
    const text = pick(name);
    if (text === undefined) return fallbackMs;
    const ms = parseDuration(text);
    if (ms === null || ms <= 0)
      throw new PodnetError("usage", `${named(name)} "${text}" is not a duration like 2s or 500ms`);
    return ms;
  };

  const endpoints = pick("endpoints");
  // An explicitly empty prefix is a mistake, not a request for the default.
  if (given.prefix !== undefined && given.prefix.trim() === "") sources.prefix = "given";
  const prefix = checkPrefix(
    given.prefix !== undefined && given.prefix.trim() === ""
      ? given.prefix
      : (pick("prefix") ?? DEFAULT_PREFIX),
    named("prefix"),
  );
  const caFile = pick("cacert");
  const certFile = pick("cert");
  const keyFile = pick("key");
  const user = pick("user");
  let password = pick("password");
  const passwordFile = pick("passwordFile");
  if (passwordFile !== undefined) {
    try {
      password = readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new PodnetError("usage", `cannot read ${named("passwordFile")} ${passwordFile} (${code})`);
    }
  }
  const transport = etcdTransport(env);
  const connection: ConnectionOptions = {
    ...(transport !== undefined ? { transport } : {}),
    endpoints: endpoints !== undefined ? endpoints.split(",") : DEFAULT_ENDPOINTS,
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    dialTimeoutMs: duration("dialTimeout", DEFAULT_DIAL_TIMEOUT_MS),
    commandTimeoutMs: duration("commandTimeout", DEFAULT_COMMAND_TIMEOUT_MS),
    // The settings are flags and variables: messages name the flags.
    optionNames: SETTING_NAMES,
  };
  return { connection, prefix, sources };
}

/**
 * A usage error for settings that are not an object of strings (a caller in plain JavaScript
 * passing an endpoint, or connect()'s list or milliseconds), rather than a TypeError or a
 * setting silently ignored.
 */
function checkSettings(given: unknown): void {
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new PodnetError(
      "usage",
      `connection settings must be an object such as { endpoints: "http://127.0.0.1:2379" }, not ${
        typeof given === "string"
          ? `the string ${JSON.stringify(given)}`
          : Array.isArray(given)
            ? "a list"
            : String(given)
      }`,
    );
  }
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || typeof value === "string" || !(name in CONNECTION_ENV)) continue;
    const example =
      name === "endpoints"
        ? '"http://10.0.0.1:2379,http://10.0.0.2:2379"'
        : name.endsWith("Timeout")
          ? '"2s"'
          : "a string";
    throw new PodnetError(
      "usage",
      `the ${name} setting must be a string such as ${example}, not ${Array.isArray(value) ? "a list" : `the ${typeof value} ${String(value)}`}`,
    );
  }
}

/** The environment variable that picks the etcd transport: `h2` (the default) or `grpc-js` (etcd3). */
export const TRANSPORT_ENV = "PODNET_ETCD_TRANSPORT";

/** The transport {@link TRANSPORT_ENV} asks for; a usage error for anything else. */
function etcdTransport(env: Environment): "h2" | "grpc-js" | undefined {
  const value = env[TRANSPORT_ENV];
  if (value === undefined || value === "") return undefined;
  if (value === "h2" || value === "grpc-js") return value;
  throw new PodnetError("usage", `${TRANSPORT_ENV} "${value}" is not h2 or grpc-js`);
}

/** An open etcd connection and the prefix it serves; close it, or let `await using` do it. */
export interface EtcdSession extends AsyncDisposable {
  /** The connected store. */
  readonly store: Store;
  /** The etcd prefix of the network, without a trailing `/`. */
  readonly prefix: string;
  /** The settings it was opened with (the password included: do not print it). */
  readonly connection: ConnectionOptions;
  /** Closes the connection; calling it again does nothing. */
  close(): void;
}

/**
 * Connects to etcd as the `podnet` command would: each setting given here, else from
 * `PODNET_*`, `ETCDCTL_*` or `FLANNELD_ETCD_*`, else etcdctl's defaults
 * (`http://127.0.0.1:2379`, dial timeout 2 s, command timeout 5 s). Resolves once etcd has
 * answered; rejects with an `unavailable`, `permission` or `usage` PodnetError.
 */
export async function connectFromEnv(
  settings: ConnectionSettings = {},
  env: Environment = process.env,
): Promise<EtcdSession> {
  const { connection, prefix } = resolveConnectionSettings(settings, env);
  const store = await connect(connection);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    store.close();
  };
  return {
    store,
    prefix,
    connection,
    close,
    [Symbol.asyncDispose]: async () => close(),
  };
}
