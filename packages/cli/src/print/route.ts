/**
 * The overlay routing table on the terminal: one route per lease (and per family of a
 * dual-stack lease) as `route -n` lays it out, its stable JSON form in iproute2's key names
 * (`ip -json route`: dst, gateway, dev, flags), and the `--kernel` comparison.
 *
 * Flags, as route(8) and BSD netstat mean them: U the route is up (its lease is live or
 * reserved; missing when the etcd lease has expired), G via a gateway (every overlay route),
 * H the destination is a single host (/32, /128), S static: a reservation, added by hand
 * (`route add`) and never expiring.
 */
import {
  formatIPv4,
  formatIPv6,
  formatNetmask,
  hasIPv4,
  ipv4TextLength,
  isReservation,
  isVxlanLease,
  type Lease,
  type LeaseTable,
  type ListingCounts,
  type VxlanData,
  vxlanDataOf,
  vxlanV6DataOf,
} from "@podnet/ipam-core";
import type { ByteSink } from "./byte-sink.js";
import { type BytePart, jsonNumber, jsonRepeated, jsonString } from "./json-stream.js";
import {
  formatTtl,
  keyJsonWriter,
  type LeaseView,
  simpleTtl,
  sortedBySubnet,
  type TableRows,
  type ViewSource,
  viewSource,
  writeVtepMac,
} from "./lease.js";
import { alignedLine, table, tableLines, widen } from "./table.js";

/**
 * One overlay route: where a lease's subnet is reached, and the lease behind it. Its
 * addresses (dst, destination, gateway, publicIP) and vtepMAC are as the codec checked them.
 */
export interface RouteEntry {
  readonly family: 4 | 6;
  /** The subnet as a CIDR, `10.5.52.0/24`. */
  readonly dst: string;
  /** The subnet's network address, `10.5.52.0`. */
  readonly destination: string;
  readonly prefix: number;
  /** The VTEP address (the subnet's network address) for vxlan; the host's PublicIP otherwise. */
  readonly gateway: string;
  /** `flannel.<VNI>` (`flannel-v6.<VNI>`) for vxlan; the backend's name otherwise. */
  readonly dev: string;
  /** vxlan routes are `onlink`, as flanneld programs them (the VTEP is not on any local subnet). */
  readonly onlink: boolean;
  readonly publicIP: string;
  readonly vtepMAC: string | null;
  /** Seconds left; null for a reservation; -1 when the etcd lease is gone; undefined when not looked up. */
  readonly ttlSeconds: number | null | undefined;
  readonly reservation: boolean;
  /** The lease's BackendType; null for udp and alloc, which write none. */
  readonly backendType: string | null;
  readonly key: string;
}

/** The routes of leases, in address order (IPv4 first, then IPv6). `vni` is the config's, for leases without one. */
export function routeEntries(views: readonly LeaseView[], vni: number | undefined): RouteEntry[] {
  return [...eachRoute(viewSource(sortedBySubnet(views)), vni)];
}

/**
 * The routes of leases already in address order, one at a time (IPv4 first, then IPv6), so
 * that a big table is printed without holding every route.
 */
export function* eachRoute(sorted: ViewSource, vni: number | undefined): Generator<RouteEntry> {
  if (sorted.rows !== undefined) yield* tableRoutes4(sorted.rows, vni);
  else {
    for (const view of sorted.views(4)) {
      if (hasIPv4(view.lease.subnet)) yield routeOf(view, 4, vni);
    }
  }
  for (const view of sorted.views(6)) {
    if (view.lease.subnet.ipv6 !== undefined) yield routeOf(view, 6, vni);
  }
}

/** How many routes `eachRoute` yields. */
export function routeCount(views: ViewSource): number {
  return views.count(4) + views.count(6);
}

/**
 * The IPv4 routes of a lease table in address order, from its columns alone (the VNI and
 * VtepMAC of a vxlan lease's BackendData are columns too): no lease is decoded. The same
 * routes as routeOf makes of the decoded leases.
 */
function* tableRoutes4(rows: TableRows, configVni: number | undefined): Generator<RouteEntry> {
  for (const i of rows.table.order) {
    if (rows.table.hasV4(i)) yield tableRoute4(rows, i, configVni, true);
  }
}

/** Row `i`'s IPv4 route (see tableRoutes4); its key only when `withKey` (else ""). */
function tableRoute4(
  rows: TableRows,
  i: number,
  configVni: number | undefined,
  withKey: boolean,
): RouteEntry {
  const { table } = rows;
  return routeFrom({
    family: 4,
    destination: formatIPv4(table.ip4(i)),
    prefix: table.len4(i),
    type: table.backendType(i),
    data: vxlanColumns(table, i),
    // The column's number is the text's: flannel's dotted quads are canonical (see LeaseTable.publicIP).
    publicIP: formatIPv4(table.publicIP(i)),
    configVni,
    ttlSeconds: rows.ttl(i),
    reservation: table.isReservation(i),
    key: withKey ? table.key(i) : "",
  });
}

/** Row `i`'s vxlan BackendData from the columns, as vxlanDataOf reads it from the lease; undefined when it has none usable. */
function vxlanColumns(table: LeaseTable, i: number): VxlanData | undefined {
  const vtepMac = table.vtepMac(i);
  const vni = table.vni(i);
  return vtepMac === null || typeof vni !== "number" ? undefined : { vni, vtepMac };
}

function routeOf(view: LeaseView, family: 4 | 6, configVni: number | undefined): RouteEntry {
  const { lease } = view;
  const { attrs } = lease;
  const vxlan = isVxlanLease(attrs);
  const decoded = vxlan ? (family === 4 ? vxlanDataOf(attrs) : vxlanV6DataOf(attrs)) : undefined;
  const net6 = lease.subnet.ipv6;
  return routeFrom({
    family,
    destination:
      family === 4 ? formatIPv4(lease.subnet.ipv4.ip) : net6 === undefined ? "::" : formatIPv6(net6.ip),
    prefix: family === 4 ? lease.subnet.ipv4.prefix : (net6?.prefix ?? 0),
    type: attrs.backendType,
    data: typeof decoded === "object" ? decoded : undefined,
    publicIP: family === 4 ? attrs.publicIP : (attrs.publicIPv6 ?? attrs.publicIP),
    configVni,
    ttlSeconds: view.ttlSeconds,
    reservation: isReservation(lease),
    key: lease.key,
  });
}

/** Whether a BackendType (as written, undefined for none) makes vxlan routes. */
function vxlanType(type: string | undefined): boolean {
  return isVxlanLease({ backendType: type });
}

/** A route's device: `flannel.<VNI>` (`flannel-v6.<VNI>`) for vxlan, else the backend's name. */
function routeDev(family: 4 | 6, type: string | undefined, vni: number | undefined): string {
  if (vxlanType(type)) return `${family === 4 ? "flannel" : "flannel-v6"}.${vni ?? "?"}`;
  return type === undefined || type === "" ? "udp/alloc" : type;
}

/** A route from what a lease says: its subnet of the family, BackendType, vxlan data of the family, host. */
function routeFrom(r: {
  family: 4 | 6;
  destination: string;
  prefix: number;
  type: string | undefined;
  data: VxlanData | undefined;
  publicIP: string;
  configVni: number | undefined;
  ttlSeconds: number | null | undefined;
  reservation: boolean;
  key: string;
}): RouteEntry {
  const vxlan = vxlanType(r.type);
  const dev = routeDev(r.family, r.type, r.data?.vni ?? r.configVni);
  return {
    family: r.family,
    dst: `${r.destination}/${r.prefix}`,
    destination: r.destination,
    prefix: r.prefix,
    gateway: vxlan ? r.destination : r.publicIP,
    dev,
    onlink: vxlan,
    publicIP: r.publicIP,
    vtepMAC: r.data?.vtepMac ?? null,
    ttlSeconds: r.ttlSeconds,
    reservation: r.reservation,
    backendType: r.type ?? null,
    key: r.key,
  };
}

/** What a route's table row shows. */
type RowFields = Pick<
  RouteEntry,
  | "family"
  | "destination"
  | "prefix"
  | "gateway"
  | "dev"
  | "publicIP"
  | "vtepMAC"
  | "ttlSeconds"
  | "reservation"
>;

/** Whether a route is up (U): its lease is live or a reservation, or its TTL was not looked up. */
function routeUp(ttlSeconds: number | null | undefined): boolean {
  return ttlSeconds === null || ttlSeconds === undefined || ttlSeconds > 0;
}

/** route(8)'s flag letters of an overlay route (see the file comment). */
export function routeFlags(
  route: Pick<RowFields, "family" | "prefix" | "ttlSeconds" | "reservation">,
): string {
  const up = routeUp(route.ttlSeconds) ? "U" : "";
  const host = route.prefix === (route.family === 4 ? 32 : 128) ? "H" : "";
  return `${up}G${host}${route.reservation ? "S" : ""}`;
}

/** The stable machine form of one route (-o json, -o yaml): iproute2's names, then the overlay's. */
export function routeData(route: RouteEntry) {
  return {
    dst: route.dst,
    gateway: route.gateway,
    dev: route.dev,
    flags: route.onlink ? ["onlink"] : [],
    publicIP: route.publicIP,
    vtepMAC: route.vtepMAC,
    ttlSeconds: route.ttlSeconds ?? null,
    reservation: route.reservation,
    backendType: route.backendType,
    key: route.key,
  };
}

/**
 * JSON.stringify(routeData(route)), written without the object: `-o json` of 65,000 routes.
 * Addresses and the VtepMAC go in as they are: the codec checked them (no character in them
 * needs escaping).
 */
export function routeJson(route: RouteEntry): string {
  return (
    `{"dst":"${route.dst}","gateway":"${route.gateway}","dev":${jsonRepeated(route.dev)}` +
    `,"flags":${route.onlink ? '["onlink"]' : "[]"},"publicIP":"${route.publicIP}"` +
    `,"vtepMAC":${route.vtepMAC === null ? "null" : `"${route.vtepMAC}"`}` +
    `,"ttlSeconds":${jsonNumber(route.ttlSeconds)},"reservation":${route.reservation}` +
    `,"backendType":${route.backendType === null ? "null" : jsonRepeated(route.backendType)}` +
    `,"key":${jsonString(route.key)}}`
  );
}

/**
 * The compact JSON array of the routes `eachRoute` yields (as their routeJson texts joined),
 * written into the output's bytes: a table's IPv4 routes straight from its columns, digit by
 * digit, with no string or object per route; any other route as its routeJson text.
 */
export function* writeRoutesJson(
  sorted: ViewSource,
  configVni: number | undefined,
  out: ByteSink,
): Generator<undefined> {
  let sep = "[";
  const rows = sorted.rows;
  if (rows !== undefined) {
    const row = route4JsonWriter(rows, configVni, out);
    for (const i of rows.table.order) {
      if (!rows.table.hasV4(i)) continue;
      out.room(ROUTE_ROOM);
      out.ascii(sep);
      row(i);
      sep = ",";
      if (out.blocked) yield;
    }
  }
  const texts = rows === undefined ? eachRoute(sorted, configVni) : ipv6Routes(sorted, configVni);
  for (const route of texts) {
    out.text(sep + routeJson(route));
    sep = ",";
    if (out.blocked) yield;
  }
  out.text(sep === "[" ? "[]" : "]");
}

/** Room for one route's JSON but its key, device and BackendType (which make their own). */
const ROUTE_ROOM = 320;

function* ipv6Routes(sorted: ViewSource, configVni: number | undefined): Generator<RouteEntry> {
  for (const view of sorted.views(6)) {
    if (view.lease.subnet.ipv6 !== undefined) yield routeOf(view, 6, configVni);
  }
}

/**
 * Writes row `i`'s IPv4 route as routeJson(tableRoute4(...)) writes it, from the columns;
 * each BackendType's and device's JSON text is made once.
 */
function route4JsonWriter(
  rows: TableRows,
  configVni: number | undefined,
  out: ByteSink,
): (i: number) => void {
  const { table } = rows;
  /** Per BackendType: its JSON, whether it is vxlan, and its devices' JSON by VNI. */
  const types = new Map<
    string | undefined,
    { json: Buffer; vxlan: boolean; devs: Map<number | undefined, Buffer> }
  >();
  const lit = (text: string) => Buffer.from(text, "latin1");
  const DST = lit('{"dst":"');
  const GATEWAY = lit('","gateway":"');
  const DEV = lit('","dev":');
  const ONLINK = lit(',"flags":["onlink"],"publicIP":"');
  const NOT_ONLINK = lit(',"flags":[],"publicIP":"');
  const MAC = lit('","vtepMAC":');
  const TTL = lit(',"ttlSeconds":');
  const RESERVED = lit(',"reservation":true,"backendType":');
  const NOT_RESERVED = lit(',"reservation":false,"backendType":');
  const KEY = lit(',"key":');
  const key = keyJsonWriter(table);
  return (i) => {
    const typeName = table.backendType(i);
    let type = types.get(typeName);
    if (type === undefined) {
      const json = Buffer.from(typeName === undefined ? "null" : jsonString(typeName));
      type = { json, vxlan: vxlanType(typeName), devs: new Map() };
      types.set(typeName, type);
    }
    // A vxlan row's VNI and VtepMAC are columns (vxlanColumns); a VtepMAC exactly when the VNI is a number.
    const v = type.vxlan ? table.vni(i) : undefined;
    const vni = typeof v === "number" ? v : undefined;
    let dev = type.devs.get(vni);
    if (dev === undefined) {
      dev = Buffer.from(jsonString(routeDev(4, typeName, vni ?? configVni)));
      type.devs.set(vni, dev);
    }
    const ip = table.ip4(i);
    const publicIP = table.publicIP(i);
    out.bytes(DST);
    out.ipv4(ip);
    out.buf[out.used++] = 47; // /
    out.uint(table.len4(i));
    out.bytes(GATEWAY);
    out.ipv4(type.vxlan ? ip : publicIP);
    out.bytes(DEV);
    out.room(dev.length + ROUTE_ROOM);
    out.bytes(dev);
    out.bytes(type.vxlan ? ONLINK : NOT_ONLINK);
    out.ipv4(publicIP);
    out.bytes(MAC);
    if (vni === undefined) out.ascii("null");
    else {
      out.buf[out.used++] = 34;
      writeVtepMac(out, table, i);
      out.buf[out.used++] = 34;
    }
    out.bytes(TTL);
    out.jsonNumber(rows.ttl(i));
    out.bytes(table.isReservation(i) ? RESERVED : NOT_RESERVED);
    out.room(type.json.length + 8);
    out.bytes(type.json);
    out.bytes(KEY);
    key(out, i);
    out.room(1);
    out.buf[out.used++] = 125; // }
  };
}

/** The Genmask column: a dotted mask for IPv4 (as `route -n`), `/len` for IPv6. */
function genmask(route: Pick<RowFields, "family" | "prefix">): string {
  return route.family === 4 ? formatNetmask(route.prefix) : `/${route.prefix}`;
}

/**
 * One row of the table. Numeric (`-n`) and plain differ as in route(8), minus DNS: plain shows
 * `default` for a 0.0.0.0/0 destination and `*` for an unspecified gateway.
 */
export function routeRow(route: RowFields, numeric: boolean): string[] {
  const anyAddr = route.family === 4 ? "0.0.0.0" : "::";
  const destination =
    !numeric && route.prefix === 0 && route.destination === anyAddr ? "default" : route.destination;
  const gateway = !numeric && route.gateway === anyAddr ? "*" : route.gateway;
  return [
    destination,
    gateway,
    genmask(route),
    routeFlags(route),
    route.dev,
    route.publicIP,
    route.vtepMAC ?? "-",
    ttlText(route.ttlSeconds),
    route.reservation ? "yes" : "no",
  ];
}

const ttlTexts = new Map<number | null | undefined, string>();

/** formatTtl, remembered: a listing's leases share a few etcd leases, so a few TTLs. */
function ttlText(ttlSeconds: number | null | undefined): string {
  let text = ttlTexts.get(ttlSeconds);
  if (text === undefined) {
    text = formatTtl(ttlSeconds);
    if (ttlTexts.size < 4096) ttlTexts.set(ttlSeconds, text);
  }
  return text;
}

/** The tab-separated row (-o simple): the CIDR, then the table's other cells, the TTL in seconds. */
export function routeSimpleRow(route: RouteEntry): string[] {
  const row = [route.dst, ...routeRow(route, true).slice(1)];
  row[7] = simpleTtl(route.ttlSeconds);
  return row;
}

const HEAD = [
  "Destination",
  "Gateway",
  "Genmask",
  "Flags",
  "Iface",
  "PublicIP",
  "VtepMAC",
  "TTL",
  "Reserved",
];

/** The whole table, titled like `route -n`, with a footer counting what was skipped. */
export function formatRouteTable(
  routes: readonly RouteEntry[],
  listing: ListingCounts,
  opts: { numeric: boolean; prefix: string },
): string {
  const title = `Overlay IP routing table (${opts.prefix}, revision ${listing.revision})`;
  const { reservations } = listing;
  const parts = [`${plural(listing.size - reservations, "lease")}, ${plural(reservations, "reservation")}`];
  const skipped = listing.damaged.length + listing.foreign.length;
  if (skipped > 0) {
    parts.push(
      `${plural(skipped, "entry", "entries")} skipped: ${listing.damaged.length} damaged, ${listing.foreign.length} foreign (see the warnings)`,
    );
  }
  const body = routes.length === 0 ? "no routes: there are no leases" : formatRoutes(routes, opts.numeric);
  return `${title}\n${body}\n\n${parts.join("; ")}`;
}

/**
 * formatRouteTable line by line, over the leases in address order (see eachRoute); a lease
 * table's IPv4 rows as one part written into the output's bytes, each line with its newline.
 */
export function* routeTableLines(
  sorted: ViewSource,
  vni: number | undefined,
  listing: ListingCounts,
  opts: { numeric: boolean; prefix: string },
): Generator<string | BytePart> {
  const text = formatRouteTable([], listing, opts).split("\n");
  yield text[0] ?? "";
  if (routeCount(sorted) === 0) yield "no routes: there are no leases";
  else if (sorted.rows !== undefined) yield* tableRouteLines(sorted.rows, vni, opts.numeric);
  else yield* tableLines(HEAD, () => mapIter(eachRoute(sorted, vni), (r) => routeRow(r, opts.numeric)));
  yield* text.slice(2);
}

/**
 * The route table's rows over a lease table in two passes, holding no row's text (a table of
 * 65,000 routes would be most of the command's memory): the first measures each IPv4 row's
 * cells from the columns, the second writes them from the columns into the output's bytes,
 * padded, with no string per row but the few cells that repeat (remembered). IPv6 routes are
 * decoded from their leases, in each pass, and printed as lines.
 */
function* tableRouteLines(
  rows: TableRows,
  configVni: number | undefined,
  numeric: boolean,
): Generator<string | BytePart> {
  const { table } = rows;
  const view = (i: number): LeaseView => ({ lease: table.lease(i), ttlSeconds: rows.ttl(i) });
  const widths = HEAD.map((h) => h.length);
  const cells = route4Cells(rows, configVni, numeric);
  for (const i of table.order) {
    if (!table.hasV4(i)) continue;
    const c = cells(i);
    const fit = (column: number, length: number) => {
      if (length > widths[column]!) widths[column] = length;
    };
    fit(0, c.destination < 0 ? 7 : ipv4TextLength(c.destination));
    fit(1, c.gateway < 0 ? 1 : ipv4TextLength(c.gateway));
    fit(2, c.mask.length);
    fit(3, c.flags.length);
    fit(4, c.dev.length);
    fit(5, ipv4TextLength(c.publicIP));
    fit(6, c.mac ? 17 : 1);
    fit(7, c.ttl.length);
  }
  const v6 = function* (): Generator<RouteEntry> {
    if (!table.hasIPv6) return;
    for (const i of table.order) if (table.ip6(i) !== undefined) yield routeOf(view(i), 6, configVni);
  };
  for (const route of v6()) widen(widths, routeRow(route, numeric));
  yield alignedLine(HEAD, widths);
  /** Blanks after a cell of `length` characters in `column`, to the next column. */
  const pad = (out: ByteSink, length: number, column: number) => {
    for (let n = widths[column]! + 2 - length; n > 0; n--) out.buf[out.used++] = 32;
  };
  yield {
    *write(out) {
      const room = widths.reduce((a, b) => a + b + 2, 0) + 8;
      for (const i of table.order) {
        if (!table.hasV4(i)) continue;
        const c = cells(i);
        // The device goes in as text (a BackendType may be any string), then the rest as bytes.
        out.room(room);
        if (c.destination < 0) out.ascii("default");
        else out.ipv4(c.destination);
        pad(out, c.destination < 0 ? 7 : ipv4TextLength(c.destination), 0);
        if (c.gateway < 0) out.ascii("*");
        else out.ipv4(c.gateway);
        pad(out, c.gateway < 0 ? 1 : ipv4TextLength(c.gateway), 1);
        out.ascii(c.mask);
        pad(out, c.mask.length, 2);
        out.ascii(c.flags);
        pad(out, c.flags.length, 3);
        out.text(c.dev);
        out.room(room);
        pad(out, c.dev.length, 4);
        out.ipv4(c.publicIP);
        pad(out, ipv4TextLength(c.publicIP), 5);
        if (!c.mac) out.ascii("-");
        else {
          writeVtepMac(out, table, i);
        }
        pad(out, c.mac ? 17 : 1, 6);
        out.ascii(c.ttl);
        pad(out, c.ttl.length, 7);
        out.ascii(c.reservation ? "yes\n" : "no\n");
        if (out.blocked) yield;
      }
    },
  };
  for (const route of v6()) yield alignedLine(routeRow(route, numeric), widths);
}

/** The cells of an IPv4 route's table row (routeRow's), addresses as numbers: -1 for `default` and `*`. */
interface Route4Cells {
  destination: number;
  gateway: number;
  mask: string;
  flags: string;
  dev: string;
  publicIP: number;
  /** Whether the row has a VtepMAC (its octets are the table's); else `-`. */
  mac: boolean;
  ttl: string;
  reservation: boolean;
}

/**
 * Row `i`'s routeRow(tableRoute4(...)) cells from the columns, into one reused object; the
 * device of each BackendType and VNI is made once.
 */
function route4Cells(
  rows: TableRows,
  configVni: number | undefined,
  numeric: boolean,
): (i: number) => Route4Cells {
  const { table } = rows;
  const types = new Map<string | undefined, { vxlan: boolean; devs: Map<number | undefined, string> }>();
  const masks: string[] = [];
  const flags: string[] = [];
  const c: Route4Cells = {
    destination: 0,
    gateway: 0,
    mask: "",
    flags: "",
    dev: "",
    publicIP: 0,
    mac: false,
    ttl: "",
    reservation: false,
  };
  return (i) => {
    const typeName = table.backendType(i);
    let type = types.get(typeName);
    if (type === undefined) {
      type = { vxlan: vxlanType(typeName), devs: new Map() };
      types.set(typeName, type);
    }
    const v = type.vxlan ? table.vni(i) : undefined;
    const vni = typeof v === "number" ? v : undefined;
    let dev = type.devs.get(vni);
    if (dev === undefined) {
      dev = routeDev(4, typeName, vni ?? configVni);
      type.devs.set(vni, dev);
    }
    const prefix = table.len4(i);
    const ip = table.ip4(i);
    const publicIP = table.publicIP(i);
    const gateway = type.vxlan ? ip : publicIP;
    const ttlSeconds = rows.ttl(i);
    c.reservation = table.isReservation(i);
    // routeRow's plain form: `default` for 0.0.0.0/0, `*` for a 0.0.0.0 gateway.
    c.destination = !numeric && prefix === 0 && ip === 0 ? -1 : ip;
    c.gateway = !numeric && gateway === 0 ? -1 : gateway;
    c.mask = masks[prefix] ??= genmask({ family: 4, prefix });
    // routeFlags, remembered by what it depends on: up, host route, reservation.
    const f = (routeUp(ttlSeconds) ? 4 : 0) + (prefix === 32 ? 2 : 0) + (c.reservation ? 1 : 0);
    c.flags = flags[f] ??= routeFlags({ family: 4, prefix, ttlSeconds, reservation: c.reservation });
    c.dev = dev;
    c.publicIP = publicIP;
    c.mac = vni !== undefined;
    c.ttl = ttlText(ttlSeconds);
    return c;
  };
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}

/** The routes under the table's header, nothing else. */
export function formatRoutes(routes: readonly RouteEntry[], numeric: boolean): string {
  return table(
    HEAD,
    routes.map((r) => routeRow(r, numeric)),
  );
}

/** How one planned kernel entry compares with the kernel. */
export interface KernelCheckRow {
  readonly kind: string;
  readonly entry: string;
  readonly status: string;
  readonly detail?: string | undefined;
}

/** The `--kernel` table: each planned entry and what the kernel holds, with a summary line. */
export function formatKernelCheck(
  rows: readonly KernelCheckRow[],
  header: string,
  mark: (status: string, text: string) => string,
): string {
  const bad = rows.filter((r) => r.status !== "ok").length;
  const body =
    rows.length === 0
      ? "nothing to compare: no peers to route to"
      : table(
          ["Status", "Kind", "Entry", "Detail"],
          rows.map((r) => [mark(r.status, r.status.toUpperCase()), r.kind, r.entry, r.detail ?? ""]),
        );
  const summary =
    bad === 0
      ? `all ${plural(rows.length, "entry", "entries")} match the kernel`
      : `${plural(bad, "entry", "entries")} of ${rows.length} do not match the kernel`;
  return `${header}\n${body}\n\n${summary}`;
}

/** A short line for a removed lease or reservation. */
export function removedText(lease: Lease, ttlSeconds: number | null): string {
  return isReservation(lease)
    ? `reservation for ${lease.attrs.publicIP}`
    : `lease of ${lease.attrs.publicIP} (${formatTtl(ttlSeconds)} left)`;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
