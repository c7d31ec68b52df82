import { isPodnetError, PodnetError } from "../errors.js";
import { formatDuration } from "./connection.js";

/** What a failed call was doing, for the sentence. */
export interface CallContext {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  /** The key involved, when there is one. */
  readonly key?: string;
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
  if (/compacted/i.test(msg)) {
    return new PodnetError("compacted", "etcd has compacted that revision; it is no longer available", {
      cause: err,
    });
  }
  if (/certificate|ssl|tls|handshake|self.signed|unable to verify|alert/i.test(msg)) {
    return new PodnetError(
      "permission",
      `TLS handshake with etcd at ${where} failed (${tlsReason(msg)}); check --cacert, --cert and --key`,
      { cause: err },
    );
  }
  if (
    /Deadline|Unavailable|ECONNREFUSED|No connection established|failed to connect|connect|EHOSTUNREACH|ENOTFOUND/i.test(
      `${name} ${msg}`,
    )
  ) {
    return new PodnetError(
      "unavailable",
      `cannot reach etcd at ${where} within ${formatDuration(ctx.timeoutMs)}; is etcd running and are the endpoints right?`,
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
