import { PodnetError } from "../errors.js";

/** What messages call the connection's options (see {@link ConnectionOptions.optionNames}). */
export interface ConnectionOptionNames {
  /** How endpoints are given, after "pass". */
  readonly endpoints: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Where a password is given, for a user without one. */
  readonly password: string;
  /** How a user is given. */
  readonly user: string;
}

/** The options' own names, for a program that passes them to {@link connect}. */
export const OPTION_NAMES: ConnectionOptionNames = {
  endpoints: 'endpoints such as ["127.0.0.1:2379"]',
  caFile: "caFile",
  certFile: "certFile",
  keyFile: "keyFile",
  password: "the password option",
  user: "the user option",
};

/** The names messages use for `opts`' options. */
export function optionNamesOf(opts: {
  readonly optionNames?: ConnectionOptionNames | undefined;
}): ConnectionOptionNames {
  return opts.optionNames ?? OPTION_NAMES;
}

/** A file option and its path in a message: `--cacert file ca.pem`, or `caFile ca.pem`. */
export function fileNamed(name: string, path: string | undefined): string {
  return `${name}${name.startsWith("-") ? " file" : ""} ${path}`;
}

/** How to reach etcd: etcdctl's and flanneld's flags, resolved to values. */
export interface ConnectionOptions {
  /** Client URLs or host:port pairs; a bare host:port gets http:// (https:// when TLS is set). */
  readonly endpoints: readonly string[];
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** How long to wait for the first answer of an endpoint; default {@link DEFAULT_DIAL_TIMEOUT_MS}. */
  readonly dialTimeoutMs?: number | undefined;
  /** The deadline of each request; default {@link DEFAULT_COMMAND_TIMEOUT_MS}. */
  readonly commandTimeoutMs?: number | undefined;
  /** Accept any server certificate (etcdctl's --insecure-skip-tls-verify): no chain or name check. */
  readonly insecureSkipTlsVerify?: boolean;
  /** Keys per range request of a listing; default 32,768. */
  readonly listPageSize?: number;
  /** grpc-js transport: decode Range and TTL replies with podnet's own decoder (default true); false uses etcd3's protobufjs decoding. */
  readonly fastDecode?: boolean;
  /** The cluster's `--max-request-bytes`; default etcd's 1.5 MiB. Larger writes are refused before sending. */
  readonly maxRequestBytes?: number;
  /**
   * How to talk to etcd: "h2" (default), podnet's own gRPC over node:http2, or "grpc-js", the
   * etcd3 library (PODNET_ETCD_TRANSPORT=grpc-js for the CLI).
   */
  readonly transport?: "h2" | "grpc-js";
  /** Where a warning about the connection goes (one line); default process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  /**
   * What messages call the options a user set: the CLI passes its flags (`--cacert`, ...);
   * by default they are these options' own names (`caFile`, ...).
   */
  readonly optionNames?: ConnectionOptionNames | undefined;
}

/** Connection options with both timeouts settled, as every connecting function uses them. */
export type ResolvedConnectionOptions = ConnectionOptions & {
  readonly dialTimeoutMs: number;
  readonly commandTimeoutMs: number;
};

/** etcdctl's default dial timeout: 2 s. */
export const DEFAULT_DIAL_TIMEOUT_MS = 2000;
/** etcdctl's default command timeout: 5 s. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/**
 * The options with etcdctl's default for a timeout not given; a usage error for endpoints
 * that are not a list or a timeout that is not a positive number of milliseconds (a caller in
 * plain JavaScript gets a sentence, not a store whose every call times out at once).
 */
export function resolveConnectionOptions(opts: ConnectionOptions): ResolvedConnectionOptions {
  if (!Array.isArray(opts?.endpoints)) {
    throw new PodnetError(
      "usage",
      'endpoints must be a list of etcd client URLs, like ["http://127.0.0.1:2379"]',
    );
  }
  const timeout = (name: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new PodnetError(
        "usage",
        `${name} must be a positive number of milliseconds, not ${String(value)}`,
      );
    }
    return value;
  };
  return {
    ...opts,
    dialTimeoutMs: timeout("dialTimeoutMs", opts.dialTimeoutMs, DEFAULT_DIAL_TIMEOUT_MS),
    commandTimeoutMs: timeout("commandTimeoutMs", opts.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS),
  };
}

/** etcdctl's default endpoint. */
export const DEFAULT_ENDPOINTS: readonly string[] = ["http://127.0.0.1:2379"];

/** Endpoints with an explicit scheme; throws a usage error on a malformed one or mixed schemes. */
export function normaliseEndpoints(
  endpoints: readonly string[],
  tls: boolean,
  names: ConnectionOptionNames = OPTION_NAMES,
): string[] {
  const list = endpoints.map((e) => e.trim()).filter((e) => e.length > 0);
  if (list.length === 0) throw new PodnetError("usage", `no etcd endpoint given; pass ${names.endpoints}`);
  const out = list.map((endpoint) => {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)
      ? endpoint
      : `${tls ? "https" : "http"}://${endpoint}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new PodnetError("usage", `etcd endpoint "${endpoint}" is not a URL or host:port`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new PodnetError("usage", `etcd endpoint "${endpoint}" must use http:// or https://`);
    }
    if (url.port === "" || url.hostname === "" || (url.pathname !== "/" && url.pathname !== "")) {
      throw new PodnetError(
        "usage",
        `etcd endpoint "${endpoint}" needs a host and a port, like 127.0.0.1:2379`,
      );
    }
    return `${url.protocol}//${url.host}`;
  });
  const secure = out.filter((e) => e.startsWith("https:")).length;
  if (secure !== 0 && secure !== out.length) {
    throw new PodnetError("usage", "etcd endpoints mix http:// and https://; use one scheme for all");
  }
  if (tls && secure === 0) {
    throw new PodnetError(
      "usage",
      `TLS files were given but the endpoints use http://; use https:// endpoints or drop ${names.caFile}/${names.certFile}/${names.keyFile}`,
    );
  }
  return out;
}

/** Whether the options ask for TLS (any https:// endpoint or any certificate file). */
export function wantsTls(
  opts: Pick<ConnectionOptions, "endpoints" | "caFile" | "certFile" | "keyFile">,
): boolean {
  return (
    opts.caFile !== undefined ||
    opts.certFile !== undefined ||
    opts.keyFile !== undefined ||
    opts.endpoints.some((e) => /^https:\/\//i.test(e.trim()))
  );
}

/** Formats milliseconds the way etcdctl's flags read: `2s`, `500ms`. */
export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Parses a Go-style duration (`2s`, `500ms`, `1m30s`, `24h`) or plain seconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    total += Number(m[1]) * unit;
    matched = re.lastIndex;
  }
  return matched === t.length && t.length > 0 ? Math.round(total) : null;
}
