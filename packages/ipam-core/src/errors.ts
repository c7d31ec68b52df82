/**
 * Errors are values with a code and one sentence for a human. The CLI maps codes to exit
 * statuses in one place (cli/src/exit.ts); libraries never print.
 */
export type ErrorCode =
  /** The caller asked for something malformed (bad flag, bad argument). */
  | "usage"
  /** A document failed validation. */
  | "invalid"
  /** A key or file that should exist does not. */
  | "not-found"
  /** A compare-and-swap lost: somebody else changed the key since it was read. */
  | "conflict"
  /** No etcd endpoint answered within the dial or command timeout. */
  | "unavailable"
  /** etcd refused the credentials or the user lacks a permission. */
  | "permission"
  /** etcd compacted the revision asked for. */
  | "compacted"
  /** No free subnet is left in the configured range. */
  | "exhausted"
  /** A host tool (ip, bridge) is missing or failed. */
  | "host"
  /** Anything else that failed. */
  | "failed";

/** An error podnet expects and can explain in one sentence. */
export class PodnetError extends Error {
  override readonly name = "PodnetError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether `err` is a PodnetError, optionally of one code. */
export function isPodnetError(err: unknown, code?: ErrorCode): err is PodnetError {
  return err instanceof PodnetError && (code === undefined || err.code === code);
}
