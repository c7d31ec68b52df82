/**
 * Lease keys and values in the exact form flanneld and podnet write them, read straight from
 * bytes without a string or an object, for the lease table (a reply's bytes) and key names
 * (parseLeaseKey4). Values given as text are read by lease-codec.ts's regex for the same form,
 * which is faster for text; lease-table.test.ts holds both to the JSON decoder. Anything not
 * in exactly this form is left to the general codec, which decides the same way.
 */
import { maskIPv4 } from "./address.js";

/** {@link leaseKey4At}: the name is foreign for sure. */
export const KEY_FOREIGN = -1;
/** {@link leaseKey4At}: the name is not a plain IPv4 name (dual stack, or anything else). */
export const KEY_NOT_IPV4_ONLY = -2;

/** An IPv4 subnet read by {@link leaseKey4At}; one is reused for every key read. */
export class LeaseKey4 {
  /** The network address as an unsigned 32-bit number. */
  ip = 0;
  prefix = 0;
}

/**
 * An IPv4-only lease key name such as `10.5.52.0-24` in `bytes[start, end)`, into `out`: 0 when
 * it is one, {@link KEY_FOREIGN} when it is foreign for sure, {@link KEY_NOT_IPV4_ONLY} when
 * only the full parser can tell (parseLeaseKey's rules). Through `out`, not as one number: a
 * result above 2^31 would be a heap number per key.
 */
export function leaseKey4At(bytes: Uint8Array, start: number, end: number, out: LeaseKey4): number {
  let ip = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = start;
  for (; i < end; i++) {
    const c = bytes[i]!;
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return KEY_NOT_IPV4_ONLY; // leading zero: let the slow path judge
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return KEY_NOT_IPV4_ONLY;
    } else if (c === 46 /* . */ && digits > 0 && dots < 3) {
      ip = ip * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c === 45 /* - */ && digits > 0 && dots === 3) {
      ip = ip * 256 + octet;
      break;
    } else return KEY_NOT_IPV4_ONLY;
  }
  if (i >= end) return KEY_NOT_IPV4_ONLY;
  let len = 0;
  let lenDigits = 0;
  for (i++; i < end; i++) {
    const c = bytes[i]!;
    if (c < 48 || c > 57) return KEY_NOT_IPV4_ONLY;
    if (lenDigits === 1 && len === 0) return KEY_FOREIGN; // a length with a leading zero
    len = len * 10 + (c - 48);
    if (++lenDigits > 2) return KEY_FOREIGN;
  }
  if (lenDigits === 0 || len > 32 || len === 0) return KEY_FOREIGN; // 0.0.0.0-0 alone is foreign too
  if (maskIPv4(ip, len) !== ip) return KEY_FOREIGN;
  out.ip = ip;
  out.prefix = len;
  return 0;
}

/**
 * Where the parts of a canonical lease value are, filled by {@link readCanonicalValue}; one is
 * reused for every value read, so reading allocates nothing.
 */
export class CanonicalValue {
  /** The PublicIP as an unsigned 32-bit number. */
  publicIP = 0;
  /** Offsets of the PublicIP's text (between the quotes). */
  publicIPStart = 0;
  publicIPEnd = 0;
  /** Offsets of the BackendType's text (between the quotes); equal when there is none. */
  typeStart = 0;
  typeEnd = 0;
  /** Offsets of the BackendData's raw JSON; equal when there is none. */
  dataStart = 0;
  dataEnd = 0;
  /** The VNI in the BackendData as written (up to ten digits, so possibly above MAX_VNI). */
  vni = 0;
  /** Offset of the VtepMAC's text (17 bytes, lower-case colon form) in the BackendData. */
  macStart = 0;
}

// The fixed parts of the form, as bytes.
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HEAD = ascii('{"PublicIP":"');
const AFTER_IP = ascii('","PublicIPv6":null');
const TYPE = ascii(',"BackendType":"');
const DATA = ascii(',"BackendData":{"VNI":');
const MAC = ascii(',"VtepMAC":"');
/** Where the BackendData's own text starts in {@link DATA}. */
const DATA_OPEN = ',"BackendData":'.length;

/** Whether `lit` is at `bytes[at]` (before `end`). */
function literalAt(bytes: Uint8Array, at: number, end: number, lit: Uint8Array): boolean {
  const n = lit.length;
  if (at + n > end) return false;
  for (let k = 0; k < n; k++) if (bytes[at + k] !== lit[k]) return false;
  return true;
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102);

/**
 * Reads `bytes[start, end)` into `out` when it is a lease value in exactly the form flanneld
 * writes for a vxlan lease, a lease with only a backend type (host-gw, ipip) or none (udp,
 * alloc): `{"PublicIP":"<dotted quad>","PublicIPv6":null[,"BackendType":"<[a-z0-9-]{1,32}>"]
 * [,"BackendData":{"VNI":<0|[1-9][0-9]{0,9}>,"VtepMAC":"<xx:xx:xx:xx:xx:xx, lower-case hex>"}]}`
 * with nothing before or after. False for anything else (the general codec's business).
 */
export function readCanonicalValue(
  bytes: Uint8Array,
  start: number,
  end: number,
  out: CanonicalValue,
): boolean {
  if (!literalAt(bytes, start, end, HEAD)) return false;
  // The PublicIP: a dotted quad without leading zeros (isIPv4Text's rule).
  let i = start + HEAD.length;
  const ipStart = i;
  let ip = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (; i < end; i++) {
    const c = bytes[i]!;
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return false;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 46 && digits > 0 && dots < 3) {
      ip = ip * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else break;
  }
  if (dots !== 3 || digits === 0) return false;
  out.publicIP = ip * 256 + octet;
  out.publicIPStart = ipStart;
  out.publicIPEnd = i;
  if (!literalAt(bytes, i, end, AFTER_IP)) return false;
  i += AFTER_IP.length;
  out.typeStart = out.typeEnd = i;
  if (literalAt(bytes, i, end, TYPE)) {
    i += TYPE.length;
    const typeStart = i;
    for (; i < end; i++) {
      const c = bytes[i]!;
      if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) break;
    }
    if (i >= end || i === typeStart || i - typeStart > 32 || bytes[i] !== 34 /* " */) return false;
    out.typeStart = typeStart;
    out.typeEnd = i;
    i++;
  }
  out.dataStart = out.dataEnd = i;
  out.vni = 0;
  out.macStart = 0;
  if (literalAt(bytes, i, end, DATA)) {
    const dataStart = i + DATA_OPEN; // at the BackendData's `{`
    i += DATA.length;
    const vniStart = i;
    let vni = 0;
    for (; i < end; i++) {
      const c = bytes[i]!;
      if (c < 48 || c > 57) break;
      vni = vni * 10 + (c - 48);
    }
    const vniDigits = i - vniStart;
    if (vniDigits === 0 || vniDigits > 10 || (vniDigits > 1 && bytes[vniStart] === 48)) return false;
    if (!literalAt(bytes, i, end, MAC)) return false;
    i += MAC.length;
    const macStart = i;
    if (i + 19 > end) return false;
    for (let k = 0; k < 17; k++) {
      const c = bytes[i + k]!;
      if (k % 3 === 2 ? c !== 58 /* : */ : !isHex(c)) return false;
    }
    i += 17;
    if (bytes[i] !== 34 || bytes[i + 1] !== 125 /* } */) return false;
    i += 2;
    out.dataStart = dataStart;
    out.dataEnd = i;
    out.vni = vni;
    out.macStart = macStart;
  }
  return i === end - 1 && bytes[i] === 125;
}
