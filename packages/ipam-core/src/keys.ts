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

/** The key of the network config document: `<prefix>/config`. */
export function configKey(prefix: string): string {
  return `${normalisePrefix(prefix)}/config`;
}

/** The directory of lease keys, with its trailing slash: `<prefix>/subnets/`. */
export function subnetsPrefix(prefix: string): string {
  return `${normalisePrefix(prefix)}/subnets/`;
}
