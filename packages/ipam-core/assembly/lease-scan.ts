// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.mjs into
// src/etcd/lease-scan-wasm.ts (which is committed; src/lease-scan.test.ts checks it is this file's build).
//
// The lease table's bulk reader (see src/lease-scan.ts): walks one etcd RangeResponse held in
// this module's memory and writes the columns of every KeyValue whose key and value are in
// flannel's own form, exactly as LeaseTableBuilder's per-key path (lease-bytes.ts) reads them.
// It stops at anything else and hands it back: a KeyValue not in that form goes to the general
// codec one at a time (FALLBACK), protobuf it does not expect goes to the JavaScript reader
// from there on (BAIL), so being stricter than lease-bytes.ts only ever costs speed. Compiled
// code from the first key: the JavaScript reader spends most of a 65,000-lease listing in
// code V8 has not optimised yet.

/** BackendType bytes to the table's type index and whether it is vxlan: `(index << 1) | vxlan`. */
@external("env", "typeOf")
declare function typeOf(at: usize, len: i32): i32;

// What scan() ended on.
const DONE: i32 = 0;
const FALLBACK: i32 = 1;
const BAIL: i32 = 2;
const FULL: i32 = 3;
const NEED_MORE: i32 = 4;

// Row flags, as lease-table.ts has them.
const RESERVED: u8 = 1;
const HAS_BACKEND_DATA: u8 = 2;
const BAD_BACKEND_DATA: u8 = 4;
const HAS_V4: u8 = 8;
const ASCII: u8 = 16;
const HAS_MAC: u8 = 32;
const CANONICAL: u8 = 64;
const NO_VNI: i32 = -1;
const BAD_VNI: i32 = -2;

// The type cache, at the start of free memory: up to 8 BackendTypes (32 bytes each), their
// lengths and answers. The caller's part of memory starts FREE bytes later (see base()).
const TYPE_SLOTS: i32 = 8;
const FREE: usize = 512;
let TYPES: usize = 0;
let TYPE_LENS: usize = 0;
let TYPE_ANSWERS: usize = 0;
let types: i32 = 0;

// Set by init().
let dirAt: usize = 0;
let dirLen: i32 = 0;
let maxVni: u64 = 0;

// What the last scan() found; read by the caller.
export let outRows: i32 = 0;
export let outPos: i32 = 0;
export let fbStart: i32 = 0;
export let fbStop: i32 = 0;
/** The reply header's revision; -1 until one is read (kept across scan() calls until begin()). */
export let outRevision: f64 = -1;
/** RangeResponse.more: -1 until read. */
export let outMore: i32 = -1;
/** Where the last KeyValue's key read by this scan() call is, and its length; -1 when none. */
export let lastKeyAt: i32 = -1;
export let lastKeyLen: i32 = 0;

// The reader: position, limit, and whether a read ran past the limit or was malformed.
let p: usize = 0;
let lim: usize = 0;
let bad: bool = false;

/** A varint of up to ten bytes within the limit; `bad` otherwise. */
function vint(): u64 {
  let x: u64 = 0;
  let sh: u64 = 0;
  while (true) {
    if (p >= lim || sh > 63) {
      bad = true;
      return 0;
    }
    const c = <u64>load<u8>(p);
    p++;
    x |= (c & 0x7f) << sh;
    if (c < 0x80) return x;
    sh += 7;
  }
}

/** Skips a field by its wire type; false for a wire type protobuf does not allow here. */
function skip(wire: u32): bool {
  if (wire == 0) vint();
  else if (wire == 1) p += 8;
  else if (wire == 2) {
    const len = vint();
    if (len > <u64>(lim - p)) return false;
    p += <usize>len;
  } else if (wire == 5) p += 4;
  else return false;
  return !bad && p <= lim;
}

/** Where the caller's part of memory starts: after the static data and the type cache. */
export function base(): usize {
  return ((__heap_base + 15) & ~15) + FREE;
}

/** A new table: the lease directory's bytes at `dir` (the caller's), the largest VNI. */
export function init(dir: usize, len: i32, vniMax: u32): void {
  TYPES = ((__heap_base + 15) & ~15);
  TYPE_LENS = TYPES + 256;
  TYPE_ANSWERS = TYPE_LENS + 32;
  dirAt = dir;
  dirLen = len;
  maxVni = vniMax;
  types = 0;
}

/** A new reply: forget the last one's header. */
export function begin(): void {
  outRevision = -1;
  outMore = -1;
}

// One KeyValue's fields, as readKeyValueInto reads them.
let keyStart: usize = 0;
let keyEnd: usize = 0;
let valueStart: usize = 0;
let valueEnd: usize = 0;
let createRevision: u64 = 0;
let modRevision: u64 = 0;
let lease: u64 = 0;

/** Reads the KeyValue at [p, stop); false when it is not protobuf the JavaScript reader would take. */
function readKeyValue(stop: usize): bool {
  keyStart = keyEnd = valueStart = valueEnd = p;
  createRevision = modRevision = lease = 0;
  const outer = lim;
  lim = stop;
  let ok = true;
  while (p < stop) {
    const t = vint();
    if (bad) break;
    if (t == 10 || t == 42) {
      const len = vint();
      if (bad || len > <u64>(stop - p)) {
        ok = false;
        break;
      }
      if (t == 10) {
        keyStart = p;
        keyEnd = p + <usize>len;
      } else {
        valueStart = p;
        valueEnd = p + <usize>len;
      }
      p += <usize>len;
    } else if (t == 16) createRevision = vint();
    else if (t == 24) modRevision = vint();
    else if (t == 32) vint();
    else if (t == 48) lease = vint();
    else if (!skip(<u32>(t & 7))) {
      ok = false;
      break;
    }
  }
  lim = outer;
  return ok && !bad && p == stop;
}

/** The JavaScript reader's number for a varint: exact below 2^53. */
const EXACT: u64 = 1 << 53;

/**
 * A dotted quad without leading zeros (isIPv4Text's rule) from `start`, before `end`: where it
 * ends (the first byte that is neither a digit nor its dots), its value in quadValue; 0 when
 * there is none there. What follows it is the caller's to judge.
 */
let quadValue: u32 = 0;
function dottedQuad(start: usize, end: usize): usize {
  let ip: u32 = 0;
  let octet: u32 = 0;
  let digits: i32 = 0;
  let dots: i32 = 0;
  let i = start;
  for (; i < end; i++) {
    const c = <u32>load<u8>(i);
    if (c >= 48 && c <= 57) {
      if (digits == 1 && octet == 0) return 0;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return 0;
    } else if (c == 46 && digits > 0 && dots < 3) {
      ip = (ip << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else break;
  }
  if (dots != 3 || digits == 0) return 0;
  quadValue = (ip << 8) | octet;
  return i;
}

/** leaseKey4At: an IPv4-only key name in flannel's form, into keyIp/keyLen; false for anything else. */
let keyIp: u32 = 0;
let keyLen: u32 = 0;
function leaseKey4(start: usize, end: usize): bool {
  let i = dottedQuad(start, end);
  if (i == 0 || i >= end || load<u8>(i) != 45) return false;
  const ip = quadValue;
  let len: u32 = 0;
  let lenDigits: i32 = 0;
  for (i++; i < end; i++) {
    const c = <u32>load<u8>(i);
    if (c < 48 || c > 57) return false;
    if (lenDigits == 1 && len == 0) return false;
    len = len * 10 + (c - 48);
    if (++lenDigits > 2) return false;
  }
  if (lenDigits == 0 || len > 32 || len == 0) return false;
  const mask: u32 = len == 32 ? 0xffffffff : ~(0xffffffff >>> len);
  if ((ip & mask) != ip) return false;
  keyIp = ip;
  keyLen = len;
  return true;
}

/** Whether the bytes of `lit` (a static string's UTF-16 code units, ASCII) are at `at`, before `end`. */
function literal(at: usize, end: usize, lit: string): bool {
  const n = <usize>lit.length;
  if (at + n > end) return false;
  for (let k: usize = 0; k < n; k++) {
    if (<u32>load<u8>(at + k) != <u32>load<u16>(changetype<usize>(lit) + (k << 1))) return false;
  }
  return true;
}

const HEAD = '{"PublicIP":"';
const AFTER_IP = '","PublicIPv6":null';
const TYPE = ',"BackendType":"';
const DATA = ',"BackendData":{"VNI":';
const DATA_OPEN: usize = 15; // ',"BackendData":'.length
const MAC = ',"VtepMAC":"';

// readCanonicalValue's answer.
let vPublicIP: u32 = 0;
let vTypeStart: usize = 0;
let vTypeEnd: usize = 0;
let vDataStart: usize = 0;
let vDataEnd: usize = 0;
let vVni: u64 = 0;
let vMacStart: usize = 0;

function isHex(c: u32): bool {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/** readCanonicalValue (lease-bytes.ts), for the value at [start, end). */
function canonicalValue(start: usize, end: usize): bool {
  if (!literal(start, end, HEAD)) return false;
  let i = dottedQuad(start + <usize>HEAD.length, end);
  if (i == 0) return false;
  vPublicIP = quadValue;
  if (!literal(i, end, AFTER_IP)) return false;
  i += <usize>AFTER_IP.length;
  vTypeStart = vTypeEnd = i;
  if (literal(i, end, TYPE)) {
    i += <usize>TYPE.length;
    const typeStart = i;
    for (; i < end; i++) {
      const c = <u32>load<u8>(i);
      if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45)) break;
    }
    if (i >= end || i == typeStart || i - typeStart > 32 || load<u8>(i) != 34) return false;
    vTypeStart = typeStart;
    vTypeEnd = i;
    i++;
  }
  vDataStart = vDataEnd = i;
  vVni = 0;
  vMacStart = 0;
  if (literal(i, end, DATA)) {
    const dataStart = i + DATA_OPEN;
    i += <usize>DATA.length;
    const vniStart = i;
    let vni: u64 = 0;
    for (; i < end; i++) {
      const c = <u32>load<u8>(i);
      if (c < 48 || c > 57) break;
      vni = vni * 10 + <u64>(c - 48);
    }
    const vniDigits = i - vniStart;
    if (vniDigits == 0 || vniDigits > 10 || (vniDigits > 1 && load<u8>(vniStart) == 48)) return false;
    if (!literal(i, end, MAC)) return false;
    i += <usize>MAC.length;
    const macStart = i;
    if (i + 19 > end) return false;
    for (let k: usize = 0; k < 17; k++) {
      const c = <u32>load<u8>(i + k);
      if (k % 3 == 2 ? c != 58 : !isHex(c)) return false;
    }
    i += 17;
    if (load<u8>(i) != 34 || load<u8>(i + 1) != 125) return false;
    i += 2;
    vDataStart = dataStart;
    vDataEnd = i;
    vVni = vni;
    vMacStart = macStart;
  }
  return i == end - 1 && load<u8>(i) == 125;
}

/** isUnicastMacAt (backend-data.ts) for the 17 bytes at `at`. */
function unicastMac(at: usize): bool {
  let zero = true;
  for (let k: usize = 0; k < 17; k++) {
    const c = load<u8>(at + k);
    if (c != 48 && c != 58) zero = false;
  }
  if (zero) return false;
  const c = <u32>load<u8>(at + 1);
  return ((c <= 57 ? c - 48 : c - 87) & 1) == 0;
}

function hexDigit(c: u32): u32 {
  return c <= 57 ? c - 48 : c - 87;
}

/** The type's `(index << 1) | vxlan`, from the cache or the caller. */
function typeAt(start: usize, end: usize): i32 {
  const n = <i32>(end - start);
  for (let t = 0; t < types; t++) {
    if (load<i32>(TYPE_LENS + (<usize>t << 2)) != n) continue;
    const b = TYPES + (<usize>t << 5);
    let k = 0;
    while (k < n && load<u8>(b + <usize>k) == load<u8>(start + <usize>k)) k++;
    if (k == n) return load<i32>(TYPE_ANSWERS + (<usize>t << 2));
  }
  const answer = typeOf(start, n);
  if (types < TYPE_SLOTS) {
    memory.copy(TYPES + (<usize>types << 5), start, <usize>n);
    store<i32>(TYPE_LENS + (<usize>types << 2), n);
    store<i32>(TYPE_ANSWERS + (<usize>types << 2), answer);
    types++;
  }
  return answer;
}

// The columns of a scan() call, `cap` rows each, from `rows` (8-aligned); src/lease-scan.ts lays
// them out the same way: f64 create and mod revisions, u32 ip4, publicIP, i32 vni, lease id low
// and high halves, u16 type, u8 flags, len4, six bytes of VtepMAC, and (where asked for) four
// u32 of the row's places.
let cCreate: usize = 0;
let cMod: usize = 0;
let cIp4: usize = 0;
let cPublic: usize = 0;
let cVni: usize = 0;
let cLo: usize = 0;
let cHi: usize = 0;
let cType: usize = 0;
let cFlags: usize = 0;
let cLen4: usize = 0;
let cMac: usize = 0;
let cPlaces: usize = 0;
/** Whether this scan() writes each row's places: its key name's and value's offsets in the window. */
let places: bool = false;

/** Whether the KeyValue just read is in flannel's own form; if so, its row is written as row `r`. */
function row(r: usize): bool {
  if (createRevision >= EXACT || modRevision >= EXACT) return false;
  const nameStart = keyStart + <usize>dirLen;
  if (nameStart > keyEnd) return false;
  for (let k = 0; k < dirLen; k++) {
    if (load<u8>(keyStart + <usize>k) != load<u8>(dirAt + <usize>k)) return false;
  }
  if (!leaseKey4(nameStart, keyEnd)) return false;
  if (!canonicalValue(valueStart, valueEnd)) return false;
  let flags: u8 = HAS_V4 | ASCII | CANONICAL;
  if (lease == 0) flags |= RESERVED;
  const answer = vTypeEnd > vTypeStart ? typeAt(vTypeStart, vTypeEnd) : 0;
  const hasData = vDataEnd > vDataStart;
  if (hasData) flags |= HAS_BACKEND_DATA;
  let vni: i32 = NO_VNI;
  let mac = false;
  if ((answer & 1) != 0) {
    if (!hasData) flags |= BAD_BACKEND_DATA;
    else if (vVni <= maxVni && unicastMac(vMacStart)) {
      vni = <i32>vVni;
      mac = true;
      flags |= HAS_MAC;
    } else {
      flags |= BAD_BACKEND_DATA;
      vni = BAD_VNI;
    }
  }
  store<f64>(cCreate + (r << 3), <f64>createRevision);
  store<f64>(cMod + (r << 3), <f64>modRevision);
  store<u32>(cIp4 + (r << 2), keyIp);
  store<u32>(cPublic + (r << 2), vPublicIP);
  store<i32>(cVni + (r << 2), vni);
  store<u32>(cLo + (r << 2), <u32>lease);
  store<u32>(cHi + (r << 2), <u32>(lease >> 32));
  store<u16>(cType + (r << 1), <u16>(answer >> 1));
  store<u8>(cFlags + r, flags);
  store<u8>(cLen4 + r, <u8>keyLen);
  const m = cMac + r * 6;
  for (let k: usize = 0; k < 6; k++) {
    const o = vMacStart + k * 3;
    store<u8>(m + k, mac ? <u8>((hexDigit(load<u8>(o)) << 4) | hexDigit(load<u8>(o + 1))) : 0);
  }
  if (places) {
    // The row's bytes, whole in the window: the caller copies those its columns do not say.
    if (valueStart < nameStart) return false;
    const a = cPlaces + (r << 4);
    store<u32>(a, <u32>nameStart);
    store<u32>(a + 4, <u32>keyEnd);
    store<u32>(a + 8, <u32>valueStart);
    store<u32>(a + 12, <u32>valueEnd);
  }
  return true;
}

/**
 * Walks the RangeResponse fields at [pos, end) into `cap` rows of columns at `rows` (and, with
 * `withPlaces`, each row's key name's and value's offsets in the window). `last`:
 * whether the reply ends at `end` (else it is a window of it). Returns DONE at the end,
 * FALLBACK with a KeyValue at [fbStart, fbStop) that is not in flannel's form (go on from
 * fbStop), BAIL at outPos (protobuf for the JavaScript reader from there on), FULL (go on from
 * outPos with fresh columns) or NEED_MORE (the field at outPos goes on past the window).
 */
export function scan(pos: usize, end: usize, rows: usize, cap: i32, withPlaces: bool, last: bool): i32 {
  places = withPlaces;
  const c = <usize>cap;
  cCreate = rows;
  cMod = cCreate + (c << 3);
  cIp4 = cMod + (c << 3);
  cPublic = cIp4 + (c << 2);
  cVni = cPublic + (c << 2);
  cLo = cVni + (c << 2);
  cHi = cLo + (c << 2);
  cType = cHi + (c << 2);
  cFlags = cType + (c << 1);
  cLen4 = cFlags + c;
  cMac = cLen4 + c;
  cPlaces = cMac + c * 6;
  outRows = 0;
  lastKeyAt = -1;
  p = pos;
  lim = end;
  bad = false;
  while (p < end) {
    const field = p;
    const tag = vint();
    if (bad) return last ? bail(field) : more(field);
    const wire = <u32>(tag & 7);
    const num = tag >> 3;
    if (num == 2 && wire == 2) {
      if (outRows >= cap) {
        outPos = <i32>field;
        return FULL;
      }
      const len = vint();
      if (bad || len > <u64>(end - p)) return last ? bail(field) : more(field);
      const stop = p + <usize>len;
      const start = p;
      if (!readKeyValue(stop)) return bail(field);
      lastKeyAt = <i32>keyStart;
      lastKeyLen = <i32>(keyEnd - keyStart);
      if (!row(<usize>outRows)) {
        fbStart = <i32>start;
        fbStop = <i32>stop;
        outPos = <i32>stop;
        return FALLBACK;
      }
      outRows++;
    } else if (num == 1 && wire == 2) {
      const len = vint();
      if (bad || len > <u64>(end - p)) return last ? bail(field) : more(field);
      const stop = p + <usize>len;
      let revision: u64 = 0;
      lim = stop;
      while (p < stop) {
        const t = vint();
        if (bad) break;
        if (t == 24) revision = vint();
        else if (!skip(<u32>(t & 7))) {
          bad = true;
          break;
        }
      }
      lim = end;
      if (bad || p != stop || revision >= EXACT) return bail(field);
      outRevision = <f64>revision;
    } else if (num == 3 && wire == 0) {
      const m = vint();
      if (bad) return last ? bail(field) : more(field);
      outMore = m != 0 ? 1 : 0;
    } else if (!skip(wire)) return last ? bail(field) : more(field);
  }
  outPos = <i32>end;
  return DONE;
}

function bail(at: usize): i32 {
  outPos = <i32>at;
  return BAIL;
}

function more(at: usize): i32 {
  outPos = <i32>at;
  return NEED_MORE;
}

/**
 * radixOrder (lease-table.ts) over `n` rows: the row numbers sorted by IPv4 address, then
 * prefix length, then row number, as a stable least-significant-digit radix sort (the length,
 * then the address's four octets from the last, a pass skipped where every row has the same
 * digit). `ip4` (u32) and `len4` (u8) hold the columns; `a` and `b` room for `n` u32 each, and
 * `counts` for 256. Returns `a` or `b`, whichever holds the order.
 */
export function radixOrder(ip4: usize, len4: usize, n: i32, a: usize, b: usize, counts: usize): usize {
  let from = a;
  let to = b;
  for (let i = 0; i < n; i++) store<u32>(from + (<usize>i << 2), <u32>i);
  for (let pass = 0; pass < 5; pass++) {
    const shift = <u32>(8 * (pass - 1));
    memory.fill(counts, 0, 1024);
    for (let i = 0; i < n; i++) {
      const d = pass == 0 ? <u32>load<u8>(len4 + <usize>i) : (load<u32>(ip4 + (<usize>i << 2)) >>> shift) & 255;
      const at = counts + (<usize>d << 2);
      store<u32>(at, load<u32>(at) + 1);
    }
    let same = false;
    for (let d = 0; d < 256; d++) if (load<u32>(counts + (<usize>d << 2)) == <u32>n) same = true;
    if (same) continue;
    let sum: u32 = 0;
    for (let d = 0; d < 256; d++) {
      const at = counts + (<usize>d << 2);
      const c = load<u32>(at);
      store<u32>(at, sum);
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const row = load<u32>(from + (<usize>k << 2));
      const d =
        pass == 0 ? <u32>load<u8>(len4 + <usize>row) : (load<u32>(ip4 + (<usize>row << 2)) >>> shift) & 255;
      const at = counts + (<usize>d << 2);
      const slot = load<u32>(at);
      store<u32>(at, slot + 1);
      store<u32>(to + (<usize>slot << 2), row);
    }
    const done = to;
    to = from;
    from = done;
  }
  return from;
}
