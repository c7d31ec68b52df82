/**
 * A lease as podnet sees it: the decoded key and value of one entry under
 * `<prefix>/subnets/`, plus what etcd says of it (its etcd lease, its revisions). And the
 * decoding of a whole listing, shared by the registry, the watcher and the admin views.
 */
import type { KeyValue } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import {
  decodeLeaseValue,
  foreignReason,
  type LeaseAttrs,
  type LeaseSubnet,
  parseLeaseKey,
  utf8Text,
} from "./lease-codec.js";
import type { SubnetRange4, SubnetRange6 } from "./subnet-range.js";

/** One host's lease (or reservation) as stored in etcd. */
export interface Lease {
  /** The full etcd key, `<prefix>/subnets/10.5.52.0-24`. */
  readonly key: string;
  readonly subnet: LeaseSubnet;
  readonly attrs: LeaseAttrs;
  /** The value exactly as stored, for compares. */
  readonly value: string;
  /** The etcd lease id the key is attached to; "0" for a reservation. */
  readonly etcdLease: string;
  readonly modRevision: number;
  readonly createRevision: number;
}

/** Whether a lease is a reservation (a key with no etcd lease: it never expires). */
export function isReservation(lease: Lease): boolean {
  return lease.etcdLease === "0";
}

/**
 * `23h59m`, `59m30s`, `45s`; `reserved` for a reservation, `expired` when the etcd lease is
 * gone, `-` when not looked up.
 */
export function formatTtl(ttlSeconds: number | null | undefined): string {
  if (ttlSeconds === undefined) return "-";
  if (ttlSeconds === null) return "reserved";
  if (ttlSeconds < 0) return "expired";
  const h = Math.floor(ttlSeconds / 3600);
  const m = Math.floor((ttlSeconds % 3600) / 60);
  const s = ttlSeconds % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

/** An entry under `subnets/` whose key is not a subnet: skipped, reported, never written. */
export interface ForeignEntry {
  readonly key: string;
  readonly reason: string;
  /** The etcd lease the key is attached to; "0" for none. */
  readonly etcdLease: string;
  readonly modRevision: number;
}

/** An entry whose key is a subnet but whose value is not a lease: it still occupies its subnet. */
export interface DamagedEntry {
  readonly key: string;
  readonly subnet: LeaseSubnet;
  readonly reason: string;
  readonly value: string;
  readonly etcdLease: string;
  readonly modRevision: number;
}

/** Every entry under `<prefix>/subnets/` at one revision. */
export interface LeaseListing {
  readonly revision: number;
  readonly leases: Lease[];
  readonly foreign: ForeignEntry[];
  readonly damaged: DamagedEntry[];
}

/** The subnet ranges leases are taken from, as the config resolves them. */
export interface LeaseNetwork {
  readonly ipv4?: SubnetRange4;
  readonly ipv6?: SubnetRange6;
}

/** Decodes one etcd entry under `<prefix>/subnets/`; never throws. */
export function decodeEntry(
  prefix: string,
  kv: KeyValue,
):
  | { kind: "lease"; lease: Lease }
  | { kind: "foreign"; entry: ForeignEntry }
  | { kind: "damaged"; entry: DamagedEntry } {
  return decodeEntryIn(subnetsPrefix(prefix), kv);
}

/** {@link decodeEntry} with the `<prefix>/subnets/` directory already worked out. */
export function decodeEntryIn(
  dir: string,
  kv: KeyValue,
):
  | { kind: "lease"; lease: Lease }
  | { kind: "foreign"; entry: ForeignEntry }
  | { kind: "damaged"; entry: DamagedEntry } {
  const name = kv.key.startsWith(dir) ? kv.key.slice(dir.length) : kv.key;
  const subnet = parseLeaseKey(name);
  if (subnet === null) {
    return {
      kind: "foreign",
      entry: { key: kv.key, reason: foreignReason(name), etcdLease: kv.lease, modRevision: kv.modRevision },
    };
  }
  // The bytes are decoded once, for both the attributes and the value kept for compares.
  const text = utf8Text(kv.value);
  const decoded = decodeLeaseValue(text ?? kv.value);
  if (decoded.ok) {
    return { kind: "lease", lease: leaseWith(kv, subnet, decoded.attrs, text ?? kv.value.toString("utf8")) };
  }
  return {
    kind: "damaged",
    entry: {
      key: kv.key,
      subnet,
      reason: decoded.reason,
      value: text ?? kv.value.toString("utf8"),
      etcdLease: kv.lease,
      modRevision: kv.modRevision,
    },
  };
}

/** The Lease of an etcd key whose name is `subnet` and whose value `text` decoded into `attrs`. */
export function leaseWith(
  kv: Pick<KeyValue, "key" | "lease" | "modRevision" | "createRevision">,
  subnet: LeaseSubnet,
  attrs: LeaseAttrs,
  text: string,
): Lease {
  return {
    key: kv.key,
    subnet,
    attrs,
    value: text,
    etcdLease: kv.lease,
    modRevision: kv.modRevision,
    createRevision: kv.createRevision,
  };
}

/**
 * Address order of subnets: by IPv4 address, then prefix length, then the IPv6 part (etcd
 * lists keys in byte order, where 10.5.114.0 sorts before 10.5.7.0).
 */
export function compareSubnets(a: LeaseSubnet, b: LeaseSubnet): number {
  // No allocation per comparison: sorting 65,000 leases makes about a million of them.
  const d = a.ipv4.ip - b.ipv4.ip || a.ipv4.prefix - b.ipv4.prefix;
  if (d !== 0 || (a.ipv6 === undefined && b.ipv6 === undefined)) return d;
  const a6 = a.ipv6?.ip ?? 0n;
  const b6 = b.ipv6?.ip ?? 0n;
  return a6 < b6 ? -1 : a6 > b6 ? 1 : (a.ipv6?.prefix ?? 0) - (b.ipv6?.prefix ?? 0);
}

const bySubnet = (x: { readonly subnet: LeaseSubnet }, y: { readonly subnet: LeaseSubnet }): number =>
  compareSubnets(x.subnet, y.subnet);

/** Decodes a listing of `<prefix>/subnets/` taken at `revision`; leases and damaged entries in address order. */
export function decodeListing(prefix: string, kvs: readonly KeyValue[], revision: number): LeaseListing {
  const listing: LeaseListing = { revision, leases: [], foreign: [], damaged: [] };
  const dir = subnetsPrefix(prefix);
  for (const kv of kvs) {
    const decoded = decodeEntryIn(dir, kv);
    if (decoded.kind === "lease") listing.leases.push(decoded.lease);
    else if (decoded.kind === "foreign") listing.foreign.push(decoded.entry);
    else listing.damaged.push(decoded.entry);
  }
  listing.leases.sort(bySubnet);
  listing.damaged.sort(bySubnet);
  return listing;
}
