import { isPodnetError, PodnetError } from "../errors.js";
import { type ConnectionOptionNames, formatDuration, optionNamesOf } from "./connection.js";
import { DEFAULT_MAX_REQUEST_BYTES, formatBytes, MAX_LEASE_TTL_SECONDS } from "./limits.js";

/** A TLS failure, in grpc-js's or Node's words. */
const TLS_FAILURE = /certificate|ssl|tls|handshake|self.signed|unable to verify|alert/i;

/** What a failure means for the endpoint: it did not answer (another may), or it answered. */
const ENDPOINT_FAILURE =
  /Deadline|Unavailable|ECONNREFUSED|ECONNRESET|EPIPE|No connection established|failed to connect|Connection dropped|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|leader changed|no leader|request timed out|timed out waiting for read index|Protocol error|Received HTTP status|Cancelled|Call cancelled|GOAWAY|ClientClosed|TLS|SSL|certificate|handshake/i;

/** Whether an error says the endpoint did not answer, so the call may try another endpoint. */
export function isEndpointFailure(err: unknown): boolean {
  if (isPodnetError(err)) return err.code === "unavailable";
  const name = err instanceof Error ? err.constructor.name : "";
  const msg = err instanceof Error ? err.message : String(err);
  return ENDPOINT_FAILURE.test(`${name} ${msg}`);
}

/**
 * The error that tells the admin most of several endpoints' errors: a refusal (credentials,
 * TLS) over "did not answer", since a silent endpoint says nothing about the others.
 */
export function bestError(errors: readonly unknown[]): unknown {
  const rank = (err: unknown): number => {
    const msg = `${err instanceof Error ? err.constructor.name : ""} ${err instanceof Error ? err.message : String(err)}`;
    if (TLS_FAILURE.test(msg)) return 3;
    if (!isEndpointFailure(err)) return 2;
    if (/Protocol error|Received HTTP status/i.test(msg)) return 1;
    return 0;
  };
  let best: unknown;
  let bestRank = -1;
  for (const err of errors) {
    const r = rank(err);
    // On a tie the later error: the one that used up the time, when one did.
    if (r >= bestRank) {
      best = err;
      bestRank = r;
    }
  }
  return best ?? new Error("Deadline exceeded: no endpoint answered in time");
}

/** What a failed call was doing, for the sentence. */
export interface CallContext {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  /** What the TLS options are called in messages; default their own names (caFile, ...). */
  readonly optionNames?: ConnectionOptionNames | undefined;
  /** The key involved, when there is one. */
  readonly key?: string;
}

/** The TLS options by the names messages use: `--cacert, --cert and --key`. */
function tlsNames(ctx: CallContext): string {
  const names = optionNamesOf(ctx);
  return `${names.caFile}, ${names.certFile} and ${names.keyFile}`;
}

/**
 * Turns whatever the etcd client threw into one PodnetError sentence. The password is never
 * part of the input, so it can never be part of the output.
 */
export function translateEtcdError(err: unknown, ctx: CallContext): PodnetError {
  if (isPodnetError(err)) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : "";
  const where = ctx.endpoints.join(",");
  const msg = raw.replace(/\s+Please report this error at \S+/, "");
  if (/authentication failed|invalid username or password|EtcdAuthenticationFailed/i.test(`${name} ${msg}`)) {
    return new PodnetError(
      "permission",
      `etcd at ${where} rejected the user name or password; check --user and the password`,
      { cause: err },
    );
  }
  if (/permission denied|EtcdPermissionDenied/i.test(`${name} ${msg}`)) {
    const what = ctx.key !== undefined ? ` on ${ctx.key}` : "";
    return new PodnetError(
      "permission",
      `etcd at ${where} denied permission${what}; the user's role does not cover this key`,
      {
        cause: err,
      },
    );
  }
  if (
    /user name is empty|user name not found|Unauthenticated|invalid auth token|token/i.test(`${name} ${msg}`)
  ) {
    return new PodnetError("permission", `etcd at ${where} requires authentication; pass --user`, {
      cause: err,
    });
  }
  if (/too large lease TTL/i.test(msg)) {
    return new PodnetError(
      "usage",
      `etcd refused the lease TTL: above its maximum of ${MAX_LEASE_TTL_SECONDS}s`,
      {
        cause: err,
      },
    );
  }
  if (/request is too large|larger than max|RESOURCE_EXHAUSTED|ResourceExhausted/i.test(`${name} ${msg}`)) {
    const what = ctx.key !== undefined ? ` to ${ctx.key}` : "";
    return new PodnetError(
      "failed",
      `etcd at ${where} refused the write${what} as too large (its default request limit is ${formatBytes(DEFAULT_MAX_REQUEST_BYTES)})`,
      { cause: err },
    );
  }
  if (/compacted/i.test(msg)) {
    return new PodnetError("compacted", "etcd has compacted that revision; it is no longer available", {
      cause: err,
    });
  }
  if (TLS_FAILURE.test(msg)) {
    return new PodnetError(
      "permission",
      `TLS handshake with etcd at ${where} failed (${tlsReason(msg)}); check ${tlsNames(ctx)}`,
      { cause: err },
    );
  }
  if (/Protocol error|Received HTTP status|Received RST_STREAM|malformed|HTTP\/1/i.test(msg)) {
    return new PodnetError(
      "unavailable",
      `the endpoint ${where} does not speak etcd's gRPC (is it an HTTP/1 server, or http:// for an https:// etcd?)`,
      { cause: err },
    );
  }
  if (
    /Deadline|Unavailable|ECONNREFUSED|No connection established|failed to connect|connect|EHOSTUNREACH|ENOTFOUND/i.test(
      `${name} ${msg}`,
    )
  ) {
    const how = /ECONNREFUSED/.test(msg)
      ? ": connection refused"
      : ` within ${formatDuration(ctx.timeoutMs)}`;
    return new PodnetError(
      "unavailable",
      `cannot reach etcd at ${where}${how}; is etcd running and are the endpoints right?`,
      { cause: err },
    );
  }
  return new PodnetError("failed", `etcd at ${where} failed: ${firstLine(msg)}`, { cause: err });
}

/** grpc wraps the TLS error in its own words; keep the part an admin can act on. */
function tlsReason(msg: string): string {
  const last = /Last error: (?:Error: )?([^.]+)/.exec(msg);
  return (last?.[1] ?? firstLine(msg)).trim();
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? text).trim();
}
