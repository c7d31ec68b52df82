/**
 * Leases on the terminal: the `podnet lease` table, one lease as fields, the stable JSON form
 * (`-o json`), and the warnings for entries that are not leases.
 */
import {
  compareSubnets,
  type DamagedEntry,
  type ForeignEntry,
  formatIPv4,
  formatIPv6,
  formatTtl,
  hasIPv4,
  isReservation,
  type Lease,
  type LeaseListing,
  type LeaseSubnet,
  type LeaseTable,
  type ListingCounts,
  vtepMacOf as vtepMacOfAttrs,
} from "@podnet/ipam-core";
import { safeJson } from "./bounded.js";
import type { ByteSink } from "./byte-sink.js";
import { jsonNumber, jsonRepeated, jsonString, writeJsonArray } from "./json-stream.js";
import { fields, table, tableLines } from "./table.js";

/**
 * A lease and its remaining time: seconds, null for a reservation, -1 when expired or revoked,
 * undefined when not looked up (see ttl-policy.ts).
 */
export interface LeaseView {
  readonly lease: Lease;
  readonly ttlSeconds: number | null | undefined;
}

/**
 * Leases with their TTLs in address order, made as they are read (a big listing is never
 * held as views): `views(family)` yields at least those with a subnet of that family.
 */
export interface ViewSource {
  views(family?: 4 | 6): Iterable<LeaseView>;
  /** How many leases have a subnet of the family. */
  count(family: 4 | 6): number;
  /** Leases and reservations. */
  readonly size: number;
  /** The lease table the views are read from, when they are: its columns make the route table without a second decode. */
  readonly rows?: TableRows;
}

/** A lease table's rows with their TTLs (what {@link ViewSource.views} decodes into views). */
export interface TableRows {
  readonly table: LeaseTable;
  /** Row `i`'s TTL, as {@link LeaseView.ttlSeconds}. */
  ttl(i: number): number | null | undefined;
}

/** The source of views already made (and sorted). */
export function viewSource(views: readonly LeaseView[]): ViewSource {
  return {
    views: () => views,
    count: (family) =>
      views.filter((v) => (family === 4 ? hasIPv4(v.lease.subnet) : v.lease.subnet.ipv6 !== undefined))
        .length,
    size: views.length,
  };
}

/** A subnet for messages: `10.5.52.0/24`, `10.5.52.0/24 + fc00:0:0:34::/64`, or the IPv6 part alone. */
export function subnetText(subnet: LeaseSubnet): string {
  const v6 = subnet.ipv6 && `${formatIPv6(subnet.ipv6.ip)}/${subnet.ipv6.prefix}`;
  if (!hasIPv4(subnet)) return v6 ?? "";
  const v4 = `${formatIPv4(subnet.ipv4.ip)}/${subnet.ipv4.prefix}`;
  return v6 === undefined ? v4 : `${v4} + ${v6}`;
}

/** Leases in address order (etcd lists them in key order, where 10.5.114.0 sorts before 10.5.7.0). */
export function sortedBySubnet<V extends { readonly lease: Lease }>(views: readonly V[]): V[] {
  return [...views].sort((va, vb) => compareSubnets(va.lease.subnet, vb.lease.subnet));
}

/** The stable machine form of one lease (-o json, -o yaml). */
export function leaseData(view: LeaseView) {
  const { lease } = view;
  const { subnet, attrs } = lease;
  return {
    subnet: hasIPv4(subnet) ? `${formatIPv4(subnet.ipv4.ip)}/${subnet.ipv4.prefix}` : null,
    ipv6Subnet: subnet.ipv6 ? `${formatIPv6(subnet.ipv6.ip)}/${subnet.ipv6.prefix}` : null,
    publicIP: attrs.publicIP,
    publicIPv6: attrs.publicIPv6,
    backendType: attrs.backendType ?? null,
    backendData: parseRaw(attrs.backendData),
    ...(attrs.backendV6Data !== undefined && { backendV6Data: parseRaw(attrs.backendV6Data) }),
    etcdLease: lease.etcdLease,
    ttlSeconds: view.ttlSeconds ?? null,
    reservation: isReservation(lease),
    key: lease.key,
    modRevision: lease.modRevision,
  };
}

/**
 * JSON.stringify(leaseData(view)), written without the object for `-o json` of 65,000 leases;
 * a lease whose data is too deep for JSON.stringify goes through leaseData and safeJson.
 */
export function leaseJson(view: LeaseView): string {
  const { lease } = view;
  const { subnet, attrs } = lease;
  const data = rawJson(attrs.backendData);
  const v6Data = attrs.backendV6Data === undefined ? "" : rawJson(attrs.backendV6Data);
  if (data === undefined || v6Data === undefined) return safeJson(leaseData(view));
  const v4 = hasIPv4(subnet) ? `"${formatIPv4(subnet.ipv4.ip)}/${subnet.ipv4.prefix}"` : "null";
  const v6 = subnet.ipv6 ? `"${formatIPv6(subnet.ipv6.ip)}/${subnet.ipv6.prefix}"` : "null";
  const ip6 = attrs.publicIPv6 === undefined ? "" : `,"publicIPv6":${jsonOrNull(attrs.publicIPv6)}`;
  // The addresses and the etcd lease id (decimal) go in as they are: the codec checked them.
  return (
    `{"subnet":${v4},"ipv6Subnet":${v6},"publicIP":"${attrs.publicIP}"${ip6}` +
    `,"backendType":${attrs.backendType === undefined ? "null" : jsonRepeated(attrs.backendType)}` +
    `,"backendData":${data}` +
    `${attrs.backendV6Data === undefined ? "" : `,"backendV6Data":${v6Data}`}` +
    `,"etcdLease":"${lease.etcdLease}","ttlSeconds":${jsonNumber(view.ttlSeconds)}` +
    `,"reservation":${isReservation(lease)},"key":${jsonString(lease.key)},"modRevision":${jsonNumber(lease.modRevision)}}`
  );
}

/**
 * The compact JSON array of the leases' leaseJson texts, written into the output's bytes: a
 * table's rows in flannel's own form straight from its columns (LeaseTable.isCanonical), with
 * no string or object per lease; any other lease decoded and written as its leaseJson text.
 */
export function* writeLeasesJson(views: ViewSource, out: ByteSink): Generator<undefined> {
  const rows = views.rows;
  if (rows === undefined) {
    yield* writeJsonArray(mapIter(views.views(), leaseJson), out);
    return;
  }
  const { table } = rows;
  const types = new Map<string | undefined, Buffer>();
  const lit = (text: string) => Buffer.from(text, "latin1");
  const SUBNET = lit('{"subnet":"');
  const PUBLIC_IP = lit('","ipv6Subnet":null,"publicIP":"');
  const TYPE = lit('","publicIPv6":null,"backendType":');
  const VNI = lit(',"backendData":{"VNI":');
  const MAC = lit(',"VtepMAC":"');
  const NO_DATA = lit(',"backendData":null');
  const ETCD_LEASE = lit(',"etcdLease":"');
  const TTL = lit('","ttlSeconds":');
  const RESERVED = lit(',"reservation":true,"key":');
  const NOT_RESERVED = lit(',"reservation":false,"key":');
  const REVISION = lit(',"modRevision":');
  const key = keyJsonWriter(table);
  let sep = "[";
  for (const i of table.order) {
    const vni = table.vni(i);
    const data = table.hasBackendData(i);
    if (!table.isCanonical(i) || (data && typeof vni !== "number")) {
      out.text(sep + leaseJson({ lease: table.lease(i), ttlSeconds: rows.ttl(i) }));
      sep = ",";
      if (out.blocked) yield;
      continue;
    }
    const typeName = table.backendType(i);
    let type = types.get(typeName);
    if (type === undefined) {
      type = Buffer.from(typeName === undefined ? "null" : jsonString(typeName));
      types.set(typeName, type);
    }
    out.room(LEASE_ROOM + type.length);
    out.ascii(sep);
    sep = ",";
    out.bytes(SUBNET);
    out.ipv4(table.ip4(i));
    out.buf[out.used++] = 47; // /
    out.uint(table.len4(i));
    out.bytes(PUBLIC_IP);
    out.ipv4(table.publicIP(i));
    out.bytes(TYPE);
    out.bytes(type);
    if (data && typeof vni === "number") {
      out.bytes(VNI);
      out.uint(vni);
      out.bytes(MAC);
      writeVtepMac(out, table, i);
      out.ascii('"}');
    } else out.bytes(NO_DATA);
    out.bytes(ETCD_LEASE);
    out.ascii(table.etcdLease(i));
    out.bytes(TTL);
    out.jsonNumber(rows.ttl(i));
    out.bytes(table.isReservation(i) ? RESERVED : NOT_RESERVED);
    key(out, i);
    out.room(32);
    out.bytes(REVISION);
    out.jsonNumber(table.modRevision(i));
    out.buf[out.used++] = 125; // }
    if (out.blocked) yield;
  }
  out.text(sep === "[" ? "[]" : "]");
}

/**
 * A writer of row `i`'s key as jsonString(table.key(i)) into the output's bytes: the directory's
 * JSON made once, then the name's bytes copied from the table (a lease key name is plain ASCII;
 * one that is not, or a table without bytes, goes the string way).
 */
export function keyJsonWriter(table: LeaseTable): (out: ByteSink, i: number) => void {
  const dir = jsonString(table.keyDir);
  const open = Buffer.from(dir.slice(0, -1));
  return (out, i) => {
    const n = table.keyNameLength(i);
    if (n < 0) {
      out.jsonString(table.key(i));
      return;
    }
    out.room(open.length + n + 1);
    const start = out.used;
    out.bytes(open);
    const buf = out.buf;
    const at = out.used;
    table.copyKeyName(i, buf, at);
    for (let k = at; k < at + n; k++) {
      const c = buf[k]!;
      if (c < 32 || c > 126 || c === 34 || c === 92) {
        out.used = start;
        out.jsonString(table.key(i));
        return;
      }
    }
    buf[at + n] = 34;
    out.used = at + n + 1;
  };
}

/** Row `i`'s VtepMAC (the table's vtepMac text) from its octets, for a row that has one (17 bytes). */
export function writeVtepMac(out: ByteSink, table: LeaseTable, i: number): void {
  for (let k = 0; k < 6; k++) {
    if (k > 0) out.buf[out.used++] = 58; // :
    out.hex2(table.vtepMacOctet(i, k));
  }
}

/** Room for one lease's JSON but its key and BackendType (the etcd lease id is at most 20 digits). */
const LEASE_ROOM = 360;

/** vxlan data as flanneld writes it, which JSON.stringify(JSON.parse(text)) gives back unchanged. */
const STABLE_DATA = /^\{"VNI":(?:0|[1-9][0-9]{0,14}),"VtepMAC":"[0-9A-Za-z:.-]*"\}$/;

/** JSON.stringify(parseRaw(raw)); undefined when it is too deep for JSON.stringify. */
function rawJson(raw: string | undefined): string | undefined {
  if (raw === undefined) return "null";
  if (STABLE_DATA.test(raw)) return raw;
  const parsed = parseRaw(raw);
  try {
    // With a replacer argument, as safeJson calls it: Node 26 stringifies deep arrays without
    // one iteratively, but overflows with one, and the old path cut such a value.
    return JSON.stringify(parsed, null) ?? "null";
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

function jsonOrNull(text: string | null): string {
  return text === null ? "null" : jsonString(text);
}

/** The machine form of a damaged entry. */
export function damagedData(d: DamagedEntry) {
  return {
    key: d.key,
    subnet: subnetText(d.subnet),
    reason: d.reason,
    value: d.value,
    etcdLease: d.etcdLease,
    modRevision: d.modRevision,
  };
}

/** The machine form of a foreign entry. */
export function foreignData(f: ForeignEntry) {
  return { key: f.key, reason: f.reason, modRevision: f.modRevision };
}

/** `23h59m`, `59m30s`, `45s` (the lease TTL rule lives in ipam-core). */
export { formatTtl };

/** The VTEP MAC of a vxlan lease as printed (ipam-core's rule); "-" when it has none that is valid. */
export function vtepMacOf(lease: Lease): string {
  return vtepMacOfAttrs(lease.attrs) ?? "-";
}

/**
 * A TTL for scripts (-o simple): whole seconds, -1 when the etcd lease is gone, `reserved`
 * for a reservation, `-` when not looked up.
 */
export function simpleTtl(ttlSeconds: number | null | undefined): string {
  if (ttlSeconds === undefined) return "-";
  if (ttlSeconds === null) return "reserved";
  return String(ttlSeconds < 0 ? -1 : ttlSeconds);
}

/** The table row of one lease in `lease list`: SUBNET, PUBLIC-IP, BACKEND, VTEP-MAC, TTL. */
function leaseTableRow(view: LeaseView): string[] {
  const { lease } = view;
  const publicIPs = lease.attrs.publicIPv6
    ? `${lease.attrs.publicIP},${lease.attrs.publicIPv6}`
    : lease.attrs.publicIP;
  return [
    subnetText(lease.subnet),
    publicIPs,
    lease.attrs.backendType ?? "-",
    vtepMacOf(lease),
    formatTtl(view.ttlSeconds),
  ];
}

/** The -o simple row of one lease: the table's cells, the TTL in seconds (see simpleTtl). */
export function leaseRow(view: LeaseView): string[] {
  const row = leaseTableRow(view);
  row[4] = simpleTtl(view.ttlSeconds);
  return row;
}

const LEASE_HEAD = ["SUBNET", "PUBLIC-IP", "BACKEND", "VTEP-MAC", "TTL"];

/** The `lease list` table with its footer. */
export function formatLeaseTable(
  views: readonly LeaseView[],
  listing: Pick<LeaseListing, "revision" | "damaged" | "foreign">,
): string {
  const reservations = views.filter((v) => isReservation(v.lease)).length;
  const body = views.length === 0 ? "no leases" : table(LEASE_HEAD, views.map(leaseTableRow));
  return `${body}\n\n${leaseFooter(views.length, reservations, listing)}`;
}

/**
 * formatLeaseTable line by line over views made as they are read (`views` is called twice:
 * once for the column widths, once to print), so 65,000 leases are never held as rows.
 */
export function* leaseTableLines(
  views: () => Iterable<LeaseView>,
  listing: ListingCounts,
): Generator<string> {
  if (listing.size === 0) yield "no leases";
  else yield* tableLines(LEASE_HEAD, () => mapIter(views(), leaseTableRow));
  yield "";
  yield leaseFooter(listing.size, listing.reservations, listing);
}

function leaseFooter(
  leases: number,
  reservations: number,
  listing: Pick<ListingCounts, "revision" | "damaged" | "foreign">,
): string {
  const parts = [
    `${plural(leases - reservations, "lease")}, ${plural(reservations, "reservation")} at revision ${listing.revision}`,
  ];
  const skipped = listing.damaged.length + listing.foreign.length;
  if (skipped > 0) {
    parts.push(
      `${plural(skipped, "entry", "entries")} skipped: ${listing.damaged.length} damaged, ${listing.foreign.length} foreign (see the warnings)`,
    );
  }
  return parts.join("; ");
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}

/** One lease as aligned fields (`lease show`, `acquire`, `reserve`, `renew`). */
export function formatLease(view: LeaseView, extra: readonly (readonly [string, string])[] = []): string {
  const { lease } = view;
  const { attrs } = lease;
  const pairs: (readonly [string, string])[] = [
    ["Subnet", subnetText(lease.subnet)],
    ["PublicIP", attrs.publicIP],
  ];
  if (attrs.publicIPv6 !== null) pairs.push(["PublicIPv6", attrs.publicIPv6]);
  pairs.push(["Backend", attrs.backendType ?? "-"]);
  if (attrs.backendData !== undefined) pairs.push(["BackendData", attrs.backendData]);
  if (attrs.backendV6Data !== undefined) pairs.push(["BackendV6Data", attrs.backendV6Data]);
  pairs.push(
    ["TTL", formatTtl(view.ttlSeconds)],
    ["EtcdLease", isReservation(lease) ? "none (reservation)" : etcdLeaseHex(lease.etcdLease)],
    ["Key", lease.key],
    ["Revision", String(lease.modRevision)],
    ...extra,
  );
  return fields(pairs);
}

/** One warning line per entry that is not a lease, for stderr. */
export function listingWarnings(listing: Pick<ListingCounts, "damaged" | "foreign">): string[] {
  return [
    ...listing.damaged.map(
      (d) =>
        `${d.key}: damaged lease (${d.reason}); its subnet stays taken until the key is fixed or deleted`,
    ),
    ...listing.foreign.map((f) => `${f.key}: foreign key (${f.reason}); skipped`),
  ];
}

/** etcd lease ids as etcdctl prints them (hex). */
export function etcdLeaseHex(id: string): string {
  try {
    return `${BigInt(id).toString(16)} (${id})`;
  } catch {
    return id;
  }
}

function parseRaw(raw: string | undefined): unknown {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** What a release did with the lease's etcd lease: revoked, or kept because another key rides on it. */
export function revokedText(etcdLease: string, revoked: boolean): string {
  return revoked
    ? `etcd lease ${etcdLeaseHex(etcdLease)} revoked`
    : `etcd lease ${etcdLeaseHex(etcdLease)} kept (another key rides on it; it expires with its TTL)`;
}
