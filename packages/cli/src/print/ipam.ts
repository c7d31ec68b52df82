/**
 * `podnet ipam` on the terminal: utilisation, who holds an address, the free space, the
 * findings of a check and the outcome of a release, each with its stable machine form
 * (field names documented in the README; IPv6 counts are decimal strings, IPv4 counts numbers).
 */
import {
  type AddressLocation,
  type CleanupOutcome,
  EXPIRING_SOON_SECONDS,
  type FamilyUtilisation,
  type Finding,
  formatIPv4,
  formatIPv4Cidr,
  formatIPv6,
  formatIPv6Cidr,
  type IPv4Net,
  type IPv6Net,
  isReservation,
  type Lease,
  type LeaseNetwork,
  type ListingCounts,
  type ReleaseTarget,
  type Report,
  subnetName,
  type Utilisation,
} from "@podnet/ipam-core";
import { formatTtl, revokedText, simpleTtl } from "./lease.js";
import { fields, table } from "./table.js";

// ---- utilisation ----

/** The machine form of one family's utilisation; counts are numbers for IPv4, strings for IPv6. */
export interface FamilyUsageData {
  readonly network: string;
  readonly subnetLen: number;
  readonly subnetMin: string;
  readonly subnetMax: string;
  readonly total: number | string;
  readonly leased: number | string;
  readonly reserved: number | string;
  readonly damaged: number | string;
  readonly used: number | string;
  readonly free: number | string;
  readonly expiringSoon: number | null;
  readonly percentUsed: number;
}

/** The machine form of `ipam show`. */
export interface UsageData {
  readonly prefix: string;
  readonly revision: number;
  readonly ipv4?: FamilyUsageData;
  readonly ipv6?: FamilyUsageData;
  readonly leases: number;
  readonly reservations: number;
  readonly damagedEntries: number;
  readonly foreignEntries: number;
  /** A lease counts as expiring soon below this TTL. */
  readonly expiringSoonSeconds: number;
  /** Whether TTLs were looked up; when false every expiringSoon is null and `note` says why. */
  readonly ttlsChecked: boolean;
  readonly note?: string;
}

/** Builds the machine form of `ipam show`. */
export function usageData(
  prefix: string,
  listing: ListingCounts,
  network: LeaseNetwork,
  util: Utilisation,
  ttls: { checked: boolean; note?: string },
): UsageData {
  const { reservations } = listing;
  const family = <N extends number | bigint>(
    u: FamilyUtilisation<N>,
    head: Pick<FamilyUsageData, "network" | "subnetLen" | "subnetMin" | "subnetMax">,
  ): FamilyUsageData => {
    const c = (n: number | bigint): number | string => (typeof n === "bigint" ? n.toString() : n);
    return {
      ...head,
      total: c(u.total),
      leased: c(u.leased),
      reserved: c(u.reserved),
      damaged: c(u.damaged),
      used: c(u.used),
      free: c(u.free),
      expiringSoon: u.expiringSoon,
      percentUsed: u.percentUsed,
    };
  };
  const r4 = network.ipv4;
  const r6 = network.ipv6;
  return {
    prefix,
    revision: listing.revision,
    ...(r4 !== undefined &&
      util.ipv4 !== undefined && {
        ipv4: family(util.ipv4, {
          network: formatIPv4Cidr(r4.network),
          subnetLen: r4.subnetLen,
          subnetMin: formatIPv4(r4.min),
          subnetMax: formatIPv4(r4.max),
        }),
      }),
    ...(r6 !== undefined &&
      util.ipv6 !== undefined && {
        ipv6: family(util.ipv6, {
          network: formatIPv6Cidr(r6.network),
          subnetLen: r6.subnetLen,
          subnetMin: formatIPv6(r6.min),
          subnetMax: formatIPv6(r6.max),
        }),
      }),
    leases: listing.size - reservations,
    reservations,
    damagedEntries: listing.damaged.length,
    foreignEntries: listing.foreign.length,
    expiringSoonSeconds: EXPIRING_SOON_SECONDS,
    ttlsChecked: ttls.checked,
    ...(ttls.note !== undefined && { note: ttls.note }),
  };
}

const USAGE_HEAD = [
  "FAMILY",
  "NETWORK",
  "RANGE",
  "SUBNETS",
  "LEASED",
  "RESERVED",
  "DAMAGED",
  "FREE",
  "EXPIRING<1H",
  "USED",
];

/** The rows of `ipam show` (also its `-o simple` form). */
export function usageRows(data: UsageData): string[][] {
  const rows: string[][] = [];
  for (const [name, f] of [
    ["IPv4", data.ipv4],
    ["IPv6", data.ipv6],
  ] as const) {
    if (f === undefined) continue;
    rows.push([
      name,
      f.network,
      `${f.subnetMin}-${f.subnetMax}/${f.subnetLen}`,
      String(f.total),
      String(f.leased),
      String(f.reserved),
      String(f.damaged),
      String(f.free),
      f.expiringSoon === null ? "-" : String(f.expiringSoon),
      `${f.percentUsed}%`,
    ]);
  }
  return rows;
}

/** The `ipam show` table with its footer. */
export function formatUsage(data: UsageData): string {
  const lines = [table(USAGE_HEAD, usageRows(data)), ""];
  lines.push(
    `${plural(data.leases, "lease")}, ${plural(data.reservations, "reservation")} at revision ${data.revision}` +
      (data.damagedEntries + data.foreignEntries > 0
        ? `; ${data.damagedEntries} damaged, ${data.foreignEntries} foreign (see 'podnet ipam check')`
        : ""),
  );
  if (data.note !== undefined) lines.push(data.note);
  return lines.join("\n");
}

// ---- who holds an address ----

/** One lease as `ipam show --ip` reports it. */
export interface HolderData {
  readonly subnet: string;
  readonly publicIP: string;
  readonly publicIPv6: string | null;
  readonly reservation: boolean;
  readonly etcdLease: string;
  /** Seconds left; null for a reservation, -1 when the etcd lease is gone. */
  readonly ttlSeconds: number | null;
  readonly key: string;
  readonly modRevision: number;
}

/** The machine form of `ipam show --ip`. */
export interface LocationData {
  readonly address: string;
  readonly family: 4 | 6;
  /** `leased`, `reserved`, `damaged` (a damaged entry holds it), `free`, or `outside` the range. */
  readonly state: "leased" | "reserved" | "damaged" | "free" | "outside";
  /** The subnet of the configured range the address is in; null when outside SubnetMin..SubnetMax. */
  readonly rangeSubnet: string | null;
  /** Leases whose subnet contains the address (more than one means they overlap). */
  readonly heldBy: HolderData[];
  /** Damaged entries whose subnet contains the address. */
  readonly damaged: { key: string; subnet: string; reason: string }[];
  /** Leases whose PublicIP is the address (the host's own subnets). */
  readonly owns: HolderData[];
  readonly revision: number;
}

/** Builds the machine form of `ipam show --ip`. */
export function locationData(
  loc: AddressLocation,
  ttls: ReadonlyMap<string, number>,
  revision: number,
): LocationData {
  const holder = (l: Lease): HolderData => ({
    subnet: subnetName(l.subnet),
    publicIP: l.attrs.publicIP,
    publicIPv6: l.attrs.publicIPv6,
    reservation: isReservation(l),
    etcdLease: l.etcdLease,
    ttlSeconds: isReservation(l) ? null : (ttls.get(l.etcdLease) ?? -1),
    key: l.key,
    modRevision: l.modRevision,
  });
  const first = loc.containing[0];
  const state =
    first !== undefined
      ? isReservation(first)
        ? "reserved"
        : "leased"
      : loc.damaged.length > 0
        ? "damaged"
        : loc.rangeSubnet !== null
          ? "free"
          : "outside";
  return {
    address: loc.address,
    family: loc.family,
    state,
    rangeSubnet: loc.rangeSubnet,
    heldBy: loc.containing.map(holder),
    damaged: loc.damaged.map((d) => ({ key: d.key, subnet: subnetName(d.subnet), reason: d.reason })),
    owns: loc.owned.map(holder),
    revision,
  };
}

const holderText = (h: HolderData) =>
  `${h.publicIP} (${h.reservation ? "reservation" : "lease"} ${h.subnet}, ${
    h.reservation ? "never expires" : `TTL ${formatTtl(h.ttlSeconds)}`
  })`;

/** `ipam show --ip` as aligned fields. */
export function formatLocation(data: LocationData): string {
  const pairs: [string, string][] = [
    ["Address", data.address],
    ["Subnet", data.rangeSubnet ?? "outside the network's SubnetMin..SubnetMax"],
  ];
  const state: Record<LocationData["state"], string> = {
    leased: "leased",
    reserved: "reserved",
    damaged: "taken by a damaged entry",
    free: "free: no lease holds it",
    outside: "not in the leased range",
  };
  pairs.push(["State", state[data.state]]);
  for (const h of data.heldBy) pairs.push(["Held by", holderText(h)]);
  for (const d of data.damaged) pairs.push(["Damaged", `${d.key} (${d.reason})`]);
  for (const h of data.owns) pairs.push(["Owner of", holderText(h)]);
  if (data.heldBy.length > 1) pairs.push(["Warning", "several leases hold this address: they overlap"]);
  return fields(pairs);
}

/** `ipam show --ip -o simple`: one line per holder, then per owned lease. */
export function locationRows(data: LocationData): string[][] {
  const row = (relation: string, h: HolderData) => [
    data.address,
    relation,
    h.subnet,
    h.publicIP,
    simpleTtl(h.reservation ? null : h.ttlSeconds),
  ];
  const rows = [...data.heldBy.map((h) => row("held-by", h)), ...data.owns.map((h) => row("owner-of", h))];
  return rows.length > 0 ? rows : [[data.address, data.state, data.rangeSubnet ?? "-", "-", "-"]];
}

// ---- free space ----

/** The machine form of `ipam show --free`. */
export interface FreeData {
  readonly revision: number;
  readonly ipv4?: { free: number; subnetLen: number; cidrs: { cidr: string; subnets: number }[] };
  readonly ipv6?: { free: string; subnetLen: number; cidrs: { cidr: string; subnets: string }[] };
}

/** Builds the machine form of `ipam show --free`. */
export function freeData(
  revision: number,
  network: LeaseNetwork,
  cidrs: { ipv4?: IPv4Net[]; ipv6?: IPv6Net[] },
): FreeData {
  const r4 = network.ipv4;
  const r6 = network.ipv6;
  const v4 =
    r4 !== undefined && cidrs.ipv4 !== undefined
      ? cidrs.ipv4.map((n) => ({ cidr: formatIPv4Cidr(n), subnets: 2 ** (r4.subnetLen - n.prefix) }))
      : undefined;
  const v6 =
    r6 !== undefined && cidrs.ipv6 !== undefined
      ? cidrs.ipv6.map((n) => ({ cidr: formatIPv6Cidr(n), subnets: 1n << BigInt(r6.subnetLen - n.prefix) }))
      : undefined;
  return {
    revision,
    ...(v4 !== undefined &&
      r4 !== undefined && {
        ipv4: { free: v4.reduce((s, c) => s + c.subnets, 0), subnetLen: r4.subnetLen, cidrs: v4 },
      }),
    ...(v6 !== undefined &&
      r6 !== undefined && {
        ipv6: {
          free: v6.reduce((s, c) => s + c.subnets, 0n).toString(),
          subnetLen: r6.subnetLen,
          cidrs: v6.map((c) => ({ cidr: c.cidr, subnets: c.subnets.toString() })),
        },
      }),
  };
}

/** `ipam show --free -o simple`: CIDR and the number of subnets it holds. */
export function freeRows(data: FreeData): string[][] {
  return [
    ...(data.ipv4?.cidrs ?? []).map((c) => [c.cidr, String(c.subnets)]),
    ...(data.ipv6?.cidrs ?? []).map((c) => [c.cidr, c.subnets]),
  ];
}

/** The `ipam show --free` table with its footer. */
export function formatFree(data: FreeData): string {
  const rows = freeRows(data);
  const parts: string[] = [];
  if (data.ipv4 !== undefined) {
    parts.push(
      `${plural(data.ipv4.free, `free /${data.ipv4.subnetLen} subnet`)} in ${plural(data.ipv4.cidrs.length, "CIDR")}`,
    );
  }
  if (data.ipv6 !== undefined) {
    parts.push(
      `${data.ipv6.free} free IPv6 /${data.ipv6.subnetLen} subnets in ${plural(data.ipv6.cidrs.length, "CIDR")}`,
    );
  }
  const body =
    rows.length === 0
      ? "no free space: every subnet is leased or reserved"
      : table(["FREE", "SUBNETS"], rows);
  return `${body}\n\n${parts.join("; ")} at revision ${data.revision}`;
}

// ---- check ----

/** The machine form of `ipam check`: the report, plus counts. */
export function checkData(report: Report) {
  const errors = report.findings.filter((f) => f.severity === "error").length;
  return { ...report, summary: { errors, warnings: report.findings.length - errors } };
}

/** A key for the table: the part after `<prefix>/`. */
function shortKey(prefix: string, key: string | undefined): string {
  if (key === undefined) return "-";
  return key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : key;
}

/** `ipam check -o simple`: severity, kind, key, modRevision, message. */
export function findingRows(findings: readonly Finding[]): string[][] {
  return findings.map((f) => [
    f.severity,
    f.kind,
    f.key ?? "-",
    f.modRevision === undefined ? "-" : String(f.modRevision),
    f.message,
  ]);
}

/** The `ipam check` table with its verdict. */
export function formatFindings(report: Report, listing: ListingCounts): string {
  const { reservations } = listing;
  const checked = `${plural(listing.size - reservations, "lease")}, ${plural(reservations, "reservation")}`;
  if (report.findings.length === 0) {
    return `no problems: ${checked} and the config at revision ${report.revision} are consistent`;
  }
  const rows = report.findings.map((f) => [f.severity, f.kind, shortKey(report.prefix, f.key), f.message]);
  const errors = report.findings.filter((f) => f.severity === "error").length;
  return [
    table(["SEVERITY", "KIND", "KEY", "PROBLEM"], rows),
    "",
    `${plural(errors, "error")}, ${plural(report.findings.length - errors, "warning")} in ${checked} at revision ${report.revision}`,
  ].join("\n");
}

// ---- release ----

/** One row of the machine form of `ipam release`. */
export interface ReleaseResultData {
  readonly key: string;
  readonly kind: string;
  /** The key's modRevision in the report. */
  readonly modRevision: number;
  /** deleted, would-delete (dry run); skipped: changed (modified since the report), renewed, reservation, gone. */
  readonly status: CleanupOutcome["status"];
  /** For `changed`: the key's modRevision now. */
  readonly currentModRevision?: number;
  /** For `deleted`: the etcd lease the key was on (its decimal id, as in the other JSON outputs) and whether it was revoked. */
  readonly etcdLease?: string;
  readonly etcdLeaseRevoked?: boolean;
  readonly reason: string;
}

/** The machine form of `ipam release --from-report`. */
export function releaseData(
  report: Report,
  dryRun: boolean,
  outcomes: readonly CleanupOutcome<ReleaseTarget>[],
) {
  const results: ReleaseResultData[] = outcomes.map((o) => ({
    key: o.target.key,
    kind: o.target.kind,
    modRevision: o.target.modRevision,
    status: o.status,
    ...(o.status === "changed" &&
      o.currentModRevision !== undefined && { currentModRevision: o.currentModRevision }),
    ...(o.etcdLease !== undefined && {
      etcdLease: o.etcdLease,
      etcdLeaseRevoked: o.etcdLeaseRevoked === true,
    }),
    reason: o.target.reason,
  }));
  const count = (s: CleanupOutcome["status"]) => results.filter((r) => r.status === s).length;
  return {
    prefix: report.prefix,
    reportRevision: report.revision,
    dryRun,
    deleted: count("deleted"),
    wouldDelete: count("would-delete"),
    skipped: count("changed") + count("renewed") + count("reservation") + count("unverified") + count("gone"),
    results,
  };
}

const STATUS_TEXT = (r: ReleaseResultData, revision: number): string => {
  switch (r.status) {
    case "deleted":
      return r.etcdLease === undefined
        ? "deleted"
        : `deleted; ${revokedText(r.etcdLease, r.etcdLeaseRevoked === true)}`;
    case "would-delete":
      return "would delete";
    case "gone":
      return "skipped: already gone";
    case "renewed":
      return "skipped: renewed after the report (its host is alive)";
    case "reservation":
      return "skipped: a reservation ('podnet lease unreserve' deletes it)";
    case "unverified":
      return "skipped: the report does not show when its etcd lease was due to expire; run 'ipam check --report' again";
    default:
      return `skipped: changed after the report of revision ${revision} (now at revision ${r.currentModRevision ?? "?"})`;
  }
};

/** `ipam release -o simple`: status, key, kind. */
export function releaseRows(data: ReturnType<typeof releaseData>): string[][] {
  return data.results.map((r) => [r.status, r.key, r.kind]);
}

/** The `ipam release` table with its summary. */
export function formatRelease(data: ReturnType<typeof releaseData>): string {
  if (data.results.length === 0) return "nothing to release: the report names no keys to delete";
  const rows = data.results.map((r) => [
    shortKey(data.prefix, r.key),
    r.kind,
    STATUS_TEXT(r, data.reportRevision),
  ]);
  const summary = data.dryRun
    ? `dry run: ${plural(data.wouldDelete, "key")} would be deleted, ${data.skipped} skipped; nothing was deleted`
    : `${plural(data.deleted, "key")} deleted, ${data.skipped} skipped`;
  return `${table(["KEY", "KIND", "OUTCOME"], rows)}\n\n${summary}`;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
