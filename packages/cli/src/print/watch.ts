/**
 * `podnet watch` on the terminal: one line per lease event, as a human line, a JSON line, a
 * YAML document or tab-separated fields; and the rate limit of its retry errors on stderr.
 */
import { type Lease, type LeaseEvent, parseLeaseKey } from "@podnet/ipam-core";
import type { Palette } from "./colour.js";
import { subnetText, vtepMacOf } from "./lease.js";
import type { OutputFormat } from "./output.js";

/** One printed line of `podnet watch`: a lease of the first listing, or one event. */
export type WatchLineType = "snapshot" | LeaseEvent["type"];

/** The stable machine form of one watch line (-o json prints one per line). */
export interface WatchLine {
  readonly time: string;
  readonly type: WatchLineType;
  /** The subnet, `10.5.52.0/24`; null for a foreign key. */
  readonly subnet: string | null;
  readonly key: string;
  readonly publicIP: string | null;
  readonly backendType: string | null;
  readonly vtepMAC: string | null;
  /** The event's etcd revision; for snapshot lines, the listing's. */
  readonly revision: number;
  /** Removed lines only: true when the etcd lease is gone too (TTL expiry or revoke). */
  readonly expired?: boolean;
  /** Foreign and damaged lines only: why the entry is not a lease. */
  readonly reason?: string;
}

/** `2026-11-23T18:00:00Z`: UTC to the second, as admins read logs. */
export function watchTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function leaseFields(lease: Lease | undefined) {
  if (lease === undefined) return { subnet: null, publicIP: null, backendType: null, vtepMAC: null };
  const mac = vtepMacOf(lease);
  return {
    subnet: subnetText(lease.subnet),
    publicIP: lease.attrs.publicIP,
    backendType: lease.attrs.backendType ?? null,
    vtepMAC: mac === "-" ? null : mac,
  };
}

/** The subnet a key names (`.../10.5.52.0-24` → `10.5.52.0/24`); null when it names none. */
function subnetOfKey(key: string): string | null {
  const subnet = parseLeaseKey(key.slice(key.lastIndexOf("/") + 1));
  return subnet === null ? null : subnetText(subnet);
}

/** A lease of the first listing as a watch line. */
export function snapshotLine(lease: Lease, revision: number, time: string): WatchLine {
  return { time, type: "snapshot", key: lease.key, ...leaseFields(lease), revision };
}

/** One event as a watch line; a removal carries what it removed. */
export function eventLine(event: LeaseEvent, time: string): WatchLine {
  switch (event.type) {
    case "added":
    case "changed":
      return {
        time,
        type: event.type,
        key: event.lease.key,
        ...leaseFields(event.lease),
        revision: event.revision,
      };
    case "removed": {
      const fields = leaseFields(event.previous);
      return {
        time,
        type: "removed",
        key: event.key,
        ...fields,
        subnet: fields.subnet ?? subnetOfKey(event.key),
        revision: event.revision,
        expired: event.expired,
      };
    }
    case "damaged":
      return {
        time,
        type: "damaged",
        key: event.key,
        ...leaseFields(undefined),
        subnet: subnetOfKey(event.key),
        revision: event.revision,
        reason: event.reason,
      };
    case "foreign":
      return {
        time,
        type: "foreign",
        key: event.key,
        ...leaseFields(undefined),
        revision: event.revision,
        reason: event.reason,
      };
  }
}

const dash = (v: string | null): string => v ?? "-";

/** The human line: `2026-11-23T18:00:00Z added 10.5.52.0/24 192.0.2.7 vxlan c6:d2:32:6f:8f:44`. */
export function formatWatchLine(line: WatchLine, colours: Palette): string {
  const type =
    line.type === "added"
      ? colours.green(line.type)
      : line.type === "removed"
        ? colours.red(line.type)
        : line.type === "foreign" || line.type === "damaged"
          ? colours.yellow(line.type)
          : line.type === "snapshot"
            ? colours.dim(line.type)
            : line.type;
  const time = colours.dim(line.time);
  if (line.type === "foreign")
    return `${time} ${type} ${line.key} (${line.reason ?? "not a subnet"}; skipped)`;
  if (line.type === "damaged") {
    return `${time} ${type} ${dash(line.subnet)} ${line.key} (${line.reason ?? "not a lease"})`;
  }
  const parts = [
    time,
    type,
    dash(line.subnet),
    dash(line.publicIP),
    dash(line.backendType),
    dash(line.vtepMAC),
  ];
  if (line.type === "removed") parts.push(line.expired ? "(expired)" : "(deleted)");
  return parts.join(" ");
}

/**
 * A watch line in the chosen output format, with its newline. Synchronous, so lines leave in
 * the order the events came; yaml's `stringify` is passed in, loaded once by the caller.
 */
export function renderWatchLine(
  line: WatchLine,
  format: OutputFormat,
  colours: Palette,
  yaml?: (value: unknown) => string,
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(line)}\n`;
    case "yaml":
      if (yaml === undefined) throw new Error("renderWatchLine: -o yaml needs the yaml serialiser");
      return `---\n${yaml(line)}`;
    case "simple":
      return `${[
        line.time,
        line.type,
        dash(line.subnet),
        dash(line.publicIP),
        dash(line.backendType),
        dash(line.vtepMAC),
        String(line.revision),
        line.expired === undefined ? "-" : String(line.expired),
        line.key,
      ].join("\t")}\n`;
    default:
      return `${formatWatchLine(line, colours)}\n`;
  }
}

/** Writes one watch line on stdout, in the chosen format (see renderWatchLine). */
export function writeWatchLine(
  line: WatchLine,
  format: OutputFormat,
  colours: Palette,
  yaml?: (value: unknown) => string,
): void {
  process.stdout.write(renderWatchLine(line, format, colours, yaml));
}

/**
 * Lets one line through per `intervalMs` while failures repeat (etcd away for minutes must not
 * flood stderr); the next line that passes says how many were held back.
 */
export function errorRateLimiter(intervalMs: number, now: () => number = Date.now) {
  let last = Number.NEGATIVE_INFINITY;
  let held = 0;
  return {
    /** The line to print now, or undefined when it is held back. */
    line(message: string): string | undefined {
      const t = now();
      if (t - last < intervalMs) {
        held++;
        return undefined;
      }
      last = t;
      const more = held > 0 ? ` (${held} similar ${held === 1 ? "error" : "errors"} not shown)` : "";
      held = 0;
      return `${message}${more}`;
    },
  };
}
