import { PodnetError } from "./errors.js";

/** flannel's default etcd prefix (flanneld --etcd-prefix). */
export const DEFAULT_PREFIX = "/coreos.com/network";

/**
 * The prefix normalised as flannel's path.Join does: repeated and trailing slashes go, a
 * leading slash stays as given (flanneld with `coreos.com/network` writes keys without one).
 */
export function normalisePrefix(prefix: string): string {
  return prefix
    .trim()
    .replace(/\/{2,}/g, "/")
    .replace(/\/+$/, "");
}

/**
 * The prefix an admin gave, checked: absolute and below the root (etcd keys podnet writes
 * must not depend on the current directory of nothing); trailing slashes are dropped.
 * Throws a usage error naming `flag` otherwise.
 */
export function checkPrefix(prefix: string, flag = "--prefix"): string {
  const trimmed = prefix.trim();
  if (trimmed === "")
    throw new PodnetError("usage", `${flag} is empty; give an absolute key prefix like ${DEFAULT_PREFIX}`);
  if (!trimmed.startsWith("/")) {
    throw new PodnetError(
      "usage",
      `${flag} "${prefix}" must be absolute (start with /), like ${DEFAULT_PREFIX}`,
    );
  }
  const normalised = normalisePrefix(trimmed);
  if (normalised === "")
    throw new PodnetError(
      "usage",
      `${flag} "${prefix}" must name a directory below /, like ${DEFAULT_PREFIX}`,
    );
  return normalised;
}

/** The key of the network config document: `<prefix>/config`. */
export function configKey(prefix: string): string {
  return `${normalisePrefix(prefix)}/config`;
}

/** The directory of lease keys, with its trailing slash: `<prefix>/subnets/`. */
export function subnetsPrefix(prefix: string): string {
  return `${normalisePrefix(prefix)}/subnets/`;
}
