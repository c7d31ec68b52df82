/**
 * A listing of `<prefix>/subnets/` as columns instead of an object per lease: what the
 * summary views (utilisation, checks, the map) and the sorted listing views need, in typed
 * arrays, so that any row can be decoded back into the {@link Lease} the listing would hold.
 * Every row is decoded once while the store's scan visits it. A key and value in flannel's own
 * form (lease-bytes.ts) go from the reply's bytes into the columns without a string or an
 * object, and the columns give them back byte for byte, so nothing else of such a row is kept
 * (~45 bytes a lease instead of a few kilobytes of objects); any other entry goes through the
 * same codec as {@link decodeListing} (decodeEntryIn), to the same columns, and keeps a copy
 * of its key and value bytes. Damaged and foreign entries stay objects, as in a listing: they
 * are few. No part of a reply is held once read.
 */
import type { IPv6Net } from "./address.js";
import { formatIPv4, ipv4TextLength, parseIPv4 } from "./address.js";
import { isUnicastMacAt, isVxlanLease, MAX_VNI, routingData } from "./backend-data.js";
import { int64Text, readInt64Halves } from "./etcd/protobuf-wire.js";
import {
  keyValueAt,
  type RangeWalk,
  type ReplyBytes,
  walkKeyValue,
  walkRangeResponse,
} from "./etcd/reply-decoders.js";
import type { KeyValueCursor, ScanVisitor } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import {
  compareSubnets,
  type DamagedEntry,
  decodeEntryIn,
  type ForeignEntry,
  type Lease,
  type LeaseListing,
  leaseWith,
} from "./lease.js";
import { CanonicalValue, LeaseKey4, leaseKey4At, readCanonicalValue } from "./lease-bytes.js";
import {
  type DecodedLeaseValue,
  decodeCanonicalBytes,
  decodeLeaseValue,
  type LeaseSubnet,
  utf8Text,
} from "./lease-codec.js";
import { LeaseScanner, type ScanColumns, type ScanSink } from "./lease-scan.js";
import { hasRepeats } from "./repeats.js";

/** The columns a builder starts with, and the most it makes at once on a guess (see LeaseTableBuilder). */
const MIN_CAPACITY = 1024;
const MAX_EXPECTED = 1 << 16;

/** Rows from which a table with rows is sorted by the bulk reader (fewer sort as fast here). */
const BULK_ORDER_MIN = 4096;

/** Row flags. */
const RESERVED = 1;
const HAS_BACKEND_DATA = 2;
const BAD_BACKEND_DATA = 4;
const HAS_V4 = 8;
/** The value is ASCII: its UTF-8 text is its Latin-1 text. */
const ASCII = 16;
/** The row's `mac` bytes hold the VtepMAC of its vxlan BackendData (exactly when its VNI is readable). */
const HAS_MAC = 32;
/** The value is in flannel's own form (lease-bytes.ts): the columns say all of it. */
const CANONICAL = 64;

/**
 * Whether a row's flags say its columns give its key and value back byte for byte: a key and a
 * value in flannel's own form (lease-bytes.ts) whose BackendData, if any, is the VNI and VtepMAC
 * the columns hold. Such a row keeps no bytes (ByteArena).
 */
function impliedBy(flags: number): boolean {
  return (flags & CANONICAL) !== 0 && ((flags & HAS_BACKEND_DATA) === 0 || (flags & HAS_MAC) !== 0);
}

/** ByteArena's chunk number of a row whose columns imply its bytes. */
const IMPLIED = 0xffffffff;

/** {@link LeaseTable.vni} of a row without vxlan BackendData to read a VNI from. */
const NO_VNI = -1;
/** {@link LeaseTable.vni} of a row whose BackendData has no readable VNI. */
const BAD_VNI = -2;

/** How many entries of each kind a listing holds, for summaries and footers (a {@link LeaseTable} is one). */
export interface ListingCounts {
  readonly revision: number;
  /** Leases and reservations. */
  readonly size: number;
  readonly reservations: number;
  readonly damaged: readonly DamagedEntry[];
  readonly foreign: readonly ForeignEntry[];
}

/** Every entry under `<prefix>/subnets/` at one revision, leases as columns (see the file comment). */
export class LeaseTable implements ListingCounts {
  /** Leases (and reservations) in the table. */
  readonly size: number;
  /** How many of them are reservations. */
  readonly reservations: number;
  private sorted: Uint32Array | undefined;

  /** @internal Built by {@link LeaseTableBuilder} or {@link LeaseTable.of}. */
  constructor(
    readonly prefix: string,
    readonly revision: number,
    readonly damaged: DamagedEntry[],
    readonly foreign: ForeignEntry[],
    private readonly cols: Columns,
    /** The decoded leases when the table was made from a listing; undefined for a scanned one. */
    private readonly objects: readonly Lease[] | undefined,
    /** The address order when the builder has it already (see {@link order}). */
    order?: Uint32Array,
  ) {
    this.sorted = order;
    this.size = cols.n;
    let reservations = 0;
    for (let i = 0; i < cols.n; i++) if ((cols.flags[i]! & RESERVED) !== 0) reservations++;
    this.reservations = reservations;
  }

  /**
   * Row numbers in address order, as {@link decodeListing} sorts leases: sorted on first use,
   * as counts and spans (`ipam show`) need no order.
   */
  get order(): Uint32Array {
    this.sorted ??= this.objects === undefined ? addressOrder(this.cols) : identity(this.cols.n);
    return this.sorted;
  }

  /** The table of a decoded listing (for callers that already hold one); rows in its order. */
  static of(listing: LeaseListing, prefix = ""): LeaseTable {
    const b = new ColumnBuilder(listing.leases.length);
    const ids = new EtcdIds();
    for (const lease of listing.leases) b.push(lease, ids.ofText(lease.etcdLease));
    return new LeaseTable(
      prefix,
      listing.revision,
      listing.damaged,
      listing.foreign,
      b.finish(ids, new ByteArena()),
      listing.leases,
    );
  }

  /** Whether row `i` is a reservation (a key with no etcd lease). */
  isReservation(i: number): boolean {
    return (this.cols.flags[i]! & RESERVED) !== 0;
  }

  /** Whether row `i` has an IPv4 subnet (see hasIPv4). */
  hasV4(i: number): boolean {
    return (this.cols.flags[i]! & HAS_V4) !== 0;
  }

  /** Row `i`'s IPv4 network address (0 for an IPv6-only lease). */
  ip4(i: number): number {
    return this.cols.ip4[i]!;
  }

  /** Row `i`'s IPv4 prefix length. */
  len4(i: number): number {
    return this.cols.len4[i]!;
  }

  /** Row `i`'s IPv6 subnet; undefined for an IPv4-only lease. */
  ip6(i: number): IPv6Net | undefined {
    return this.cols.ip6?.[i];
  }

  /**
   * Whether every IPv4 row has the same prefix length and no two the same network (so no two
   * overlap): one pass over the columns and one through a set of the networks (repeats.ts).
   */
  distinctIPv4(): boolean {
    const { n, flags, ip4, len4 } = this.cols;
    const nets = new Uint32Array(n);
    let k = 0;
    let len = -1;
    let mask = 0;
    for (let i = 0; i < n; i++) {
      if ((flags[i]! & HAS_V4) === 0) continue;
      const l = len4[i]!;
      if (len < 0) {
        len = l;
        mask = l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0;
      } else if (l !== len) return false;
      nets[k++] = (ip4[i]! & mask) >>> 0;
    }
    return !hasRepeats(nets, k);
  }

  /**
   * @internal The IPv4 columns as they are (read-only by contract), for the analysis's loops
   * over every row: an accessor call per row and column cost most of a cold loop's time.
   * `reserved`, `v4` and `hasData` are the flag bits of {@link isReservation}, {@link hasV4}
   * and {@link hasBackendData}; `type` indexes `types` ({@link backendType}); `vni` holds
   * {@link vni}'s number, or `noVni` (undefined) or `badVni` (null).
   */
  columns4(): {
    readonly n: number;
    readonly flags: Uint8Array;
    readonly ip4: Uint32Array;
    readonly len4: Uint8Array;
    readonly publicIP: Uint32Array;
    readonly type: Uint16Array;
    readonly types: readonly (string | undefined)[];
    readonly vni: Int32Array;
    readonly reserved: number;
    readonly v4: number;
    readonly hasData: number;
    readonly noVni: number;
    readonly badVni: number;
  } {
    const { n, flags, ip4, len4, publicIP, type, types, vni } = this.cols;
    return {
      n,
      flags,
      ip4,
      len4,
      publicIP,
      type,
      types,
      vni,
      reserved: RESERVED,
      v4: HAS_V4,
      hasData: HAS_BACKEND_DATA,
      noVni: NO_VNI,
      badVni: BAD_VNI,
    };
  }

  /**
   * How many live rows (not reservations) of the family have an etcd lease for which
   * `test(id)` holds, asking `test` once per distinct id, not once per row.
   */
  countLiveByLease(family: 4 | 6, test: (etcdLease: string) => boolean): number {
    const { n, flags, ip6 } = this.cols;
    const yes = this.rowsByLease(test);
    let count = 0;
    for (let i = 0; i < n; i++) {
      if (yes[i] === 0) continue;
      if (family === 4 ? (flags[i]! & HAS_V4) !== 0 : ip6?.[i] !== undefined) count++;
    }
    return count;
  }

  /**
   * @internal Per row, 1 when it is live (not a reservation) and `test(id)` holds for its etcd
   * lease, else 0: `test` asked once per distinct id, not once per row.
   */
  rowsByLease(test: (etcdLease: string) => boolean): Uint8Array {
    const { n, flags, lease, ids } = this.cols;
    const yes = new Uint8Array(ids.size);
    for (let k = 0; k < ids.size; k++) yes[k] = !ids.isZero(k) && test(ids.text(k)) ? 1 : 0;
    const rows = new Uint8Array(n);
    for (let i = 0; i < n; i++) rows[i] = (flags[i]! & RESERVED) === 0 ? yes[lease[i]!]! : 0;
    return rows;
  }

  /** Whether any row has an IPv6 subnet. */
  get hasIPv6(): boolean {
    return this.cols.ip6 !== undefined;
  }

  /** Row `i`'s subnet (a new object). */
  subnet(i: number): LeaseSubnet {
    const ipv6 = this.cols.ip6?.[i];
    const ipv4 = { ip: this.cols.ip4[i]!, prefix: this.cols.len4[i]! };
    return ipv6 === undefined ? { ipv4 } : { ipv4, ipv6 };
  }

  /** Row `i`'s PublicIP as an unsigned 32-bit number (flannel's dotted quads are canonical, so equal numbers are equal texts). */
  publicIP(i: number): number {
    return this.cols.publicIP[i]!;
  }

  /** Row `i`'s BackendType as written; undefined when it has none. */
  backendType(i: number): string | undefined {
    return this.cols.types[this.cols.type[i]!];
  }

  /** Whether row `i`'s value has BackendData. */
  hasBackendData(i: number): boolean {
    return (this.cols.flags[i]! & HAS_BACKEND_DATA) !== 0;
  }

  /** Whether row `i` is a vxlan lease with no usable VtepMAC (missingBackendData's verdict). */
  badBackendData(i: number): boolean {
    return (this.cols.flags[i]! & BAD_BACKEND_DATA) !== 0;
  }

  /**
   * The VNI in row `i`'s vxlan BackendData: undefined when it is not a vxlan lease with
   * BackendData, null when that data has no readable VNI (parseVxlanData's verdict).
   */
  vni(i: number): number | null | undefined {
    const v = this.cols.vni[i]!;
    return v === NO_VNI ? undefined : v === BAD_VNI ? null : v;
  }

  /**
   * The VtepMAC in row `i`'s vxlan BackendData, normalised (vxlanDataOf's): null exactly when
   * {@link vni} is not a number (no vxlan BackendData, or none that parses).
   */
  vtepMac(i: number): string | null {
    if ((this.cols.flags[i]! & HAS_MAC) === 0) return null;
    const m = this.cols.mac;
    const o = 6 * i;
    return `${HEX[m[o]!]}:${HEX[m[o + 1]!]}:${HEX[m[o + 2]!]}:${HEX[m[o + 3]!]}:${HEX[m[o + 4]!]}:${HEX[m[o + 5]!]}`;
  }

  /**
   * Whether row `i`'s value is in flannel's own form (readCanonicalValue's): PublicIPv6 null,
   * no BackendV6Data, and BackendData, when there is some, `{"VNI":n,"VtepMAC":"mac"}` as the
   * columns read it (so the columns give the value back byte for byte where {@link vtepMac} is not null).
   */
  isCanonical(i: number): boolean {
    return (this.cols.flags[i]! & CANONICAL) !== 0;
  }

  /** Octet `k` (0 to 5) of row `i`'s VtepMAC, for a row whose {@link vtepMac} is not null (no string made). */
  vtepMacOctet(i: number, k: number): number {
    return this.cols.mac[6 * i + k]!;
  }

  /** Row `i`'s etcd lease id; "0" for a reservation. */
  etcdLease(i: number): string {
    return this.cols.ids.text(this.cols.lease[i]!);
  }

  /** The distinct etcd lease ids of the leases and (unless told not to) damaged entries; reservations have none. */
  etcdLeaseIds(opts: { damaged?: boolean } = {}): Set<string> {
    const ids = new Set<string>();
    for (let k = 0; k < this.cols.ids.size; k++) {
      const id = this.cols.ids.text(k);
      if (id !== "0") ids.add(id);
    }
    if (opts.damaged !== false) for (const d of this.damaged) if (d.etcdLease !== "0") ids.add(d.etcdLease);
    return ids;
  }

  /** Row `i`'s creation revision. */
  createRevision(i: number): number {
    return this.cols.createRevision[i]!;
  }

  /** Row `i`'s modification revision. */
  modRevision(i: number): number {
    return this.cols.modRevision[i]!;
  }

  /** Row `i`'s full etcd key. */
  key(i: number): string {
    const o = this.objects?.[i];
    if (o !== undefined) return o.key;
    // The directory once, not normalised again for each of 65,000 keys.
    this.dir ??= subnetsPrefix(this.prefix);
    const rows = this.rows();
    return this.dir + (rows.has(i) ? rows.name(i) : `${formatIPv4(this.cols.ip4[i]!)}-${this.cols.len4[i]!}`);
  }

  private dir: string | undefined;

  /** The directory every scanned row's key is under, `<prefix>/subnets/` (its {@link key} is this and its name). */
  get keyDir(): string {
    this.dir ??= subnetsPrefix(this.prefix);
    return this.dir;
  }

  /**
   * The byte length of row `i`'s key name (its key after {@link keyDir}, as {@link key} reads
   * it: one byte a character), or -1 for a table made from a listing, which holds no bytes.
   */
  keyNameLength(i: number): number {
    const bytes = this.cols.bytes;
    if (this.objects !== undefined || bytes === undefined) return -1;
    if (bytes.has(i)) return bytes.nameLength(i);
    // An implied row's name is flannel's: the dotted quad, a dash, the length.
    return ipv4TextLength(this.cols.ip4[i]!) + 1 + (this.cols.len4[i]! >= 10 ? 2 : 1);
  }

  /** Copies row `i`'s key name bytes to `to[at]` (room for {@link keyNameLength} is the caller's), for writers that print keys without a string. */
  copyKeyName(i: number, to: Uint8Array, at: number): void {
    const rows = this.rows();
    if (rows.has(i)) {
      rows.copyName(i, to, at);
      return;
    }
    const ip = this.cols.ip4[i]!;
    let o = at;
    for (let shift = 24; shift >= 0; shift -= 8) {
      o = writeDecimal(to, o, (ip >>> shift) & 255);
      to[o++] = shift === 0 ? 45 /* - */ : 46 /* . */;
    }
    writeDecimal(to, o, this.cols.len4[i]!);
  }

  /**
   * Row `i` decoded, exactly as the listing's Lease (a new object for a scanned table). The
   * scan already judged the key and the value's UTF-8: the subnet comes from the columns and
   * an ASCII value is read as Latin-1 (the same text), so only the value's attributes are decoded.
   */
  lease(i: number): Lease {
    const o = this.objects?.[i];
    if (o !== undefined) return o;
    const rows = this.rows();
    const key = this.key(i);
    const kv = {
      key,
      lease: this.etcdLease(i),
      modRevision: this.cols.modRevision[i]!,
      createRevision: this.cols.createRevision[i]!,
    };
    if (!rows.has(i)) return this.impliedLease(i, kv);
    const ascii = (this.cols.flags[i]! & ASCII) !== 0;
    const text = ascii ? rows.text(i) : utf8Text(rows.value(i));
    // An ASCII value in flannel's form is read from its bytes, the text only sliced.
    const decoded =
      text === null ? undefined : ((ascii ? rows.canonical(i, text) : undefined) ?? decodeLeaseValue(text));
    if (text === null || decoded === undefined || !decoded.ok) {
      throw new Error(`lease table row ${key} no longer decodes as a lease`);
    }
    return leaseWith(kv, this.subnet(i), decoded.attrs, text);
  }

  /**
   * Row `i`'s lease from its columns alone (a row whose columns imply its bytes, see
   * impliedBy): its value written back in flannel's own form, byte for byte as etcd holds it,
   * and the attributes decodeCanonicalBytes reads from that.
   */
  private impliedLease(i: number, kv: Parameters<typeof leaseWith>[0]): Lease {
    const publicIP = formatIPv4(this.cols.publicIP[i]!);
    const type = this.backendType(i);
    const mac = this.vtepMac(i);
    const data = mac === null ? undefined : `{"VNI":${this.cols.vni[i]!},"VtepMAC":"${mac}"}`;
    const text =
      `{"PublicIP":"${publicIP}","PublicIPv6":null` +
      `${type === undefined ? "" : `,"BackendType":"${type}"`}${data === undefined ? "" : `,"BackendData":${data}`}}`;
    const attrs = {
      publicIP,
      publicIPv6: null,
      ...(type !== undefined && { backendType: type }),
      ...(data !== undefined && { backendData: data }),
    };
    return leaseWith(kv, this.subnet(i), attrs, text);
  }

  private rows(): ByteArena {
    if (this.cols.bytes === undefined) throw new Error("this lease table was made without its rows");
    return this.cols.bytes;
  }

  /** The leases in address order, one at a time, each decoded as it is reached. */
  *leases(): Generator<Lease> {
    for (const i of this.order) yield this.lease(i);
  }

  /** The whole listing as {@link decodeListing} returns it (for views that need every lease as an object). */
  listing(): LeaseListing {
    return {
      revision: this.revision,
      leases: [...this.leases()],
      foreign: this.foreign,
      damaged: this.damaged,
    };
  }
}

/**
 * Builds a {@link LeaseTable} from a store's scan, one key at a time: `add` is the visit.
 * `store.scan(subnetsPrefix(prefix), (kv) => builder.add(kv))`, then `finish(revision)`.
 */
export class LeaseTableBuilder {
  private readonly dir: string;
  /** The directory's UTF-8 bytes, which a key in flannel's own form starts with. */
  private readonly dirBytes: Uint8Array;
  private readonly cols: ColumnBuilder;
  private readonly ids: EtcdIds;
  private readonly damaged: DamagedEntry[] = [];
  private readonly foreign: ForeignEntry[] = [];
  private readonly arena: ByteArena | undefined;
  private readonly key = new LeaseKey4();
  private readonly value = new CanonicalValue();
  /** Int32: a half above 2^31 read from a Uint32Array would be a heap number as an argument. */
  private readonly halves = new Int32Array(2);

  /**
   * `rows: false` keeps no key or value bytes: a table for counts and spans only (utilisation,
   * the map), whose `lease(i)`, `key(i)` and `listing()` throw (a table of leases in flannel's
   * own form is hardly smaller: their columns give their bytes back).
   * `expect`: about how many rows will come (say the network's subnets): the columns are made
   * that large at once rather than grown by doubling, each copy dead but held until a GC
   * (~4 MB at 65,000 rows). A wrong guess costs only a grow, or room never written.
   */
  constructor(
    private readonly prefix: string,
    opts: { rows?: boolean; expect?: number | undefined } = {},
  ) {
    const capacity = Math.min(Math.max(opts.expect ?? 0, MIN_CAPACITY), MAX_EXPECTED);
    this.cols = new ColumnBuilder(capacity);
    this.ids = new EtcdIds(capacity);
    this.arena = opts.rows === false ? undefined : new ByteArena(capacity);
    this.dir = subnetsPrefix(prefix);
    this.dirBytes = Buffer.from(this.dir);
  }

  /** Decodes one key (valid only during the call, as scan's cursor is) into the table. */
  add(c: KeyValueCursor): void {
    if (!this.addCanonical(c)) this.addDecoded(c);
  }

  private scanner: LeaseScanner | null | undefined;

  /** The bulk reader (lease-scan.ts), made on first use; null where the per-key path reads everything. */
  private reader(): LeaseScanner | null {
    this.scanner ??=
      LeaseScanner.of(this.dirBytes, (type) => this.cols.typeAnswer(type), this.arena !== undefined) ?? null;
    return this.scanner;
  }

  /** Where the bulk reader's rows and handed-back entries go: this table. */
  private sink(): ScanSink {
    return {
      rows: (cols) => {
        this.cols.appendRows(cols, this.ids);
        this.arena?.appendRows(cols.places, cols.flags, cols.n, cols.window);
      },
      keyValue: (kv) => walkKeyValue(kv, (c) => this.add(c)),
      rest: (fields) => walkRangeResponse(fields, (c) => this.add(c)),
    };
  }

  /**
   * Decodes a whole RangeResponse's keys into the table, in key order, as {@link add} of each
   * would: flannel's own form by the bulk reader (lease-scan.ts), the rest by {@link add}.
   */
  addReply(reply: ReplyBytes): RangeWalk {
    const reader = this.reader();
    if (reader === null) return walkRangeResponse(reply, (c) => this.add(c));
    return reader.read(reply, this.sink());
  }

  /**
   * The visitor for `store.scan`: each key by {@link add}, or a whole reply by
   * {@link addReply} where the store has its bytes.
   */
  visitor(): ScanVisitor {
    return Object.assign((c: KeyValueCursor) => this.add(c), { reply: (r: ReplyBytes) => this.addReply(r) });
  }

  /**
   * The common case, from the bytes: an IPv4-only key under the directory and a value in
   * flannel's own form; false (having added nothing) for anything else. The columns get what
   * {@link addDecoded} would give them: the property test in lease-table.test.ts holds it to that.
   */
  private addCanonical(c: KeyValueCursor): boolean {
    const buf = c.buf;
    const dir = this.dirBytes;
    const nameStart = c.keyStart + dir.length;
    if (nameStart > c.keyEnd) return false;
    for (let k = 0; k < dir.length; k++) if (buf[c.keyStart + k] !== dir[k]) return false;
    const key = this.key;
    if (leaseKey4At(buf, nameStart, c.keyEnd, key) !== 0) return false;
    const v = this.value;
    if (!readCanonicalValue(buf, c.valueStart, c.valueEnd, v)) return false;
    let lease: number;
    if (!c.hasLease) lease = this.ids.ofHalves(0, 0);
    else if (c.leaseAt !== undefined && c.leaseAt >= 0) {
      readInt64Halves(buf, c.leaseAt, this.halves, "range response");
      lease = this.ids.ofHalves(this.halves[0]!, this.halves[1]!);
    } else lease = this.ids.ofText(c.lease());
    // The value is ASCII, and without BackendV6Data routingData reads BackendData only.
    let flags = HAS_V4 | ASCII | CANONICAL;
    if (this.ids.isZero(lease)) flags |= RESERVED;
    const type = v.typeEnd > v.typeStart ? this.cols.typeAt(buf, v.typeStart, v.typeEnd) : 0;
    const hasData = v.dataEnd > v.dataStart;
    if (hasData) flags |= HAS_BACKEND_DATA;
    let vni = NO_VNI;
    if (this.cols.isVxlan(type)) {
      // parseVxlanData's verdict on data in this form: a VNI the kernel takes and a unicast MAC.
      if (!hasData) flags |= BAD_BACKEND_DATA;
      else if (v.vni <= MAX_VNI && isUnicastMacAt(buf, v.macStart)) vni = v.vni;
      else {
        flags |= BAD_BACKEND_DATA;
        vni = BAD_VNI;
      }
    }
    // Addresses as int32 (the columns keep the same 32 bits): a double argument is a heap number.
    this.cols.pushRow(flags, key.ip | 0, key.prefix, v.publicIP | 0, type, vni, lease, c);
    if (vni >= 0) this.cols.macAt(buf, v.macStart);
    // The columns say it all (impliedBy) unless its BackendData is not the VNI and VtepMAC they hold.
    this.arena?.add(buf, nameStart, c.keyEnd, c.valueStart, c.valueEnd, vni >= 0 || !hasData);
    return true;
  }

  /** Any other entry, through the codec's objects. */
  private addDecoded(c: KeyValueCursor): void {
    const kv = keyValueAt(c);
    const decoded = decodeEntryIn(this.dir, kv);
    if (decoded.kind === "foreign") {
      this.foreign.push(decoded.entry);
      return;
    }
    if (decoded.kind === "damaged") {
      this.damaged.push(decoded.entry);
      return;
    }
    // Valid UTF-8 (it decoded) with as many characters as bytes is ASCII.
    this.cols.push(decoded.lease, this.ids.ofText(kv.lease), decoded.lease.value.length === kv.value.length);
    // The key's name (after the directory) and the value, back to back.
    const nameStart = c.keyStart + (kv.key.startsWith(this.dir) ? this.dirBytes.length : 0);
    this.arena?.add(c.buf, nameStart, c.keyEnd, c.valueStart, c.valueEnd, false);
  }

  /** How many of the ids and damaged entries {@link newEtcdLeaseIds} has handed out. */
  private idsTaken = 0;
  private damagedTaken = 0;

  /**
   * The distinct etcd lease ids (decimal text; none for a reservation) that the rows and
   * damaged entries added since the last call brought, for a caller that looks up TTLs while
   * the listing still comes in. An id comes once, except that a damaged entry's may also be a
   * row's.
   */
  newEtcdLeaseIds(): string[] {
    const out: string[] = [];
    for (; this.idsTaken < this.ids.size; this.idsTaken++) {
      if (!this.ids.isZero(this.idsTaken)) out.push(this.ids.text(this.idsTaken));
    }
    for (; this.damagedTaken < this.damaged.length; this.damagedTaken++) {
      const id = this.damaged[this.damagedTaken]!.etcdLease;
      if (id !== "0") out.push(id);
    }
    return out;
  }

  /**
   * The table of everything added, taken at `revision`. A table with rows (a listing view's)
   * of many IPv4-only rows read in bulk gets its address order from the bulk reader's sort.
   */
  finish(revision: number): LeaseTable {
    this.damaged.sort((x, y) => compareSubnets(x.subnet, y.subnet));
    const cols = this.cols.finish(this.ids, this.arena);
    const reader =
      this.arena !== undefined && cols.ip6 === undefined && cols.n >= BULK_ORDER_MIN ? this.reader() : null;
    const order = reader === null ? undefined : reader.order(cols.ip4, cols.len4, cols.n);
    return new LeaseTable(this.prefix, revision, this.damaged, this.foreign, cols, undefined, order);
  }
}

/** The columns of a table. */
interface Columns {
  readonly n: number;
  readonly flags: Uint8Array;
  readonly ip4: Uint32Array;
  readonly len4: Uint8Array;
  readonly ip6: (IPv6Net | undefined)[] | undefined;
  readonly publicIP: Uint32Array;
  readonly type: Uint16Array;
  /** The BackendType strings `type` indexes; index 0 is "none" (undefined). */
  readonly types: readonly (string | undefined)[];
  readonly vni: Int32Array;
  /** Six bytes a row: the VtepMAC, where the row's flags say HAS_MAC. */
  readonly mac: Uint8Array;
  readonly lease: Uint32Array;
  /** The etcd lease ids `lease` indexes. */
  readonly ids: EtcdIds;
  readonly createRevision: Float64Array;
  readonly modRevision: Float64Array;
  /** Each row's key name (after the directory) and value bytes; undefined in a table made without rows. */
  readonly bytes: ByteArena | undefined;
}

/** Growable columns, filled one decoded lease at a time. */
class ColumnBuilder {
  n = 0;
  private flags: Uint8Array;
  private ip4: Uint32Array;
  private len4: Uint8Array;
  private ip6: (IPv6Net | undefined)[] | undefined;
  private publicIP: Uint32Array;
  private type: Uint16Array;
  private readonly typeIndex = new Map<string, number>();
  private readonly types: (string | undefined)[] = [undefined];
  /** Each type's bytes (index 0, none, is empty) and whether it is vxlan. */
  private readonly typeBytes: Uint8Array[] = [new Uint8Array(0)];
  private readonly vxlan: boolean[] = [false];
  private vni: Int32Array;
  private mac: Uint8Array;
  private lease: Uint32Array;
  private createRevision: Float64Array;
  private modRevision: Float64Array;

  constructor(capacity: number) {
    const c = Math.max(1, capacity);
    this.flags = new Uint8Array(c);
    this.ip4 = new Uint32Array(c);
    this.len4 = new Uint8Array(c);
    this.publicIP = new Uint32Array(c);
    this.type = new Uint16Array(c);
    this.vni = new Int32Array(c);
    this.mac = new Uint8Array(6 * c);
    this.lease = new Uint32Array(c);
    this.createRevision = new Float64Array(c);
    this.modRevision = new Float64Array(c);
  }

  /** A decoded lease's row. */
  push(lease: Lease, leaseIndex: number, ascii = false): void {
    const { subnet, attrs } = lease;
    const v6 = subnet.ipv6 !== undefined;
    let flags = 0;
    if (lease.etcdLease === "0") flags |= RESERVED;
    if (!(subnet.ipv4.ip === 0 && subnet.ipv4.prefix === 0 && v6)) flags |= HAS_V4;
    if (ascii) flags |= ASCII;
    if (attrs.backendData !== undefined) flags |= HAS_BACKEND_DATA;
    // One parse of the vxlan data for both the VtepMAC check and the VNI (when it is BackendData's).
    const data = routingData(attrs);
    if (typeof data === "string") flags |= BAD_BACKEND_DATA;
    const type = attrs.backendType === undefined ? 0 : this.typeOf(attrs.backendType);
    // routingData read BackendData whenever there is some (it falls back to BackendV6Data only without).
    const vni =
      data === undefined || attrs.backendData === undefined
        ? NO_VNI
        : typeof data === "string"
          ? BAD_VNI
          : data.vni;
    const publicIP = parseIPv4(attrs.publicIP) ?? 0; // always an address: the codec checked it
    this.pushRow(flags, subnet.ipv4.ip, subnet.ipv4.prefix, publicIP, type, vni, leaseIndex, lease);
    // The normalised VtepMAC (lower-case colon form) of the BackendData the VNI came from.
    if (vni >= 0 && typeof data === "object") this.macAt(Buffer.from(data.vtepMac, "latin1"), 0);
    if (v6) {
      this.ip6 ??= [];
      this.ip6[this.n - 1] = subnet.ipv6;
    }
  }

  /** One row from its column values (IPv4 only: an IPv6 part is the caller's to add). */
  pushRow(
    flags: number,
    ip4: number,
    len4: number,
    publicIP: number,
    type: number,
    vni: number,
    lease: number,
    revisions: { readonly createRevision: number; readonly modRevision: number },
  ): void {
    if (this.n === this.flags.length) this.grow();
    const i = this.n++;
    this.flags[i] = flags;
    this.ip4[i] = ip4;
    this.len4[i] = len4;
    this.publicIP[i] = publicIP;
    this.type[i] = type;
    this.vni[i] = vni;
    this.lease[i] = lease;
    this.createRevision[i] = revisions.createRevision;
    this.modRevision[i] = revisions.modRevision;
  }

  /**
   * The last row's VtepMAC from the 17 bytes of lower-case colon form at `bytes[at]`, which the
   * caller's reader has already judged a valid VtepMAC (backend-data.ts holds that rule).
   */
  macAt(bytes: Uint8Array, at: number): void {
    const i = this.n - 1;
    for (let k = 0; k < 6; k++) {
      this.mac[6 * i + k] = (hexDigit(bytes[at + 3 * k]!) << 4) | hexDigit(bytes[at + 3 * k + 1]!);
    }
    this.flags[i] = this.flags[i]! | HAS_MAC;
  }

  /** The index of a BackendType, added when new. */
  private typeOf(type: string): number {
    let t = this.typeIndex.get(type);
    if (t === undefined) {
      t = this.types.length;
      this.types.push(type);
      this.typeBytes.push(Buffer.from(type, "latin1"));
      this.vxlan.push(isVxlanLease({ backendType: type }));
      this.typeIndex.set(type, t);
    }
    return t;
  }

  /**
   * The index of the ASCII BackendType in `bytes[start, end)`: compared with the few types
   * seen so far without making a string (a network has one or two), else looked up by text.
   */
  typeAt(bytes: Uint8Array, start: number, end: number): number {
    const n = end - start;
    const known = Math.min(this.typeBytes.length, 9);
    for (let t = 1; t < known; t++) {
      const b = this.typeBytes[t]!;
      if (b.length !== n) continue;
      let k = 0;
      while (k < n && b[k] === bytes[start + k]) k++;
      if (k === n) return t;
    }
    return this.typeOf(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1", start, end),
    );
  }

  /** Whether type index `t` is vxlan (isVxlanLease). */
  isVxlan(t: number): boolean {
    return this.vxlan[t] === true;
  }

  /** A BackendType's index, added when new, and whether it is vxlan: `(index << 1) | vxlan` (the bulk reader's question). */
  typeAnswer(type: string): number {
    const t = this.typeOf(type);
    return (t << 1) | (this.vxlan[t] === true ? 1 : 0);
  }

  /** The bulk reader's rows (see lease-scan.ts), copied after the rows so far; lease ids into `ids`. */
  appendRows(v: ScanColumns, ids: EtcdIds): void {
    const n = v.n;
    while (this.n + n > this.flags.length) this.grow();
    const at = this.n;
    this.flags.set(v.flags.subarray(0, n), at);
    this.ip4.set(v.ip4.subarray(0, n), at);
    this.len4.set(v.len4.subarray(0, n), at);
    this.publicIP.set(v.publicIP.subarray(0, n), at);
    this.type.set(v.type.subarray(0, n), at);
    this.vni.set(v.vni.subarray(0, n), at);
    this.mac.set(v.mac.subarray(0, 6 * n), 6 * at);
    this.createRevision.set(v.createRevision.subarray(0, n), at);
    this.modRevision.set(v.modRevision.subarray(0, n), at);
    const { leaseLo, leaseHi } = v;
    for (let k = 0; k < n; k++) this.lease[at + k] = ids.ofHalves(leaseLo[k]!, leaseHi[k]!);
    this.n += n;
  }

  finish(ids: EtcdIds, bytes: ByteArena | undefined): Columns {
    const n = this.n;
    return {
      n,
      flags: this.flags.subarray(0, n),
      ip4: this.ip4.subarray(0, n),
      len4: this.len4.subarray(0, n),
      ip6: this.ip6,
      publicIP: this.publicIP.subarray(0, n),
      type: this.type.subarray(0, n),
      types: this.types,
      vni: this.vni.subarray(0, n),
      mac: this.mac.subarray(0, 6 * n),
      lease: this.lease.subarray(0, n),
      ids,
      createRevision: this.createRevision.subarray(0, n),
      modRevision: this.modRevision.subarray(0, n),
      bytes,
    };
  }

  private grow(): void {
    const c = this.flags.length * 2;
    const more = <T extends { length: number; set(a: T): void }>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.flags = more(this.flags, (k) => new Uint8Array(k));
    this.ip4 = more(this.ip4, (k) => new Uint32Array(k));
    this.len4 = more(this.len4, (k) => new Uint8Array(k));
    this.publicIP = more(this.publicIP, (k) => new Uint32Array(k));
    this.type = more(this.type, (k) => new Uint16Array(k));
    this.vni = more(this.vni, (k) => new Int32Array(k));
    const mac = new Uint8Array(6 * c);
    mac.set(this.mac);
    this.mac = mac;
    this.lease = more(this.lease, (k) => new Uint32Array(k));
    this.createRevision = more(this.createRevision, (k) => new Float64Array(k));
    this.modRevision = more(this.modRevision, (k) => new Float64Array(k));
  }
}

/**
 * The distinct etcd lease ids of a table, each kept once: by its two 32-bit halves when read
 * from a reply's bytes (an open-addressing hash of typed arrays: no string or object per key),
 * by its text when it came as one. The text of an id read as halves is made when first asked.
 */
class EtcdIds {
  /** How many ids. */
  size = 0;
  /** The halves as int32 (the same bits), so that passing them around allocates nothing. */
  private lo: Int32Array;
  private hi: Int32Array;
  private readonly texts: (string | undefined)[] = [];
  private readonly byText = new Map<string, number>();
  /** Hash slots: an id's index + 1, 0 when free; a power of two, at most half full. */
  private slots: Uint32Array;

  /** Room for `capacity` ids at first (a listing's leases each have their own, usually). */
  constructor(capacity = 64) {
    let slots = 128;
    while (slots < 2 * capacity) slots *= 2;
    this.lo = new Int32Array(slots / 2);
    this.hi = new Int32Array(slots / 2);
    this.slots = new Uint32Array(slots);
  }

  /** The index of the id whose halves are `lo` and `hi`, added when new. */
  ofHalves(lo: number, hi: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash(lo, hi) & mask; ; s = (s + 1) & mask) {
      const at = this.slots[s]!;
      if (at === 0) break;
      if (this.lo[at - 1] === (lo | 0) && this.hi[at - 1] === (hi | 0)) return at - 1;
    }
    const k = this.added(lo, hi, undefined);
    this.slot(k);
    return k;
  }

  /** The index of an id given as decimal text, added when new. */
  ofText(text: string): number {
    let k = this.byText.get(text);
    if (k === undefined) {
      k = this.added(text === "0" ? 0 : 1, 0, text);
      this.byText.set(text, k);
    }
    return k;
  }

  /** Whether id `k` is zero, no etcd lease (a reservation). */
  isZero(k: number): boolean {
    return this.texts[k] === undefined ? this.lo[k] === 0 && this.hi[k] === 0 : this.texts[k] === "0";
  }

  /** Id `k` as decimal text, as etcd3 gives ids. */
  text(k: number): string {
    let t = this.texts[k];
    if (t === undefined) {
      t = int64Text(this.lo[k]!, this.hi[k]!);
      this.texts[k] = t;
    }
    return t;
  }

  private added(lo: number, hi: number, text: string | undefined): number {
    const k = this.size++;
    if (k === this.lo.length) {
      const lo2 = new Int32Array(2 * k);
      const hi2 = new Int32Array(2 * k);
      lo2.set(this.lo);
      hi2.set(this.hi);
      this.lo = lo2;
      this.hi = hi2;
    }
    this.lo[k] = lo;
    this.hi[k] = hi;
    // Holes in a JS array make it slow: every index gets a slot, filled in later for halves.
    this.texts.push(text);
    if (2 * this.size > this.slots.length) this.rehash();
    return k;
  }

  private slot(k: number): void {
    const mask = this.slots.length - 1;
    let s = hash(this.lo[k]!, this.hi[k]!) & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = k + 1;
  }

  private rehash(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    for (const at of old) if (at !== 0) this.slot(at - 1);
  }
}

/** Writes `n` (0 to 255) in decimal at `to[at]`; where it ends. */
function writeDecimal(to: Uint8Array, at: number, n: number): number {
  let o = at;
  if (n >= 100) to[o++] = 48 + Math.floor(n / 100);
  if (n >= 10) to[o++] = 48 + (Math.floor(n / 10) % 10);
  to[o++] = 48 + (n % 10);
  return o;
}

/** A lower-case hex digit's value. */
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** A 32-bit hash of an id's halves (etcd ids differ in their low bits, timestamps in the high ones). */
function hash(lo: number, hi: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

function identity(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/**
 * Row numbers sorted as compareSubnets sorts leases (stable: key order on a tie), over the
 * columns: IPv4 address, prefix length, then the IPv6 part.
 */
function addressOrder(cols: Columns): Uint32Array {
  const order = identity(cols.n);
  const { ip4, len4, ip6 } = cols;
  if (ip6 === undefined) return radixOrder(order, ip4, len4);
  const sub = (i: number): LeaseSubnet => {
    const v6 = ip6[i];
    const ipv4 = { ip: ip4[i]!, prefix: len4[i]! };
    return v6 === undefined ? { ipv4 } : { ipv4, ipv6: v6 };
  };
  return order.sort((a, b) => compareSubnets(sub(a), sub(b)) || a - b);
}

/**
 * `order` (the row numbers in key order) sorted by IPv4 address, then prefix length, then row
 * number, as a stable least-significant-digit radix sort: the length, then the address's four
 * octets from the last, one counting pass each, skipping a pass where every row has the same
 * digit (a network's leases share their first octets and length). A comparison sort of 65,000
 * rows took ~40 ms.
 */
function radixOrder(order: Uint32Array, ip4: Uint32Array, len4: Uint8Array): Uint32Array {
  let from: Uint32Array = order;
  let to: Uint32Array = new Uint32Array(order.length);
  const counts = new Uint32Array(256);
  for (let pass = 0; pass < 5; pass++) {
    // Pass 0 is the prefix length; passes 1 to 4 the address's octets, last first.
    const shift = 8 * (pass - 1);
    counts.fill(0);
    for (let i = 0; i < from.length; i++) counts[pass === 0 ? len4[i]! : (ip4[i]! >>> shift) & 255]!++;
    if (counts.includes(from.length)) continue;
    let sum = 0;
    for (let d = 0; d < 256; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let k = 0; k < from.length; k++) {
      const row = from[k]!;
      const d = pass === 0 ? len4[row]! : (ip4[row]! >>> shift) & 255;
      to[counts[d]!++] = row;
    }
    const done = to;
    to = from;
    from = done;
  }
  return from;
}

/**
 * Copies `from[start, end)` to `to[at]`; returns the count. A row's hundred-odd bytes by hand:
 * Buffer.copy makes a Uint8Array view per call on Node 20, an object per key.
 */
function copyBytes(from: Uint8Array, start: number, end: number, to: Buffer, at: number): number {
  if (end - start > 256) {
    to.set(from.subarray(start, end), at);
    return end - start;
  }
  for (let i = start; i < end; i++) to[at++] = from[i]!;
  return end - start;
}

/**
 * The bytes (key name, then value) of the rows whose columns do not say them (see
 * impliedBy), copied into 1 MiB chunks (no copy as it grows, little
 * slack); nothing for the others. A reply is never kept: its parts can go as soon as they are read.
 */
class ByteArena {
  private static readonly CHUNK = 1 << 20;
  private readonly chunks: Buffer[] = [];
  private used = 0;
  /** Per row: chunk ({@link IMPLIED}: none), start and end of the name, start and end of the value. */
  private at: Uint32Array;
  private rows = 0;

  /** Room for `capacity` rows' places at first. */
  constructor(capacity = 1024) {
    this.at = new Uint32Array(5 * capacity);
  }

  /** Whether row `i` has bytes here (else its columns say its key and value). */
  has(i: number): boolean {
    return this.at[5 * i] !== IMPLIED;
  }

  /** The next row: its bytes copied from `buf`, or none when `implied`. */
  add(
    buf: Uint8Array,
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    valueEnd: number,
    implied: boolean,
  ): void {
    this.room(1);
    const r = this.rows++;
    if (implied) this.at[5 * r] = IMPLIED;
    else this.copyInto(r, buf, nameStart, nameEnd, valueStart, valueEnd);
  }

  /** Room for `n` more rows. */
  private room(n: number): void {
    while (5 * (this.rows + n) > this.at.length) {
      const grown = new Uint32Array(this.at.length * 2);
      grown.set(this.at);
      this.at = grown;
    }
  }

  /** Row `r`'s bytes copied into the last chunk (a new one of 1 MiB when full), its place written for it. */
  private copyInto(
    r: number,
    buf: Uint8Array,
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    valueEnd: number,
  ): void {
    // One copy from the name to the end of the value when they are close (etcd writes the key,
    // a few varints, then the value).
    const one = valueStart >= nameEnd && valueStart - nameEnd <= 32;
    const need = one ? valueEnd - nameStart : nameEnd - nameStart + (valueEnd - valueStart);
    if (this.chunks.length === 0 || this.used + need > ByteArena.CHUNK) {
      this.chunks.push(Buffer.allocUnsafe(Math.max(ByteArena.CHUNK, need)));
      this.used = 0;
    }
    const c = this.chunks.length - 1;
    const chunk = this.chunks[c]!;
    const o = this.used;
    const a = 5 * r;
    this.at[a] = c;
    this.at[a + 1] = o;
    this.at[a + 2] = o + (nameEnd - nameStart);
    if (one) {
      this.used += copyBytes(buf, nameStart, valueEnd, chunk, o);
      this.at[a + 3] = o + (valueStart - nameStart);
    } else {
      this.used += copyBytes(buf, nameStart, nameEnd, chunk, o);
      this.at[a + 3] = this.used;
      this.used += copyBytes(buf, valueStart, valueEnd, chunk, this.used);
    }
    this.at[a + 4] = this.used;
  }

  /**
   * The bulk reader's `n` rows (see lease-scan.ts): each row's bytes copied from `window` at
   * the offsets `places` gives (four numbers a row), unless its `flags` say its columns imply them.
   */
  appendRows(places: Uint32Array, flags: Uint8Array, n: number, window: Uint8Array): void {
    this.room(n);
    for (let k = 0; k < n; k++) {
      const o = 4 * k;
      const r = this.rows++;
      if (impliedBy(flags[k]!)) this.at[5 * r] = IMPLIED;
      else this.copyInto(r, window, places[o]!, places[o + 1]!, places[o + 2]!, places[o + 3]!);
    }
  }

  /** Row `i`'s key name. */
  name(i: number): string {
    return this.chunks[this.at[5 * i]!]!.toString("latin1", this.at[5 * i + 1]!, this.at[5 * i + 2]!);
  }

  /** The byte length of row `i`'s key name. */
  nameLength(i: number): number {
    return this.at[5 * i + 2]! - this.at[5 * i + 1]!;
  }

  /** Copies row `i`'s key name to `to[at]`. */
  copyName(i: number, to: Uint8Array, at: number): void {
    const from = this.chunks[this.at[5 * i]!]!;
    const end = this.at[5 * i + 2]!;
    for (let k = this.at[5 * i + 1]!; k < end; k++) to[at++] = from[k]!;
  }

  /** Row `i`'s value as Latin-1 text. */
  text(i: number): string {
    return this.chunks[this.at[5 * i]!]!.toString("latin1", this.at[5 * i + 3]!, this.at[5 * i + 4]!);
  }

  /** Row `i`'s value decoded from its bytes when it is in flannel's own form (`text`: its ASCII text). */
  canonical(i: number, text: string): DecodedLeaseValue | undefined {
    return decodeCanonicalBytes(
      this.chunks[this.at[5 * i]!]!,
      this.at[5 * i + 3]!,
      this.at[5 * i + 4]!,
      text,
    );
  }

  /** Row `i`'s value bytes (a view). */
  value(i: number): Buffer {
    return this.chunks[this.at[5 * i]!]!.subarray(this.at[5 * i + 3]!, this.at[5 * i + 4]!);
  }
}
