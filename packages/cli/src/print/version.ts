import type { EtcdVersions } from "@podnet/ipam-core";
import { fields } from "./table.js";

/** What `podnet version` reports (its -o json form). */
export interface VersionReport {
  readonly podnet: string;
  readonly commit: string;
  readonly node: string;
  /** The store revision of the member that answered; null when none did (or it serves no JSON gateway). */
  readonly revision: number | null;
  /** The versions of the first endpoint that answered; null when none did. */
  readonly etcd: Omit<EtcdVersions, "revision"> | null;
  /** Why no endpoint answered. */
  readonly etcdError?: string;
}

/** `podnet version` as aligned fields. */
export function formatVersion(r: VersionReport): string {
  return fields([
    ["podnet", r.podnet],
    ["commit", r.commit],
    ["node", r.node],
    [
      "etcd server",
      r.etcd === null ? `unknown (${r.etcdError ?? "no answer"})` : `${r.etcd.server} (${r.etcd.endpoint})`,
    ],
    ["etcd cluster", r.etcd === null ? "unknown" : r.etcd.cluster],
    ...(r.revision === null ? [] : [["etcd revision", String(r.revision)] as const]),
  ]);
}
