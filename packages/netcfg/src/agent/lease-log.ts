/**
 * How lease events read in the agent's log: a line per lease for a few, counts for a burst
 * (thousands of hosts starting at once).
 */
import { formatLeaseKey, type Lease } from "@podnet/ipam-core";

/** Above this many events in one batch, the log gets counts instead of a line each. */
export const MAX_EVENT_LINES = 12;

/** `10.5.7.0/24 at 192.0.2.12 (vxlan)` */
export function describeLease(lease: Lease): string {
  const v6 = lease.attrs.publicIPv6 !== null ? `, ${lease.attrs.publicIPv6}` : "";
  return `${formatLeaseKey(lease.subnet)} at ${lease.attrs.publicIP}${v6} (${lease.attrs.backendType ?? "no backend type"})`;
}

/** Counts of one batch of lease events, for the summary line. */
export class EventCounts {
  added = 0;
  changed = 0;
  deleted = 0;
  gone = 0;

  /** `leases added: 1000, deleted: 2`, or "" when nothing counted. */
  summary(): string {
    const counts = [
      [this.added, "added"],
      [this.changed, "changed"],
      [this.deleted, "deleted"],
      [this.gone, "gone (released, revoked or expired)"],
    ] as const;
    const parts = counts.filter(([n]) => n > 0).map(([n, what]) => `${what}: ${n}`);
    return parts.length === 0 ? "" : `leases ${parts.join(", ")}`;
  }
}

/** FNV-1a over the UTF-16 code units: cheap, allocation-free, and enough to tell a renewal from a change. */
export function valueHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
