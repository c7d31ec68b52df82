/**
 * Cluster analysis, pure: how full the address space is, who holds an address, a picture of
 * the space, and what is wrong with the leases (`podnet ipam show` and `podnet ipam check`).
 * Everything is O(n log n) in the number of leases: overlaps are found by sorting, never by
 * comparing every pair. No I/O, no clock: TTLs and timestamps are passed in.
 */
import {
  formatIPv4,
  formatIPv4Cidr,
  formatIPv6,
  formatIPv6Cidr,
  type IPv4Net,
  type IPv6Net,
  maskIPv4,
  maskIPv6,
  parseIPv4,
  parseIPv6,
} from "./address.js";
import { missingBackendData } from "./backend-data.js";
import { PodnetError } from "./errors.js";
import { subnetsPrefix } from "./keys.js";
import {
  type DamagedEntry,
  isReservation,
  type Lease,
  type LeaseListing,
  type LeaseNetwork,
} from "./lease.js";
import { hasIPv4, type LeaseSubnet, subnetName } from "./lease-codec.js";
import { LeaseTable } from "./lease-table.js";
import { hasRepeats } from "./repeats.js";
import {
  countFree,
  rangeContains,
  rangeSize,
  type SubnetRange4,
  type SubnetRange6,
  subnetAt,
  subnetIndexOf,
} from "./subnet-range.js";

/** A lease whose TTL is below this many seconds counts as expiring soon. */
export const EXPIRING_SOON_SECONDS = 3600;

/**
 * What the analysis reads: a decoded listing, or the same entries as a {@link LeaseTable}
 * (the views' columns). Every rule below runs over the table; a listing is made one first.
 */
export type LeaseSource = LeaseListing | LeaseTable;

/** The table of a source (a listing becomes one, keeping its leases' order and objects). */
export function tableOf(source: LeaseSource): LeaseTable {
  return source instanceof LeaseTable ? source : LeaseTable.of(source);
}

// ---- utilisation ----

/**
 * How one family's range is used. Counts are subnets of the range (a /23 lease in a /24 range
 * covers two); `leased`, `reserved` and `damaged` may add up to more than `used` when entries overlap.
 */
export interface FamilyUtilisation<N extends number | bigint> {
  /** Subnets from SubnetMin to SubnetMax. */
  readonly total: N;
  /** Subnets covered by live leases (keys with an etcd lease). */
  readonly leased: N;
  /** Subnets covered by reservations (keys without an etcd lease). */
  readonly reserved: N;
  /** Subnets covered by damaged entries (they stay taken). */
  readonly damaged: N;
  /** Subnets covered by anything: total - free. */
  readonly used: N;
  /** Subnets nothing overlaps. */
  readonly free: N;
  /** Live leases with less than an hour left; null when no TTLs were given. */
  readonly expiringSoon: number | null;
  /** used / total in percent, rounded to two decimals. */
  readonly percentUsed: number;
}

/** Utilisation of each enabled family. */
export interface Utilisation {
  readonly ipv4?: FamilyUtilisation<number>;
  readonly ipv6?: FamilyUtilisation<bigint>;
}

/**
 * How full the network is. `ttls` maps etcd lease ids to their remaining seconds (as
 * LeaseRegistry.ttls returns); without it `expiringSoon` is null.
 */
export function utilisation(
  source: LeaseSource,
  network: LeaseNetwork,
  ttls?: ReadonlyMap<string, number>,
): Utilisation {
  const t = tableOf(source);
  const { damaged } = t;
  const live = (i: number) => !t.isReservation(i);
  const reserved = (i: number) => t.isReservation(i);
  const all = () => true;
  const out: { ipv4?: FamilyUtilisation<number>; ipv6?: FamilyUtilisation<bigint> } = {};
  if (network.ipv4 !== undefined) {
    const range = network.ipv4;
    const total = rangeSize(range);
    // One pass in row order (key order: the spans' ends are sorted natively, without the
    // table's address order) over rows and damaged entries.
    const any = new Cover4(range, total);
    const leased = new Cover4(range, total);
    const reservedOnly = new Cover4(range, total);
    const damagedOnly = new Cover4(range, total);
    coverRows4(t, any, leased, reservedOnly);
    for (const d of damaged) {
      if (!hasIPv4(d.subnet)) continue;
      any.add(d.subnet.ipv4.ip, d.subnet.ipv4.prefix);
      damagedOnly.add(d.subnet.ipv4.ip, d.subnet.ipv4.prefix);
    }
    const free = total - any.covered();
    out.ipv4 = {
      total,
      leased: leased.covered(),
      reserved: reservedOnly.covered(),
      damaged: damagedOnly.covered(),
      used: total - free,
      free,
      expiringSoon: ttls === undefined ? null : countExpiring(t, 4, ttls),
      percentUsed: total === 0 ? 0 : Math.round(((total - free) / total) * 10_000) / 100,
    };
  }
  if (network.ipv6 !== undefined) {
    const range = network.ipv6;
    const total = rangeSize(range);
    const nets = (rows: (i: number) => boolean): IPv6Net[] => {
      const out6: IPv6Net[] = [];
      if (t.hasIPv6) {
        for (let i = 0; i < t.size; i++) {
          const net = t.ip6(i);
          if (net !== undefined && rows(i)) out6.push(net);
        }
      }
      return out6;
    };
    const covered = (rows: (i: number) => boolean) => total - countFree(range, nets(rows));
    const free = countFree(range, [...nets(all), ...nets6(damaged)]);
    out.ipv6 = {
      total,
      leased: covered(live),
      reserved: covered(reserved),
      damaged: total - countFree(range, nets6(damaged)),
      used: total - free,
      free,
      expiringSoon: ttls === undefined ? null : countExpiring(t, 6, ttls),
      percentUsed: total === 0n ? 0 : Number(((total - free) * 10_000n) / total) / 100,
    };
  }
  return out;
}

/** Live leases of the family with less than an hour left according to `ttls` (expiresSoon's rule, once per etcd lease). */
function countExpiring(t: LeaseTable, family: 4 | 6, ttls: ReadonlyMap<string, number>): number {
  return t.countLiveByLease(family, (id) => ttlExpiresSoon(id, ttls));
}

/** Whether an etcd lease has less than an hour left (or is already gone) according to `ttls`; never a reservation ("0"). */
function ttlExpiresSoon(etcdLease: string, ttls: ReadonlyMap<string, number>): boolean {
  if (etcdLease === "0") return false;
  const ttl = ttls.get(etcdLease);
  return ttl !== undefined && ttl < EXPIRING_SOON_SECONDS;
}

/** Whether a live lease has less than an hour left (or is already gone) according to `ttls`. */
export function expiresSoon(lease: Lease, ttls: ReadonlyMap<string, number>): boolean {
  return ttlExpiresSoon(lease.etcdLease, ttls);
}

// ---- who holds an address ----

/** Which entries hold an address: those whose subnet contains it, and leases it owns (PublicIP). */
export interface AddressLocation {
  readonly family: 4 | 6;
  /** The address in canonical form. */
  readonly address: string;
  /** The subnet of the configured range the address falls in; null when outside Min..Max. */
  readonly rangeSubnet: string | null;
  /** Leases and reservations whose subnet contains the address (more than one means overlap). */
  readonly containing: Lease[];
  /** Damaged entries whose subnet contains the address. */
  readonly damaged: DamagedEntry[];
  /** Leases whose PublicIP (or PublicIPv6) is the address: the hosts it belongs to. */
  readonly owned: Lease[];
}

/** Where an address sits in the listing; null when `ip` is not an IPv4 or IPv6 address. */
export function locateAddress(
  listing: LeaseListing,
  ip: string,
  network: LeaseNetwork = {},
): AddressLocation | null {
  const v4 = parseIPv4(ip);
  if (v4 !== null) {
    const holds = (s: LeaseSubnet) => hasIPv4(s) && maskIPv4(v4, s.ipv4.prefix) === s.ipv4.ip;
    const address = formatIPv4(v4);
    const index = network.ipv4 === undefined ? null : subnetIndexOf(network.ipv4, v4);
    const sub = index === null || network.ipv4 === undefined ? null : subnetAt(network.ipv4, index);
    return {
      family: 4,
      address,
      rangeSubnet: sub === null ? null : formatIPv4Cidr(sub),
      containing: listing.leases.filter((l) => holds(l.subnet)),
      damaged: listing.damaged.filter((d) => holds(d.subnet)),
      owned: listing.leases.filter((l) => l.attrs.publicIP === address),
    };
  }
  const v6 = parseIPv6(ip);
  if (v6 === null) return null;
  const holds = (s: LeaseSubnet) => s.ipv6 !== undefined && maskIPv6(v6, s.ipv6.prefix) === s.ipv6.ip;
  const address = formatIPv6(v6);
  const index = network.ipv6 === undefined ? null : subnetIndexOf(network.ipv6, v6);
  const sub = index === null || network.ipv6 === undefined ? null : subnetAt(network.ipv6, index);
  return {
    family: 6,
    address,
    rangeSubnet: sub === null ? null : formatIPv6Cidr(sub),
    containing: listing.leases.filter((l) => holds(l.subnet)),
    damaged: listing.damaged.filter((d) => holds(d.subnet)),
    owned: listing.leases.filter((l) => l.attrs.publicIPv6 !== null && parseIPv6(l.attrs.publicIPv6) === v6),
  };
}

// ---- checks ----

/** What `checkLeases` can find. */
export type FindingKind =
  | "overlap"
  | "duplicate-public-ip"
  | "out-of-range"
  | "wrong-length"
  | "foreign-key"
  | "damaged-value"
  | "backend-mismatch"
  | "vni-mismatch"
  | "bad-backend-data"
  | "config-missing"
  | "config-invalid";

/** Every finding kind, in the order findings are listed. */
export const FINDING_KINDS: readonly FindingKind[] = [
  "config-missing",
  "config-invalid",
  "overlap",
  "duplicate-public-ip",
  "damaged-value",
  "backend-mismatch",
  "vni-mismatch",
  "bad-backend-data",
  "out-of-range",
  "wrong-length",
  "foreign-key",
];

/** The findings a release may act on: each names the one key to delete (never config findings). */
export const RELEASABLE_KINDS: readonly FindingKind[] = [
  "overlap",
  "duplicate-public-ip",
  "out-of-range",
  "wrong-length",
  "foreign-key",
  "damaged-value",
];

/** One problem found in the leases or the config. */
export interface Finding {
  readonly kind: FindingKind;
  readonly severity: "error" | "warning";
  /** The key the finding is about; for overlap and duplicate-public-ip, the one a release would delete. */
  readonly key?: string;
  /** Every key involved (the kept one first, then `key`). */
  readonly keys?: string[];
  /** `key`'s modification revision when it was read: a release deletes it only if unchanged. */
  readonly modRevision?: number;
  /** `key`'s etcd lease id when it was read ("0": none); a release deletes it only if still on it. */
  readonly etcdLease?: string;
  /** When `key`'s etcd lease was due to expire, as the report saw it (ISO 8601); a later one means it was renewed since. */
  readonly expiresAt?: string;
  /** SHA-256 (hex) of `key`'s value when it was read; a release deletes it only if it still holds it. */
  readonly valueSha256?: string;
  readonly message: string;
}

/** The config as the checks need it; `errors` are the validator's. */
export interface CheckedConfig {
  readonly valid: boolean;
  readonly errors: readonly { readonly path?: string; readonly message: string }[];
  /** The resolved backend type (lower case), e.g. `vxlan`. */
  readonly backendType?: string;
  /** The resolved VXLAN VNI. */
  readonly vni?: number;
  /** The config key, for messages. */
  readonly key?: string;
}

/** What `checkLeases` looks at. */
export interface CheckInput {
  /** The entries: a listing or its table. */
  readonly listing: LeaseSource;
  /** The ranges of a valid config; range checks are skipped without it. */
  readonly network?: LeaseNetwork;
  readonly config?: CheckedConfig;
  /** The config key does not exist. */
  readonly configMissing?: boolean;
  /** The config key, for the config-missing message. */
  readonly configKey?: string;
}

/** Backends whose leases carry no BackendType (flannel-compat.md section 4). */
const UNTYPED_BACKENDS = new Set(["udp", "alloc"]);

/** Everything wrong with the leases and the config, errors first, then by kind and key. */
export function checkLeases(input: CheckInput): Finding[] {
  const { network, config } = input;
  const t = tableOf(input.listing);
  const findings: Finding[] = [];
  if (input.configMissing) {
    findings.push({
      kind: "config-missing",
      severity: "error",
      ...(input.configKey !== undefined && { key: input.configKey }),
      message: `the network config${input.configKey === undefined ? "" : ` ${input.configKey}`} is missing; flanneld cannot start without it (a config written with the v2 API lives in a separate keyspace)`,
    });
  } else if (config !== undefined && !config.valid) {
    const first = config.errors[0];
    const where = first === undefined ? "" : `: ${first.path ? `${first.path}: ` : ""}${first.message}`;
    const more = config.errors.length > 1 ? ` (and ${config.errors.length - 1} more)` : "";
    findings.push({
      kind: "config-invalid",
      severity: "error",
      ...(config.key !== undefined && { key: config.key }),
      message: `the network config is invalid${where}${more}`,
    });
  }

  for (const [keptRow, extraRow] of overlappingRows(t)) {
    const kept = t.lease(keptRow);
    const extra = t.lease(extraRow);
    findings.push({
      kind: "overlap",
      severity: "error",
      key: extra.key,
      keys: [kept.key, extra.key],
      modRevision: extra.modRevision,
      message: `${describe(extra)} overlaps ${describe(kept)}; the newer one (created at revision ${extra.createRevision}) is the one to release`,
    });
  }

  for (const [keptRow, extraRow] of duplicateOwners(t)) {
    const kept = t.lease(keptRow);
    const extra = t.lease(extraRow);
    findings.push({
      kind: "duplicate-public-ip",
      severity: "error",
      key: extra.key,
      keys: [kept.key, extra.key],
      modRevision: extra.modRevision,
      message: `${extra.attrs.publicIP} holds two subnets, ${subnetName(kept.subnet)} and ${subnetName(extra.subnet)}; ${subnetName(extra.subnet)} is the extra one (${isReservation(kept) ? "the other is a reservation" : "newer"})`,
    });
  }

  for (const d of t.damaged) {
    findings.push({
      kind: "damaged-value",
      severity: "error",
      key: d.key,
      modRevision: d.modRevision,
      message: `${d.key} is damaged (${d.reason}); its subnet ${subnetName(d.subnet)} stays taken until it is fixed or deleted`,
    });
  }

  // Each pass over the rows is a function of its own: a small function is optimised on stack
  // far sooner than this one, and a view runs each loop once. The passes go in row order, not
  // the table's address order: the findings are sorted by severity, kind and key below, and
  // these passes find at most one finding of a kind per key, so their order never shows.
  if (network !== undefined) rangeFindings(t, network, findings);
  if (config?.valid && config.backendType !== undefined) {
    backendFindings(t, config.backendType, config.vni, findings);
  }
  badDataFindings(t, findings);

  for (const f of t.foreign) {
    findings.push({
      kind: "foreign-key",
      severity: "warning",
      key: f.key,
      modRevision: f.modRevision,
      message: `${f.key} is not a lease (${f.reason}); flannel v0.28.9 drops every peer route when it sees one`,
    });
  }

  const rank = new Map(FINDING_KINDS.map((k, i) => [k, i]));
  return findings.sort(
    (a, b) =>
      (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1) ||
      (rank.get(a.kind) ?? 0) - (rank.get(b.kind) ?? 0) ||
      cmpText(a.key ?? "", b.key ?? ""),
  );
}

/** Out-of-range and wrong-length findings. */
function rangeFindings(t: LeaseTable, network: LeaseNetwork, findings: Finding[]): void {
  // IPv4-only rows are judged through one reused subnet: no object per lease.
  const net4 = { ip: 0, prefix: 0 };
  const only4: LeaseSubnet = { ipv4: net4 };
  // An IPv4-only table against an IPv4-only network: a row that is certainly one of the
  // range's subnets (rangeContains: its length, no host bits, within min..max and the network)
  // is passed on the columns alone; rangeProblem judges the others.
  const r4 = network.ipv4;
  const quick = r4 !== undefined && network.ipv6 === undefined && !t.hasIPv6;
  const c = t.columns4();
  const { flags, ip4, len4 } = c;
  const len = r4?.subnetLen ?? -1;
  const host = len < 0 || len >= 32 ? 0 : (0xffffffff >>> len) >>> 0;
  const netLen = r4?.network.prefix ?? 0;
  const netMask = netLen === 0 ? 0 : (0xffffffff << (32 - netLen)) >>> 0;
  const net = ((r4?.network.ip ?? 0) & netMask) >>> 0;
  const min = r4?.min ?? 0;
  const max = r4?.max ?? -1;
  for (let i = 0; i < t.size; i++) {
    if (quick) {
      const ip = ip4[i]!;
      if (
        (flags[i]! & c.v4) !== 0 &&
        len4[i] === len &&
        (ip & host) === 0 &&
        ip >= min &&
        ip <= max &&
        (ip & netMask) >>> 0 === net
      ) {
        continue;
      }
    }
    let subnet = only4;
    if (t.ip6(i) === undefined) {
      net4.ip = t.ip4(i);
      net4.prefix = t.len4(i);
    } else subnet = t.subnet(i);
    const problem = rangeProblem(network, subnet);
    if (problem === null) continue;
    findings.push({
      kind: problem.kind,
      severity: "warning",
      key: t.key(i),
      modRevision: t.modRevision(i),
      message: `${describe(t.lease(i))} ${problem.text}`,
    });
  }
}

/** Backend and VNI findings against a valid config that names a backend. */
function backendFindings(
  t: LeaseTable,
  backendType: string,
  configVni: number | undefined,
  findings: Finding[],
): void {
  const type = backendType.toLowerCase();
  const expected = UNTYPED_BACKENDS.has(type) ? "" : type;
  // A row whose BackendType (one of the table's few) is the expected one, and whose VNI is the
  // config's or unreadable (or need not match), is passed on the columns alone.
  const c = t.columns4();
  const typeOk = c.types.map((written) => ((written ?? "").toLowerCase() === expected ? 1 : 0));
  const { flags, type: typeOf, vni: vnis } = c;
  const vni = type === "vxlan" ? configVni : undefined;
  let lastType: string | undefined;
  let lastActual = "";
  for (let i = 0; i < t.size; i++) {
    if (typeOk[typeOf[i]!] === 1) {
      const v = vnis[i]!;
      if (
        vni === undefined ||
        (flags[i]! & c.hasData) === 0 ||
        v === c.noVni ||
        v === c.badVni ||
        v === vni
      ) {
        continue;
      }
    }
    // A network has one or two backend types: each lower-cased once, not per lease.
    const written = t.backendType(i);
    if (written !== lastType) {
      lastType = written;
      lastActual = (written ?? "").toLowerCase();
    }
    const actual = lastActual;
    if (actual !== expected) {
      findings.push({
        kind: "backend-mismatch",
        severity: "error",
        key: t.key(i),
        modRevision: t.modRevision(i),
        message: `${describe(t.lease(i))} has backend ${actual === "" ? "none" : actual} but the config says ${type}; its host's flanneld must restart with the new config`,
      });
    } else if (type === "vxlan" && configVni !== undefined && t.hasBackendData(i)) {
      // A reservation made without backend data gets its VNI when its host takes it up.
      const vni = t.vni(i) ?? null;
      if (vni !== null && vni !== configVni) {
        findings.push({
          kind: "vni-mismatch",
          severity: "error",
          key: t.key(i),
          modRevision: t.modRevision(i),
          message: `${describe(t.lease(i))} has VNI ${vni ?? "none"} but the config says ${configVni}`,
        });
      }
    }
  }
}

/** vxlan leases with no usable VtepMAC. */
function badDataFindings(t: LeaseTable, findings: Finding[]): void {
  for (let i = 0; i < t.size; i++) {
    if (!t.badBackendData(i)) continue;
    const lease = t.lease(i);
    const problem = missingBackendData(lease.attrs) ?? "";
    // A reservation made without data on purpose waits for its host to write its VtepMAC.
    const placeholder = t.isReservation(i) && !t.hasBackendData(i);
    findings.push({
      kind: "bad-backend-data",
      severity: placeholder ? "warning" : "error",
      key: lease.key,
      modRevision: lease.modRevision,
      message: `${describe(lease)} is a vxlan lease with no usable VtepMAC (${problem}); no host can route to it${placeholder ? " until its host takes it up" : ""}`,
    });
  }
}

/**
 * Pairs of leases that overlap, as [kept, extra] where extra is the newer one (higher create
 * revision; the larger key on a tie). Found by sorting by start: every lease that overlaps any
 * other appears in at least one pair.
 */
export function overlappingPairs(leases: readonly Lease[]): [Lease, Lease][] {
  const t = LeaseTable.of({ revision: 0, leases: [...leases], foreign: [], damaged: [] });
  return overlappingRows(t).map(([a, b]) => [t.lease(a), t.lease(b)]);
}

/** {@link overlappingPairs} over a table's rows (in its address order), as row numbers. */
function overlappingRows(t: LeaseTable): [number, number][] {
  // Usually every lease has the network's SubnetLen and its own subnet: then there is no overlap.
  if (!t.hasIPv6 && t.distinctIPv4()) return [];
  const pairs: [number, number][] = [];
  const seen = new Set<string>();
  const add = (a: number, b: number) => {
    const [kept, extra] = newer(t, a, b) ? [b, a] : [a, b];
    const id = `${kept},${extra}`;
    if (seen.has(id)) return;
    seen.add(id);
    pairs.push([kept, extra]);
  };
  // IPv4 spans as numbers (exact below 2^53), by position in the table's order; IPv6 as bigints.
  const rows = t.order;
  const starts = new Float64Array(rows.length);
  const ends = new Float64Array(rows.length);
  const v4 = new Uint32Array(rows.length);
  let n = 0;
  const spans6: Span<bigint>[] = [];
  for (let p = 0; p < rows.length; p++) {
    const i = rows[p]!;
    if (t.hasV4(i)) {
      const size = 2 ** (32 - t.len4(i));
      const start = Math.floor(t.ip4(i) / size) * size;
      starts[p] = start;
      ends[p] = start + size - 1;
      v4[n++] = p;
    }
    const ipv6 = t.ip6(i);
    if (ipv6 !== undefined) {
      const size = 1n << BigInt(128 - ipv6.prefix);
      const start = (ipv6.ip / size) * size;
      spans6.push({ start, end: start + size - 1n, row: i });
    }
  }
  // By start, the larger first on a tie, else in the table's order (as a stable sort would);
  // a table in address order already is, so the sort is skipped after one look.
  const byStart = (a: number, b: number) => starts[a]! - starts[b]! || ends[b]! - ends[a]! || a - b;
  const spans4 = v4.subarray(0, n);
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) sorted = byStart(spans4[k - 1]!, spans4[k]!) < 0;
  if (!sorted) spans4.sort(byStart);
  let reach = -1;
  for (const p of spans4) {
    if (reach >= 0 && starts[p]! <= ends[reach]!) add(rows[reach]!, rows[p]!);
    if (reach < 0 || ends[p]! > ends[reach]!) reach = p;
  }
  spans6.sort((a, b) => cmpBig(a.start, b.start) || cmpBig(b.end, a.end));
  let reach6: Span<bigint> | undefined;
  for (const s of spans6) {
    if (reach6 !== undefined && s.start <= reach6.end) add(reach6.row, s.row);
    if (reach6 === undefined || s.end > reach6.end) reach6 = s;
  }
  return pairs;
}

interface Span<T extends number | bigint> {
  readonly start: T;
  readonly end: T;
  readonly row: number;
}

/** Whether row `a` is newer than row `b`: created later, or the larger key when created together. */
function newer(t: LeaseTable, a: number, b: number): boolean {
  const ca = t.createRevision(a);
  const cb = t.createRevision(b);
  return ca !== cb ? ca > cb : t.key(a) > t.key(b);
}

/** For each PublicIP with several leases: [kept, extra] row pairs; a reservation is kept first, else the oldest. */
function duplicateOwners(t: LeaseTable): [number, number][] {
  // Usually every PublicIP is a host's own: one pass over the column says so, without a map.
  if (!hasRepeats(t.columns4().publicIP, t.size)) return [];
  // One map entry per owner and an array only for owners seen twice: 65,000 leases, few duplicates.
  const first = new Map<number, number>();
  const byOwner = new Map<number, number[]>();
  for (let i = 0; i < t.size; i++) {
    // As int32 (the same 32 bits): an address above 2^31 as a key would be a heap number each.
    const owner = t.publicIP(i) | 0;
    const seen = first.get(owner);
    if (seen === undefined) {
      first.set(owner, i);
      continue;
    }
    const list = byOwner.get(owner);
    if (list === undefined) byOwner.set(owner, [seen, i]);
    else list.push(i);
  }
  const pairs: [number, number][] = [];
  for (const list of byOwner.values()) {
    if (list.length < 2) continue;
    list.sort(
      (a, b) =>
        Number(t.isReservation(b)) - Number(t.isReservation(a)) ||
        (newer(t, a, b) ? 1 : newer(t, b, a) ? -1 : 0),
    );
    const [kept, ...extra] = list;
    if (kept === undefined) continue;
    for (const e of extra) pairs.push([kept, e]);
  }
  return pairs;
}

/** Why a subnet does not fit the network, or null when it fits. */
function rangeProblem(
  network: LeaseNetwork,
  subnet: LeaseSubnet,
): { kind: "out-of-range" | "wrong-length"; text: string } | null {
  const r4 = network.ipv4;
  if (r4 !== undefined) {
    if (!hasIPv4(subnet)) return { kind: "out-of-range", text: "has no IPv4 subnet but the network is IPv4" };
    if (subnet.ipv4.prefix !== r4.subnetLen) {
      return { kind: "wrong-length", text: `is a /${subnet.ipv4.prefix} but SubnetLen is ${r4.subnetLen}` };
    }
    if (!rangeContains(r4, subnet.ipv4)) {
      return { kind: "out-of-range", text: `lies outside ${formatIPv4(r4.min)} … ${formatIPv4(r4.max)}` };
    }
  } else if (hasIPv4(subnet)) {
    return { kind: "out-of-range", text: "has an IPv4 subnet but the network leases IPv6 only" };
  }
  const r6 = network.ipv6;
  if (r6 !== undefined) {
    if (subnet.ipv6 === undefined) {
      return { kind: "out-of-range", text: "has no IPv6 subnet but the network is dual-stack" };
    }
    if (subnet.ipv6.prefix !== r6.subnetLen) {
      return {
        kind: "wrong-length",
        text: `has an IPv6 /${subnet.ipv6.prefix} but IPv6SubnetLen is ${r6.subnetLen}`,
      };
    }
    if (!rangeContains(r6, subnet.ipv6)) {
      return { kind: "out-of-range", text: `lies outside ${formatIPv6(r6.min)} … ${formatIPv6(r6.max)}` };
    }
  } else if (subnet.ipv6 !== undefined) {
    return { kind: "out-of-range", text: "has an IPv6 subnet but the network does not enable IPv6" };
  }
  return null;
}

// ---- reports ----

/** The report format this podnet writes and reads. */
export const REPORT_VERSION = 2;

/** The findings of one check, bound to the etcd revision they were read at (`ipam check --report`). */
export interface Report {
  readonly version: typeof REPORT_VERSION;
  readonly prefix: string;
  readonly revision: number;
  /** ISO 8601 time of the check. */
  readonly generatedAt: string;
  readonly findings: Finding[];
}

/** One key a release deletes, only if it is still exactly as the report saw it. */
export interface ReleaseTarget {
  readonly key: string;
  readonly modRevision: number;
  readonly etcdLease?: string;
  readonly expiresAt?: string;
  readonly valueSha256?: string;
  readonly kind: FindingKind;
  readonly reason: string;
}

/** The kinds whose key is a valid lease (so a reservation among them is never deleted by a release). */
export const LEASE_FINDING_KINDS: readonly FindingKind[] = [
  "overlap",
  "duplicate-public-ip",
  "out-of-range",
  "wrong-length",
];

/**
 * The keys a release from this report deletes: overlap losers (the newer lease of a pair),
 * extra leases of a duplicated PublicIP, leases out of range or of the wrong length, foreign
 * keys and damaged values. Never config, backend or VNI findings (the owning host fixes those
 * by restarting). One target per key, in report order.
 */
export function releasePlan(report: Report): ReleaseTarget[] {
  const out: ReleaseTarget[] = [];
  const seen = new Set<string>();
  for (const f of report.findings) {
    if (!RELEASABLE_KINDS.includes(f.kind) || f.key === undefined || f.modRevision === undefined) continue;
    if (seen.has(f.key)) continue;
    seen.add(f.key);
    out.push({
      key: f.key,
      modRevision: f.modRevision,
      ...(f.etcdLease !== undefined && { etcdLease: f.etcdLease }),
      ...(f.expiresAt !== undefined && { expiresAt: f.expiresAt }),
      ...(f.valueSha256 !== undefined && { valueSha256: f.valueSha256 }),
      kind: f.kind,
      reason: f.message,
    });
  }
  return out;
}

/**
 * Reads a report file's text; a usage error in one sentence when it is not a podnet report,
 * or names a key to delete outside `<prefix>/subnets/`.
 */
export function parseReport(text: string, source = "the report"): Report {
  const bad = (why: string) =>
    new PodnetError(
      "usage",
      `${source} is not a podnet ipam report: ${why}; write one with 'podnet ipam check --report FILE'`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad("it is not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("it is not a JSON object");
  const r = doc as Record<string, unknown>;
  if (r["version"] === 1) {
    throw bad(
      "it is a version 1 report, which cannot show whether a lease was renewed after it; write a new one",
    );
  }
  if (r["version"] !== REPORT_VERSION) {
    throw bad(`its version is ${JSON.stringify(r["version"] ?? null)}, not ${REPORT_VERSION}`);
  }
  const { prefix, revision, generatedAt, findings } = r;
  if (typeof prefix !== "string") throw bad("it has no prefix");
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 1) {
    throw bad("it has no valid revision");
  }
  if (!Array.isArray(findings)) throw bad("it has no findings list");
  const dir = subnetsPrefix(prefix);
  const out: Finding[] = [];
  for (const [i, raw] of findings.entries()) {
    if (typeof raw !== "object" || raw === null) throw bad(`finding ${i + 1} is not an object`);
    const f = raw as Record<string, unknown>;
    const kind = f["kind"];
    if (typeof kind !== "string" || !(FINDING_KINDS as readonly string[]).includes(kind)) {
      throw bad(`finding ${i + 1} has an unknown kind ${JSON.stringify(kind ?? null)}`);
    }
    const key = f["key"];
    const modRevision = f["modRevision"];
    const message = typeof f["message"] === "string" ? f["message"] : "";
    if (key !== undefined && typeof key !== "string")
      throw bad(`finding ${i + 1} has a key that is not a string`);
    if (
      modRevision !== undefined &&
      (typeof modRevision !== "number" || !Number.isSafeInteger(modRevision))
    ) {
      throw bad(`finding ${i + 1} has a modRevision that is not a whole number`);
    }
    const k = kind as FindingKind;
    if (RELEASABLE_KINDS.includes(k) && key !== undefined && !key.startsWith(dir)) {
      throw bad(`finding ${i + 1} names ${key}, which is not under ${dir}`);
    }
    const etcdLease = f["etcdLease"];
    const expiresAt = f["expiresAt"];
    const valueSha256 = f["valueSha256"];
    if (etcdLease !== undefined && (typeof etcdLease !== "string" || !/^\d+$/.test(etcdLease))) {
      throw bad(`finding ${i + 1} has an etcdLease that is not a lease id`);
    }
    if (expiresAt !== undefined && (typeof expiresAt !== "string" || Number.isNaN(Date.parse(expiresAt)))) {
      throw bad(`finding ${i + 1} has an expiresAt that is not a time`);
    }
    if (
      valueSha256 !== undefined &&
      (typeof valueSha256 !== "string" || !/^[0-9a-f]{64}$/.test(valueSha256))
    ) {
      throw bad(`finding ${i + 1} has a valueSha256 that is not a SHA-256`);
    }
    if (RELEASABLE_KINDS.includes(kind as FindingKind) && key !== undefined && etcdLease === undefined) {
      throw bad(`finding ${i + 1} names ${key} without the etcd lease it was on`);
    }
    const keys = Array.isArray(f["keys"])
      ? f["keys"].filter((x): x is string => typeof x === "string")
      : undefined;
    out.push({
      kind: k,
      severity: f["severity"] === "warning" ? "warning" : "error",
      ...(key !== undefined && { key }),
      ...(keys !== undefined && { keys }),
      ...(typeof modRevision === "number" && { modRevision }),
      ...(typeof etcdLease === "string" && { etcdLease }),
      ...(typeof expiresAt === "string" && { expiresAt }),
      ...(typeof valueSha256 === "string" && { valueSha256 }),
      message,
    });
  }
  return {
    version: REPORT_VERSION,
    prefix,
    revision,
    generatedAt: typeof generatedAt === "string" ? generatedAt : "",
    findings: out,
  };
}

// ---- the address map ----

/** The state of one cell of the map (one subnet, or a block of subnets). */
export type CellState = "free" | "leased" | "reserved" | "expiring" | "partial" | "problem";

/** The address space of one family as a grid of cells, for `ipam show --map`. */
export interface AddressMap {
  readonly family: 4 | 6;
  /** The network, e.g. `10.5.0.0/16`. */
  readonly network: string;
  readonly subnetLen: number;
  /** Subnets from SubnetMin to SubnetMax. */
  readonly subnets: bigint;
  /** Subnets per cell (a power of two; 1 when every subnet has its own cell). */
  readonly blockSize: bigint;
  readonly cells: { readonly start: string; readonly state: CellState }[];
}

/**
 * The map of one family's range: one cell per subnet when there are at most `maxCells`
 * subnets, else one cell per block of subnets (the smallest power of two that fits). A cell
 * is `problem` when a damaged entry, an overlapping lease or a lease of the wrong length
 * touches it; `partial` when a block is partly used; otherwise the state of what covers it
 * (expiring over leased over reserved). Null when the family is not enabled.
 */
export function addressMap(
  source: LeaseSource,
  network: LeaseNetwork,
  family: 4 | 6,
  opts: { ttls?: ReadonlyMap<string, number>; maxCells?: number } = {},
): AddressMap | null {
  const range = family === 4 ? network.ipv4 : network.ipv6;
  if (range === undefined) return null;
  const bits = family === 4 ? 32 : 128;
  const maxCells = BigInt(Math.max(1, opts.maxCells ?? 2048));
  const min = BigInt(range.min);
  const total = family === 4 ? BigInt(rangeSize(range as SubnetRange4)) : rangeSize(range as SubnetRange6);
  let block = 1n;
  while ((total + block - 1n) / block > maxCells) block *= 2n;
  const cellCount = Number((total + block - 1n) / block);
  const step = 1n << BigInt(bits - range.subnetLen);
  const last = min + total * step - 1n;

  const t = tableOf(source);
  const problemRows = new Set<number>();
  for (const [a, b] of overlappingRows(t)) problemRows.add(a).add(b);
  const partOf = (s: LeaseSubnet): { ip: number | bigint; prefix: number } | undefined =>
    family === 4 ? (hasIPv4(s) ? s.ipv4 : undefined) : s.ipv6;

  // Per state (by its index in MAP_STATES, as a lease's state is worked out per row).
  const partialOf = MAP_STATES.map(() => new Float64Array(cellCount));
  const fullOf = MAP_STATES.map(() => new Float64Array(cellCount + 1));
  // Each entry covers subnet indices lo..hi: a partial count in its first and last cell, and
  // whole cells between them through a difference array. IPv4 uses numbers (exact), IPv6 bigints.
  /** Records cells clo..chi as covered: `head` subnets of the first, `tail` of the last, all between. */
  const place = (state: number, clo: number, chi: number, head: number, tail: number) => {
    const p = partialOf[state];
    const f = fullOf[state];
    if (p === undefined || f === undefined) return;
    bump(p, clo, head);
    if (chi === clo) return;
    bump(p, chi, tail);
    if (chi - clo > 1) {
      bump(f, clo + 1, 1);
      bump(f, chi, -1);
    }
  };
  const block4 = Number(block);
  const spread = (state: number, lo: number, hi: number) => {
    const clo = Math.floor(lo / block4);
    const chi = Math.floor(hi / block4);
    if (clo === chi) place(state, clo, chi, hi - lo + 1, 0);
    else place(state, clo, chi, (clo + 1) * block4 - lo, hi - chi * block4 + 1);
  };
  const spreadBig = (state: number, lo: bigint, hi: bigint) => {
    const clo = lo / block;
    const chi = hi / block;
    if (clo === chi) place(state, Number(clo), Number(chi), Number(hi - lo + 1n), 0);
    else
      place(state, Number(clo), Number(chi), Number((clo + 1n) * block - lo), Number(hi - chi * block + 1n));
  };
  const min4 = Number(min);
  const last4 = Number(last);
  const step4 = Number(step);
  const cover = (state: number, net: { ip: number | bigint; prefix: number }) => {
    if (typeof net.ip === "number") {
      const size = 2 ** (32 - net.prefix);
      const start = Math.floor(net.ip / size) * size;
      const end = start + size - 1;
      if (end < min4 || start > last4) return;
      spread(
        state,
        Math.floor((Math.max(start, min4) - min4) / step4),
        Math.floor((Math.min(end, last4) - min4) / step4),
      );
      return;
    }
    const size = 1n << BigInt(bits - net.prefix);
    const start = (net.ip / size) * size;
    const end = start + size - 1n;
    if (end < min || start > last) return;
    spreadBig(state, ((start > min ? start : min) - min) / step, ((end < last ? end : last) - min) / step);
  };
  const net4 = { ip: 0, prefix: 0 };
  const ttls = opts.ttls;
  const soon = ttls === undefined ? undefined : t.rowsByLease((id) => ttlExpiresSoon(id, ttls));
  if (family === 4) {
    const cells = { min: min4, step: step4, count: Number(total), block: block4 };
    placeRows4(t, range.subnetLen, cells, problemRows, soon, partialOf, (state, ip, prefix) => {
      net4.ip = ip;
      net4.prefix = prefix;
      cover(state, net4);
    });
  } else {
    for (let i = 0; i < t.size; i++) {
      const net = t.ip6(i);
      if (net === undefined) continue;
      const state =
        problemRows.has(i) || net.prefix !== range.subnetLen
          ? PROBLEM
          : t.isReservation(i)
            ? RESERVED
            : soon?.[i] === 1
              ? EXPIRING
              : LEASED;
      cover(state, net);
    }
  }
  for (const d of t.damaged) {
    const net = partOf(d.subnet);
    if (net !== undefined) cover(PROBLEM, net);
  }

  const blockNum = Number(block);
  const total4 = Number(total);
  const states = cellStates(
    cellCount,
    blockNum,
    family === 4
      ? (c) => Math.min(blockNum, total4 - c * blockNum)
      : (c) => Math.min(blockNum, Number(total - BigInt(c) * block)),
    partialOf,
    fullOf,
  );
  const cells: { start: string; state: CellState }[] = [];
  for (let c = 0; c < cellCount; c++) {
    const start =
      family === 4 ? formatIPv4(min4 + c * blockNum * step4) : formatIPv6(min + BigInt(c) * block * step);
    cells.push({ start, state: states[c]! });
  }
  return {
    family,
    network:
      family === 4 ? formatIPv4Cidr(range.network as IPv4Net) : formatIPv6Cidr(range.network as IPv6Net),
    subnetLen: range.subnetLen,
    subnets: total,
    blockSize: block,
    cells,
  };
}

// ---- helpers ----

/** What covers a subnet of the address map, by index: the counts are kept per state. */
const MAP_STATES = ["problem", "expiring", "leased", "reserved"] as const;
const PROBLEM = 0;
const EXPIRING = 1;
const LEASED = 2;
const RESERVED = 3;

/**
 * The index among a range's `count` subnets (from `first`, `step` addresses apart) of an IPv4
 * network of the range's own length; -1 when it is not one of them (outside, or not aligned).
 */
function ownSubnetIndex(ip: number, first: number, step: number, count: number): number {
  const k = (ip - first) / step;
  return k >= 0 && k < count && k === Math.floor(k) ? k : -1;
}

/**
 * Each cell's state from the counts addressMap placed (by state index: problem, expiring,
 * leased, reserved), `sizes(c)` subnets in cell `c`. A loop of its own (see placeRows4).
 */
function cellStates(
  count: number,
  blockNum: number,
  sizes: (c: number) => number,
  partialOf: readonly Float64Array[],
  fullOf: readonly Float64Array[],
): CellState[] {
  const running = new Float64Array(MAP_STATES.length);
  const covered = new Float64Array(MAP_STATES.length);
  const out: CellState[] = [];
  for (let c = 0; c < count; c++) {
    const size = sizes(c);
    let sum = 0;
    for (let s = 0; s < MAP_STATES.length; s++) {
      running[s]! += fullOf[s]![c]!;
      covered[s] = partialOf[s]![c]! + running[s]! * blockNum;
      sum += covered[s]!;
    }
    const used = Math.min(size, sum);
    out.push(
      covered[PROBLEM]! > 0
        ? "problem"
        : covered[EXPIRING]! > 0
          ? "expiring"
          : used === 0
            ? "free"
            : used < size
              ? "partial"
              : covered[LEASED]! > 0
                ? "leased"
                : "reserved",
    );
  }
  return out;
}

/**
 * The address map's IPv4 rows, from the columns: a row of the range's own length in it is one
 * subnet's count in its cell's `partialOf[state]`; any other goes to `other`. A loop of its own
 * (see coverRows4): inside addressMap, V8 was still optimising that big function in the
 * background when the view ended, and the process waited ~50 ms for it before exiting.
 */
function placeRows4(
  t: LeaseTable,
  subnetLen: number,
  cells: { readonly min: number; readonly step: number; readonly count: number; readonly block: number },
  problemRows: ReadonlySet<number>,
  soon: Uint8Array | undefined,
  partialOf: readonly Float64Array[],
  other: (state: number, ip: number, prefix: number) => void,
): void {
  const c = t.columns4();
  const { flags, ip4, len4 } = c;
  for (let i = 0; i < c.n; i++) {
    const f = flags[i]!;
    if ((f & c.v4) === 0) continue;
    const ip = ip4[i]!;
    const len = len4[i]!;
    const own = len === subnetLen;
    const state =
      !own || problemRows.has(i)
        ? PROBLEM
        : (f & c.reserved) !== 0
          ? RESERVED
          : soon?.[i] === 1
            ? EXPIRING
            : LEASED;
    const k = own ? ownSubnetIndex(ip, cells.min, cells.step, cells.count) : -1;
    if (k >= 0) {
      bump(partialOf[state]!, Math.floor(k / cells.block), 1);
      continue;
    }
    other(state, ip, len);
  }
}

/**
 * Adds every IPv4 row to `any`, and to `reserved` or `leased`. A loop of its own: a view runs
 * it once, and a small function is optimised (on stack) in a fraction of a big one's time.
 */
function coverRows4(t: LeaseTable, any: Cover4, leased: Cover4, reserved: Cover4): void {
  const c = t.columns4();
  const { flags, ip4, len4 } = c;
  for (let i = 0; i < c.n; i++) {
    const f = flags[i]!;
    if ((f & c.v4) === 0) continue;
    const ip = ip4[i]!;
    const len = len4[i]!;
    any.add(ip, len);
    ((f & c.reserved) !== 0 ? reserved : leased).add(ip, len);
  }
}

/** Ranges of at most this many subnets are covered in a bitmap (2 MiB at most), larger ones by a sweep. */
const COVER_BITMAP_MAX = 1 << 24;

/**
 * How many subnets of an IPv4 range the union of the networks added covers (what countFree
 * leaves out), with typed arrays instead of objects and comparator sorts. A range of up to
 * {@link COVER_BITMAP_MAX} subnets (a /8 of /24s is 65,536) marks a bit per subnet covered,
 * in any order; a larger one keeps each network's subnet span, sorts starts and ends apart
 * (skipped when they come sorted) and sweeps them together, which is all a union length needs.
 */
class Cover4 {
  private readonly step: number;
  private readonly subnetLen: number;
  private readonly first: number;
  private readonly last: number;
  private readonly bits: Uint32Array | undefined;
  private starts = new Float64Array(0);
  private ends = new Float64Array(0);
  private n = 0;
  private startsSorted = true;
  private endsSorted = true;

  constructor(
    range: SubnetRange4,
    private readonly total: number,
  ) {
    this.step = 2 ** (32 - range.subnetLen);
    this.subnetLen = range.subnetLen;
    this.first = range.min;
    this.last = range.min + total * this.step - 1;
    if (total <= COVER_BITMAP_MAX) this.bits = new Uint32Array(Math.ceil(total / 32));
    else {
      this.starts = new Float64Array(1024);
      this.ends = new Float64Array(1024);
    }
  }

  add(ip: number, prefix: number): void {
    const bits = this.bits;
    if (bits !== undefined && prefix === this.subnetLen) {
      // A network of the range's own length (nearly every lease): its one subnet's bit.
      const k = ownSubnetIndex(ip, this.first, this.step, this.total);
      if (k >= 0) {
        bits[k >>> 5]! |= 1 << (k & 31);
        return;
      }
    }
    if (!(prefix >= 0 && prefix <= 32)) return;
    const size = POW2[32 - prefix]!;
    const start = Math.floor(ip / size) * size;
    const end = start + size - 1;
    if (end < this.first || start > this.last) return;
    const s = Math.floor((Math.max(start, this.first) - this.first) / this.step);
    const e = Math.floor((Math.min(end, this.last) - this.first) / this.step) + 1; // exclusive
    if (bits !== undefined) {
      setBits(bits, s, e);
      return;
    }
    const n = this.n;
    if (n === this.starts.length) {
      const s2 = new Float64Array(n * 2);
      const e2 = new Float64Array(n * 2);
      s2.set(this.starts);
      e2.set(this.ends);
      this.starts = s2;
      this.ends = e2;
    }
    if (n > 0 && s < this.starts[n - 1]!) this.startsSorted = false;
    if (n > 0 && e < this.ends[n - 1]!) this.endsSorted = false;
    this.starts[n] = s;
    this.ends[n] = e;
    this.n = n + 1;
  }

  /** Subnets of the range covered by anything added. */
  covered(): number {
    if (this.total === 0) return 0;
    if (this.bits !== undefined) {
      let covered = 0;
      for (const word of this.bits) covered += popcount(word);
      return covered;
    }
    const n = this.n;
    const a = this.startsSorted ? this.starts.subarray(0, n) : this.starts.subarray(0, n).sort();
    const b = this.endsSorted ? this.ends.subarray(0, n) : this.ends.subarray(0, n).sort();
    let covered = 0;
    let depth = 0;
    let openedAt = 0;
    for (let i = 0, j = 0; j < n; ) {
      const s = i < n ? (a[i] ?? 0) : Number.POSITIVE_INFINITY;
      const e = b[j] ?? 0;
      if (s <= e) {
        if (depth++ === 0) openedAt = s;
        i++;
      } else {
        if (--depth === 0) covered += e - openedAt;
        j++;
      }
    }
    return covered;
  }
}

/** 2^k for k = 0..32, looked up: `2 ** k` is a call per use. */
const POW2 = Float64Array.from({ length: 33 }, (_, k) => 2 ** k);

/** Sets bits [s, e) of `bits`: bit by bit at the edges, whole words between. */
function setBits(bits: Uint32Array, s: number, e: number): void {
  let k = s;
  for (; k < e && (k & 31) !== 0; k++) bits[k >>> 5]! |= 1 << (k & 31);
  if (e - k >= 32) {
    bits.fill(0xffffffff, k >>> 5, e >>> 5);
    k = e & ~31;
  }
  for (; k < e; k++) bits[k >>> 5]! |= 1 << (k & 31);
}

/** Set bits in a 32-bit word. */
function popcount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function bump(counts: Float64Array, i: number, by: number): void {
  counts[i] = (counts[i] ?? 0) + by;
}

function nets6(entries: readonly { subnet: LeaseSubnet }[]): IPv6Net[] {
  const out: IPv6Net[] = [];
  for (const e of entries) if (e.subnet.ipv6 !== undefined) out.push(e.subnet.ipv6);
  return out;
}

function describe(lease: Lease): string {
  return `${subnetName(lease.subnet)} (${lease.attrs.publicIP}${isReservation(lease) ? ", reserved" : ""})`;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
