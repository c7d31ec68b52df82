/**
 * etcd's own limits, checked before asking it, so a request it would refuse becomes podnet's
 * sentence (with the numbers) instead of a raw gRPC status.
 */
import { PodnetError } from "../errors.js";

/** etcd's maximum lease TTL in seconds (lease.MaxLeaseTTL, 9,000,000,000 s: about 285 years). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/** etcd's default `--max-request-bytes`: 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Throws a usage error unless `ttlSeconds` is a whole number of seconds etcd can grant. */
export function checkLeaseTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new PodnetError("usage", `lease TTL must be a whole number of seconds above 0, not ${ttlSeconds}`);
  }
  if (ttlSeconds > MAX_LEASE_TTL_SECONDS) {
    throw new PodnetError(
      "usage",
      `lease TTL ${ttlSeconds}s is above etcd's maximum of ${MAX_LEASE_TTL_SECONDS}s (about 285 years)`,
    );
  }
}

/** "1.5 MiB", "20.0 MiB", "900 KiB": a byte count as an admin reads it. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Number((bytes / (1024 * 1024)).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

/**
 * Throws a usage error when a write of `bytes` (keys and values) would exceed etcd's request
 * limit; `what` names the key for the sentence.
 */
export function checkRequestSize(bytes: number, limit: number, what: string): void {
  if (bytes <= limit) return;
  throw new PodnetError(
    "usage",
    `the write to ${what} is ${formatBytes(bytes)} (${bytes} bytes), above etcd's request limit of ${formatBytes(limit)} (${limit} bytes)`,
  );
}
