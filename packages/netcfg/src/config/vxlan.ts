/** The VXLAN backend's rules beyond field types: device names, VNI width, ports, MTU, Windows. */
import { type Diagnostic, error, warning } from "./diagnostic.js";
import { VXLAN_OVERHEAD, vxlanDeviceName } from "./overlay.js";
import { VXLAN_IANA_PORT, VXLAN_KERNEL_PORT, type VxlanBackend } from "./schema.js";

/** Linux's limit on interface names (IFNAMSIZ − 1). */
const MAX_IFNAME = 15;
/** The smallest MTU an IPv4 (RFC 791) and an IPv6 (RFC 8200) link may have. */
const MIN_MTU_V4 = 68;
const MIN_MTU_V6 = 1280;
/** The first flanneld release that reads Backend.MTU (v0.20.2 sizes the device from the underlay). */
export const FLANNELD_BACKEND_MTU_SINCE = "v0.21.3";
/** Windows flannel's smallest VNI (lower ones are reserved by HNS). */
const WINDOWS_MIN_VNI = 4096;

/** Where the VXLAN rules run: the fields as written (for pointers), the family and the host OS. */
export interface VxlanContext {
  /** JSON pointer of a Backend field as spelled in the document. */
  readonly at: (field: string) => string;
  /** Fields the document set explicitly (canonical names). */
  readonly given: ReadonlySet<string>;
  readonly enableIPv6: boolean;
  readonly target: "linux" | "windows";
}

/** Checks a typed VXLAN backend; returns errors and warnings. */
export function checkVxlan(be: VxlanBackend, ctx: VxlanContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { at } = ctx;
  if (be.VNI > 65_535) {
    out.push(
      warning(
        at("VNI"),
        `VNI ${be.VNI} is above 65535: flannel before v0.24 stored the VNI in 16 bits and silently uses ${be.VNI % 65_536} instead`,
      ),
    );
  }
  for (const ipv6 of ctx.enableIPv6 ? [false, true] : [false]) {
    const name = vxlanDeviceName(be.VNI, ipv6);
    if (name.length > MAX_IFNAME) {
      out.push(
        error(
          at("VNI"),
          `VNI ${be.VNI} makes the device name ${name} ${name.length} characters long; Linux allows at most ${MAX_IFNAME}`,
        ),
      );
    }
  }
  // Only an explicit 8472 gets the note: the default would flag almost every config.
  if (ctx.given.has("Port") && be.Port === VXLAN_KERNEL_PORT) {
    out.push(
      warning(
        at("Port"),
        `Port ${VXLAN_KERNEL_PORT} is the kernel's VXLAN default; some virtual switches (VMware NSX, vCloud) drop it silently, and IANA's VXLAN port is ${VXLAN_IANA_PORT}`,
      ),
    );
  }
  if (be.MTU !== undefined) {
    const min = ctx.enableIPv6 ? MIN_MTU_V6 : MIN_MTU_V4;
    const device = be.MTU - VXLAN_OVERHEAD;
    if (device < min) {
      out.push(
        error(
          at("MTU"),
          `MTU ${be.MTU} leaves ${device} for the VXLAN device (MTU minus ${VXLAN_OVERHEAD}); it must be at least ${min}${ctx.enableIPv6 ? " with EnableIPv6" : ""}`,
        ),
      );
    } else {
      out.push(
        warning(
          at("MTU"),
          `Backend.MTU is honoured by flanneld ${FLANNELD_BACKEND_MTU_SINCE} and later: an older flanneld ignores it and uses its underlay's MTU minus ${VXLAN_OVERHEAD}, so a network with such hosts runs two MTUs; upgrade them or drop MTU`,
        ),
      );
    }
  }
  if (ctx.target === "windows") {
    // flannel's Windows messages, verbatim
    if (be.VNI < WINDOWS_MIN_VNI) {
      out.push(
        error(
          at("VNI"),
          `invalid VXLAN backend config. VNI [${be.VNI}] must be greater than or equal to ${WINDOWS_MIN_VNI} on Windows`,
        ),
      );
    }
    if (be.Port !== VXLAN_IANA_PORT) {
      out.push(
        error(
          at("Port"),
          `invalid VXLAN backend config. Port [${be.Port}] is not supported on Windows. Omit the setting to default to port ${VXLAN_IANA_PORT}`,
        ),
      );
    }
    if (be.DirectRouting) {
      out.push(
        error(at("DirectRouting"), "invalid VXLAN backend config. DirectRouting is not supported on Windows"),
      );
    }
    if (be.GBP) out.push(error(at("GBP"), "invalid VXLAN backend config. GBP is not supported on Windows"));
  } else if (ctx.given.has("MacPrefix")) {
    out.push(warning(at("MacPrefix"), "MacPrefix is only used by flannel on Windows; Linux ignores it"));
  }
  return out;
}

/** The Windows defaults flannel uses where the document is silent. */
export const WINDOWS_VXLAN_DEFAULTS: Readonly<Record<string, unknown>> = {
  VNI: WINDOWS_MIN_VNI,
  Port: VXLAN_IANA_PORT,
  MacPrefix: "0E-2A",
};
