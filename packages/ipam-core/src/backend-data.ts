/**
 * Each backend's lease data (flannel-compat.md section 4) as one zod schema, the static types
 * derived from it, and the codec every caller uses: the agent, the views and the checks read
 * a VtepMAC the same way, and the lease commands write the same bytes flanneld writes.
 * Field names match case-insensitively, as Go's encoding/json decodes them.
 */
import * as z from "zod";
import { PodnetError } from "./errors.js";
import type { LeaseAttrs, RawJson } from "./lease-codec.js";

/** The largest VNI the kernel accepts (24 bits). */
export const MAX_VNI = 16_777_215;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Normalises a MAC to lower-case colon form; null when it is not a unicast Ethernet address. */
export function normaliseMac(text: string): string | null {
  const mac = text.trim().toLowerCase().replaceAll("-", ":");
  if (!MAC_RE.test(mac)) return null;
  return isUnicastMac(mac) ? mac : null;
}

/** Whether a MAC already in lower-case colon form is a unicast Ethernet address (not zero, not multicast). */
function isUnicastMac(mac: string): boolean {
  if (mac === "00:00:00:00:00:00") return false;
  // A multicast VtepMAC would make the kernel flood instead of tunnel: the low bit of the first octet.
  const c = mac.charCodeAt(1);
  return ((c <= 57 ? c - 48 : c - 87) & 1) === 0;
}

/**
 * isUnicastMac for the 17 bytes of a MAC in lower-case colon form at `bytes[at]`
 * (a lease value read in place): not all zero, and the first octet's low bit clear.
 */
export function isUnicastMacAt(bytes: Uint8Array, at: number): boolean {
  let zero = true;
  for (let k = 0; k < 17; k++) {
    const c = bytes[at + k];
    if (c !== 48 /* 0 */ && c !== 58 /* : */) zero = false;
  }
  if (zero) return false;
  const c = bytes[at + 1]!;
  return ((c <= 57 ? c - 48 : c - 87) & 1) === 0;
}

/** Go's case-insensitive field matching: each canonical name takes the last key spelled like it. */
function foldKeys(canonical: readonly string[]) {
  const byLower = new Map(canonical.map((name) => [name.toLowerCase(), name]));
  return (doc: unknown): unknown => {
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return doc;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc)) {
      const name = byLower.get(k.toLowerCase());
      if (name !== undefined) out[name] = v;
    }
    return out;
  };
}

const vni = z
  .number({ error: "has no valid VNI" })
  .int({ error: "has no valid VNI" })
  .min(0, { error: "has no valid VNI" })
  .max(MAX_VNI, { error: `has a VNI above ${MAX_VNI}` });

const vtepMac = z.string({ error: "has no VtepMAC" }).transform((text, ctx) => {
  const mac = normaliseMac(text);
  if (mac === null) {
    ctx.addIssue({ code: "custom", message: `has a VtepMAC "${text}" that is not a unicast MAC address` });
    return z.NEVER;
  }
  return mac;
});

/** vxlan's BackendData (and BackendV6Data): `{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}`. */
export const VxlanBackendDataSchema = z.preprocess(
  foldKeys(["VNI", "VtepMAC"]),
  z.object({ VNI: vni, VtepMAC: vtepMac }, { error: "is not an object" }),
);

/** wireguard's BackendData: `{"PublicKey":"<base64>","Port":51820}`. */
export const WireguardBackendDataSchema = z.preprocess(
  foldKeys(["PublicKey", "Port"]),
  z.object(
    {
      PublicKey: z.string({ error: "has no PublicKey" }).regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, {
        error: "has a PublicKey that is not a base64 WireGuard key",
      }),
      Port: z.number({ error: "has no Port" }).int().min(1).max(65_535, { error: "has a Port above 65535" }),
    },
    { error: "is not an object" },
  ),
);

/** vxlan's lease data as podnet uses it: the VNI and the VTEP's MAC (normalised). */
export interface VxlanData {
  readonly vni: number;
  readonly vtepMac: string;
}

/** wireguard's lease data: the peer's public key and listening port. */
export interface WireguardData {
  readonly publicKey: string;
  readonly port: number;
}

/** flanneld's own bytes for vxlan data: no JSON parser needed for the 65,000 a listing reads. */
const FLANNEL_VXLAN = /^\{"VNI":(0|[1-9][0-9]{0,7}),"VtepMAC":"([0-9a-f]{2}(?::[0-9a-f]{2}){5})"\}$/;

/** The first issue of a failed parse, as "its BackendData <issue>". */
function reasonOf(error: z.ZodError, field: string): string {
  const issue = error.issues[0];
  return `its ${field} ${issue?.message ?? "is not valid"}`;
}

function parseRawJson(raw: RawJson | undefined, field: string): { ok: true; doc: unknown } | string {
  if (raw === undefined || raw.trim() === "" || raw.trim() === "null") return `its ${field} is empty`;
  try {
    return { ok: true, doc: JSON.parse(raw) };
  } catch {
    return `its ${field} is not valid JSON`;
  }
}

/**
 * Reads vxlan backend data (BackendData, or BackendV6Data with `field`); a reason such as
 * "its BackendData has no VtepMAC" when it is missing or damaged. Never throws.
 */
export function parseVxlanData(raw: RawJson | undefined, field = "BackendData"): VxlanData | string {
  if (raw !== undefined) {
    const fast = FLANNEL_VXLAN.exec(raw);
    if (fast !== null) {
      // The pattern only matches a MAC already in normalised form.
      const mac = fast[2] ?? "";
      if (isUnicastMac(mac) && Number(fast[1]) <= MAX_VNI) return { vni: Number(fast[1]), vtepMac: mac };
    }
  }
  const parsed = parseRawJson(raw, field);
  if (typeof parsed === "string") return parsed;
  const result = VxlanBackendDataSchema.safeParse(parsed.doc);
  if (!result.success) return reasonOf(result.error, field);
  return { vni: result.data.VNI, vtepMac: result.data.VtepMAC };
}

/** Reads wireguard backend data; a reason string when it is missing or damaged. Never throws. */
export function parseWireguardData(raw: RawJson | undefined, field = "BackendData"): WireguardData | string {
  const parsed = parseRawJson(raw, field);
  if (typeof parsed === "string") return parsed;
  const result = WireguardBackendDataSchema.safeParse(parsed.doc);
  if (!result.success) return reasonOf(result.error, field);
  return { publicKey: result.data.PublicKey, port: result.data.Port };
}

/** vxlan data exactly as flanneld writes it: `{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}`. Throws on bad values. */
export function encodeVxlanData(data: VxlanData): RawJson {
  const mac = normaliseMac(data.vtepMac);
  if (mac === null) {
    throw new PodnetError(
      "usage",
      `VtepMAC "${data.vtepMac}" is not a unicast MAC address like c6:d2:32:6f:8f:44`,
    );
  }
  if (!Number.isInteger(data.vni) || data.vni < 0 || data.vni > MAX_VNI) {
    throw new PodnetError("usage", `VNI ${data.vni} is not a whole number from 0 to ${MAX_VNI}`);
  }
  return `{"VNI":${data.vni},"VtepMAC":"${mac}"}`;
}

/** Whether a lease's backend is vxlan (BackendType matches case-insensitively, as flannel does). */
export function isVxlanLease(attrs: Pick<LeaseAttrs, "backendType">): boolean {
  return (attrs.backendType ?? "").toLowerCase() === "vxlan";
}

/** A vxlan lease's IPv4 data; a reason when the lease is not vxlan or its data is missing or damaged. */
export function vxlanDataOf(attrs: LeaseAttrs): VxlanData | string {
  if (!isVxlanLease(attrs))
    return `its backend is ${attrs.backendType || "not set (udp or alloc)"}, not vxlan`;
  return parseVxlanData(attrs.backendData);
}

/** A vxlan lease's IPv6 data (BackendV6Data); a reason when absent or damaged. */
export function vxlanV6DataOf(attrs: LeaseAttrs): VxlanData | string {
  if (!isVxlanLease(attrs))
    return `its backend is ${attrs.backendType || "not set (udp or alloc)"}, not vxlan`;
  return parseVxlanData(attrs.backendV6Data, "BackendV6Data");
}

/** The VtepMAC a lease publishes (normalised), or null when it is not vxlan or has none that is valid. */
export function vtepMacOf(attrs: LeaseAttrs): string | null {
  const data = vxlanDataOf(attrs);
  return typeof data === "string" ? null : data.vtepMac;
}

/**
 * Why a lease value could not carry traffic for its backend, or null when it can: a vxlan
 * lease needs a valid VtepMAC in its BackendData (peers route to that MAC), or, written by an
 * IPv6-only host (no BackendData at all, as flanneld writes it), in its BackendV6Data.
 */
export function missingBackendData(attrs: LeaseAttrs): string | null {
  const data = routingData(attrs);
  return typeof data === "string" ? data : null;
}

/**
 * The vxlan data peers route a lease by (see {@link missingBackendData}): its BackendData,
 * or BackendV6Data when an IPv6-only host wrote no BackendData; a reason when unusable;
 * undefined when the lease is not vxlan.
 */
export function routingData(attrs: LeaseAttrs): VxlanData | string | undefined {
  if (!isVxlanLease(attrs)) return undefined;
  return attrs.backendData === undefined && attrs.backendV6Data !== undefined
    ? parseVxlanData(attrs.backendV6Data, "BackendV6Data")
    : parseVxlanData(attrs.backendData);
}

/**
 * The attributes to write over a host's existing lease: what was asked, except that what was
 * not given (backend data, the IPv6 address) is kept from the current value of the same
 * backend, so no write ever drops a VtepMAC or a public key that other hosts route by.
 */
export function keepBackendData(requested: LeaseAttrs, current: LeaseAttrs | undefined): LeaseAttrs {
  if (current === undefined) return requested;
  if ((requested.backendType ?? "").toLowerCase() !== (current.backendType ?? "").toLowerCase())
    return requested;
  const publicIPv6 = requested.publicIPv6 ?? current.publicIPv6;
  const backendData = requested.backendData ?? current.backendData;
  const backendV6Data = requested.backendV6Data ?? (publicIPv6 !== null ? current.backendV6Data : undefined);
  return {
    publicIP: requested.publicIP,
    publicIPv6,
    ...(requested.backendType !== undefined &&
      requested.backendType !== "" && { backendType: requested.backendType }),
    ...(backendData !== undefined && { backendData }),
    ...(backendV6Data !== undefined && { backendV6Data }),
  };
}
