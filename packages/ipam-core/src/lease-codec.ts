/**
 * The lease codec: etcd keys and values exactly as flanneld writes them (flannel-compat.md
 * sections 1 and 4). Reading is strict and never throws: a key that is not a subnet is
 * foreign, a value that is not a lease is damaged; both are reported, never taken as "no
 * lease". Writing is canonical and byte-identical to flanneld.
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
import { PodnetError } from "./errors.js";
import { subnetsPrefix } from "./keys.js";
import {
  CanonicalValue,
  KEY_FOREIGN,
  KEY_NOT_IPV4_ONLY,
  LeaseKey4,
  leaseKey4At,
  readCanonicalValue,
} from "./lease-bytes.js";

/**
 * The subnet a lease key names. An IPv6-only lease (flannel with IPv4 disabled) is written
 * with flannel's zero IPv4 network, so its `ipv4` is 0.0.0.0/0; see {@link hasIPv4}.
 */
export interface LeaseSubnet {
  readonly ipv4: IPv4Net;
  readonly ipv6?: IPv6Net;
}

/** Text of one JSON value, kept as written (flannel's json.RawMessage). */
export type RawJson = string;

/** The attributes a lease value carries, in flannel's field order. */
export interface LeaseAttrs {
  /** The owner's dotted IPv4 address; it identifies the lease's owner. */
  readonly publicIP: string;
  /** The owner's IPv6 address; null when it has none. */
  readonly publicIPv6: string | null;
  /** `vxlan`, `wireguard`, `host-gw`, ...; absent (or empty) for udp and alloc. */
  readonly backendType?: string;
  /** The backend's data as raw JSON, e.g. `{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}`. */
  readonly backendData?: RawJson;
  /** The backend's IPv6 data as raw JSON. */
  readonly backendV6Data?: RawJson;
}

/** The result of reading a lease value: the attributes, or why the value is damaged. */
export type DecodedLeaseValue = { ok: true; attrs: LeaseAttrs } | { ok: false; reason: string };

/** One entry under `<prefix>/subnets/`, classified by its key name and value. */
export type LeaseEntry =
  | { kind: "lease"; key: string; subnet: LeaseSubnet; attrs: LeaseAttrs }
  | { kind: "foreign"; key: string; reason: string }
  | { kind: "damaged"; key: string; subnet: LeaseSubnet; reason: string };

// ---- keys ----

/** The full etcd key of a lease, `<prefix>/subnets/<name>`. */
export function leaseKey(prefix: string, subnet: LeaseSubnet): string {
  return subnetsPrefix(prefix) + formatLeaseKey(subnet);
}

/** The lease name of a full key under `<prefix>/subnets/`; null when the key is not under it. */
export function leaseNameOf(prefix: string, key: string): string | null {
  const dir = subnetsPrefix(prefix);
  return key.startsWith(dir) ? key.slice(dir.length) : null;
}

/** Whether the lease has an IPv4 subnet (IPv6-only leases carry 0.0.0.0/0). */
export function hasIPv4(subnet: LeaseSubnet): boolean {
  return !(subnet.ipv4.ip === 0 && subnet.ipv4.prefix === 0 && subnet.ipv6 !== undefined);
}

/**
 * Parses a lease key name, `10.5.52.0-24` or `10.5.52.0-24&fc00:0:0:1::-64`; null when it is
 * foreign. Strict: dotted quad without leading zeros, prefix without leading zeros and in
 * range, host bits zero, nothing before or after. The IPv6 part may be any valid spelling.
 */
export function parseLeaseKey(name: string): LeaseSubnet | null {
  const packed = parseLeaseKey4(name);
  if (packed >= 0) return { ipv4: { ip: Math.floor(packed / 64), prefix: packed % 64 } };
  if (packed === KEY_FOREIGN) return null;
  const parts = name.split("&");
  if (parts.length > 2) return null;
  const v4 = splitNet(parts[0] ?? "");
  if (v4 === null) return null;
  const ip4 = parseIPv4(v4.addr);
  const len4 = parseLength(v4.len, 32);
  if (ip4 === null || len4 === null || maskIPv4(ip4, len4) !== ip4) return null;
  const ipv4: IPv4Net = { ip: ip4, prefix: len4 };
  if (parts[1] === undefined) {
    // 0.0.0.0-0 alone would block every subnet; flanneld only writes it next to an IPv6 part
    return len4 === 0 ? null : { ipv4 };
  }
  const v6 = splitNet(parts[1]);
  if (v6 === null) return null;
  const ip6 = parseIPv6(v6.addr);
  const len6 = parseLength(v6.len, 128);
  if (ip6 === null || len6 === null || maskIPv6(ip6, len6) !== ip6) return null;
  return { ipv4, ipv6: { ip: ip6, prefix: len6 } };
}

/** Room for any name the IPv4-only fast path can accept (the longest is 18 bytes). */
const NAME_BYTES = new Uint8Array(24);
const NAME_KEY = new LeaseKey4();

/**
 * The fast path of {@link parseLeaseKey} for an IPv4-only name such as `10.5.52.0-24`, without
 * allocating: `ip * 64 + prefix` when it is one, -1 when the name is foreign for sure, and -2
 * when it is not a plain IPv4 name (dual stack, or anything else: ask parseLeaseKey). The
 * rule is leaseKey4At's (lease-bytes.ts), over the name's characters.
 */
export function parseLeaseKey4(name: string): number {
  const n = name.length;
  if (n > NAME_BYTES.length) return KEY_NOT_IPV4_ONLY;
  // A character outside Latin-1 becomes 0xFF, which the rule never accepts, as it never accepts the character.
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    NAME_BYTES[i] = Math.min(c, 0xff);
  }
  const status = leaseKey4At(NAME_BYTES, 0, n, NAME_KEY);
  return status === 0 ? NAME_KEY.ip * 64 + NAME_KEY.prefix : status;
}

/** The canonical key name of a subnet, as flanneld writes it. Throws on host bits. */
export function formatLeaseKey(subnet: LeaseSubnet): string {
  const { ipv4, ipv6 } = subnet;
  if (maskIPv4(ipv4.ip, ipv4.prefix) !== ipv4.ip || ipv4.prefix < 0 || ipv4.prefix > 32) {
    throw new PodnetError("usage", `${formatIPv4(ipv4.ip)}/${ipv4.prefix} is not a network address.`);
  }
  const head = `${formatIPv4(ipv4.ip)}-${ipv4.prefix}`;
  if (ipv6 === undefined) return head;
  if (maskIPv6(ipv6.ip, ipv6.prefix) !== ipv6.ip || ipv6.prefix < 0 || ipv6.prefix > 128) {
    throw new PodnetError("usage", `${formatIPv6(ipv6.ip)}/${ipv6.prefix} is not a network address.`);
  }
  return `${head}&${formatIPv6(ipv6.ip)}-${ipv6.prefix}`;
}

function splitNet(text: string): { addr: string; len: string } | null {
  const dash = text.lastIndexOf("-");
  if (dash < 0) return null;
  return { addr: text.slice(0, dash), len: text.slice(dash + 1) };
}

function parseLength(text: string, max: number): number | null {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/** A lease subnet as people read it: `10.5.52.0/24`, or `10.5.52.0/24 + fc00:0:0:34::/64`. */
export function subnetName(subnet: LeaseSubnet): string {
  const v6 = subnet.ipv6 && formatIPv6Cidr(subnet.ipv6);
  if (!hasIPv4(subnet)) return v6 ?? "";
  const v4 = formatIPv4Cidr(subnet.ipv4);
  return v6 === undefined ? v4 : `${v4} + ${v6}`;
}

// ---- values ----

/**
 * Encodes lease attributes exactly as flanneld does: PublicIP, PublicIPv6 (null when absent),
 * then BackendType, BackendData, BackendV6Data, each omitted when empty. Raw backend data is
 * compacted and HTML-escaped like Go's encoding/json. Throws on an invalid address or raw JSON.
 */
export function encodeLeaseValue(attrs: LeaseAttrs): string {
  if (parseIPv4(attrs.publicIP) === null) {
    throw new PodnetError("usage", `PublicIP "${attrs.publicIP}" is not an IPv4 address.`);
  }
  if (attrs.publicIPv6 !== null && parseIPv6(attrs.publicIPv6) === null) {
    throw new PodnetError("usage", `PublicIPv6 "${attrs.publicIPv6}" is not an IPv6 address.`);
  }
  let out = `{"PublicIP":${goString(attrs.publicIP)},"PublicIPv6":`;
  out += attrs.publicIPv6 === null ? "null" : goString(attrs.publicIPv6);
  if (attrs.backendType) out += `,"BackendType":${goString(attrs.backendType)}`;
  const data = rawForWrite("BackendData", attrs.backendData);
  if (data !== null) out += `,"BackendData":${data}`;
  const data6 = rawForWrite("BackendV6Data", attrs.backendV6Data);
  if (data6 !== null) out += `,"BackendV6Data":${data6}`;
  return `${out}}`;
}

/**
 * Decodes a lease value (etcd bytes or text). Damaged when it is not UTF-8 JSON, not an
 * object, lacks an IPv4 PublicIP, or a known field has the wrong type. Never throws.
 * Backend data is kept as the raw JSON text it was written with; unknown fields are dropped.
 */
export function decodeLeaseValue(value: string | Uint8Array): DecodedLeaseValue {
  const text = typeof value === "string" ? value : utf8Text(value);
  if (text === null) return { ok: false, reason: "value is not UTF-8 text" };
  return decodeCanonical(text) ?? decodeAnyLeaseValue(text);
}

/**
 * The bytes flanneld and podnet write for a vxlan lease, a lease with only a backend type
 * (host-gw, ipip) or none (udp, alloc): nothing in them needs a JSON parser, and 65,000 of
 * them are read for every listing. For text the regex is the faster reader (irregexp's native
 * code); bytes are read by lease-bytes.ts, to the same form: lease-table.test.ts holds both to
 * the JSON decoder.
 */
const CANONICAL_TEXT =
  /^\{"PublicIP":"([0-9.]{7,15})","PublicIPv6":null(?:,"BackendType":"([a-z0-9-]{1,32})")?(?:,"BackendData":(\{"VNI":(?:0|[1-9][0-9]{0,9}),"VtepMAC":"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"\}))?\}$/;

/** A value in {@link CANONICAL_TEXT} form, decoded exactly as {@link decodeAnyLeaseValue} would; else undefined. */
function decodeCanonical(text: string): DecodedLeaseValue | undefined {
  const m = CANONICAL_TEXT.exec(text);
  if (m === null) return undefined;
  const [, publicIP = "", backendType, backendData] = m;
  if (!isIPv4Text(publicIP)) return undefined;
  const attrs: LeaseAttrs = {
    publicIP,
    publicIPv6: null,
    ...(backendType === undefined ? {} : { backendType }),
    ...(backendData === undefined ? {} : { backendData }),
  };
  return { ok: true, attrs };
}

const CANONICAL = new CanonicalValue();

/**
 * {@link decodeLeaseValue} of the ASCII bytes `bytes[start, end)`, whose text is `text`, when
 * they are in flannel's own form; else undefined (for readers that hold both, as a lease table).
 */
export function decodeCanonicalBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
  text: string,
): DecodedLeaseValue | undefined {
  const v = CANONICAL;
  if (!readCanonicalValue(bytes, start, end, v)) return undefined;
  const attrs: LeaseAttrs = {
    publicIP: text.slice(v.publicIPStart - start, v.publicIPEnd - start),
    publicIPv6: null,
    ...(v.typeEnd > v.typeStart && { backendType: text.slice(v.typeStart - start, v.typeEnd - start) }),
    ...(v.dataEnd > v.dataStart && { backendData: text.slice(v.dataStart - start, v.dataEnd - start) }),
  };
  return { ok: true, attrs };
}

/** {@link decodeLeaseValue} for any text: JSON.parse, then flannel's fields. Exported for tests. */
export function decodeAnyLeaseValue(text: string): DecodedLeaseValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: "value is not valid JSON" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: "value is not a JSON object" };
  }
  const doc = parsed as Record<string, unknown>;
  const publicIP = doc["PublicIP"];
  if (publicIP === undefined || publicIP === null) return { ok: false, reason: "value has no PublicIP" };
  if (typeof publicIP !== "string" || !isIPv4Text(publicIP)) {
    return { ok: false, reason: `PublicIP ${JSON.stringify(publicIP)} is not an IPv4 address` };
  }
  const publicIPv6 = doc["PublicIPv6"] ?? null;
  if (publicIPv6 !== null && (typeof publicIPv6 !== "string" || parseIPv6(publicIPv6) === null)) {
    return { ok: false, reason: `PublicIPv6 ${JSON.stringify(publicIPv6)} is not an IPv6 address` };
  }
  const backendType = doc["BackendType"] ?? "";
  if (typeof backendType !== "string") {
    return { ok: false, reason: `BackendType ${JSON.stringify(backendType)} is not a string` };
  }
  const wantData = doc["BackendData"] != null;
  const wantV6Data = doc["BackendV6Data"] != null;
  const raw = wantData || wantV6Data ? rawMembers(text) : undefined;
  const backendData = wantData ? raw?.get("BackendData") : undefined;
  const backendV6Data = wantV6Data ? raw?.get("BackendV6Data") : undefined;
  const attrs: LeaseAttrs = {
    publicIP,
    publicIPv6,
    ...(backendType === "" ? {} : { backendType }),
    ...(backendData === undefined ? {} : { backendData }),
    ...(backendV6Data === undefined ? {} : { backendV6Data }),
  };
  return { ok: true, attrs };
}

/** Classifies one entry under `<prefix>/subnets/` by its key name (the part after `subnets/`). */
export function classifyEntry(name: string, value: string | Uint8Array): LeaseEntry {
  const subnet = parseLeaseKey(name);
  if (subnet === null) return { kind: "foreign", key: name, reason: foreignReason(name) };
  const decoded = decodeLeaseValue(value);
  if (!decoded.ok) return { kind: "damaged", key: name, subnet, reason: decoded.reason };
  return { kind: "lease", key: name, subnet, attrs: decoded.attrs };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of UTF-8 bytes, byte order mark kept; null when they are not UTF-8. */
export function utf8Text(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** Whether `text` is a dotted quad as {@link parseIPv4} accepts it, without allocating. */
function isIPv4Text(text: string): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let digits = 0;
  let octet = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      octet = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return false; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

/** Why a key name under `subnets/` is foreign. */
export function foreignReason(name: string): string {
  return `key "${name}" does not name a subnet`;
}

/** Go's encoding/json string form: JSON.stringify plus escapes for <, >, &, U+2028, U+2029. */
function goString(s: string): string {
  return goEscape(JSON.stringify(s));
}

function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** What {@link compactJson} removes or {@link goEscape} escapes (any whitespace, to be safe). */
const NEEDS_REWRITE = /[\s<>&\u2028\u2029]/;

/** Raw JSON ready to write (compact, escaped as Go does); null when Go's omitempty drops it. */
function rawForWrite(field: string, raw: RawJson | undefined): string | null {
  if (raw === undefined || raw.trim() === "" || raw.trim() === "null") return null;
  try {
    JSON.parse(raw);
  } catch {
    throw new PodnetError("usage", `${field} is not valid JSON.`);
  }
  // Already compact and nothing Go escapes (the usual `{"VNI":1,"VtepMAC":"..."}`): as it is.
  if (!NEEDS_REWRITE.test(raw)) return raw;
  return goEscape(compactJson(raw));
}

/** Removes whitespace outside strings from valid JSON text. */
function compactJson(json: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += json[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") {
      out += c;
    }
  }
  return out;
}

/** The raw text of each top-level member of a JSON object already known to be valid; last wins. */
function rawMembers(json: string): Map<string, string> {
  const members = new Map<string, string>();
  let i = skipSpace(json, json.indexOf("{") + 1);
  while (i < json.length && json.charCodeAt(i) !== 125 /* } */) {
    const keyEnd = skipValue(json, i);
    const keyText = json.slice(i, keyEnd);
    // A key without escapes is its own text between the quotes; only escaped keys need JSON.parse.
    const key: unknown = keyText.includes("\\") ? JSON.parse(keyText) : keyText.slice(1, -1);
    const valueStart = skipSpace(json, skipSpace(json, keyEnd) + 1); // past the colon
    const valueEnd = skipValue(json, valueStart);
    if (typeof key === "string") members.set(key, json.slice(valueStart, valueEnd));
    i = skipSpace(json, valueEnd);
    if (json.charCodeAt(i) === 44 /* , */) i = skipSpace(json, i + 1);
  }
  return members;
}

function skipSpace(json: string, i: number): number {
  for (; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
  }
  return i;
}

/** The index just past the JSON value starting at `i` (valid JSON assumed). */
function skipValue(json: string, i: number): number {
  let depth = 0;
  let inString = false;
  for (; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) {
        inString = false;
        if (depth === 0) return i + 1;
      }
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) depth++;
    else if (c === 125 /* } */ || c === 93 /* ] */) {
      if (depth === 0) return i; // end of a primitive just before the closing bracket
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (c === 44 || c === 32 || c === 9 || c === 10 || c === 13)) return i;
  }
  return i;
}
