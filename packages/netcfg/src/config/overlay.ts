/**
 * The overlay device a backend makes and its MTU, as flanneld sets them: one rule for the
 * agent's plan, the subnet file, `ifconfig`, `doctor` and the validator.
 */
import type { ResolvedBackend, ResolvedConfig } from "./schema.js";

/** What flanneld's vxlan device loses to encapsulation (flannel uses 50 for both families). */
export const VXLAN_OVERHEAD = 50;
/** The name flanneld gives the VXLAN device: `flannel.<VNI>`, or `flannel-v6.<VNI>` for IPv6. */
export function vxlanDeviceName(vni: number, ipv6 = false): string {
  return `${ipv6 ? "flannel-v6" : "flannel"}.${vni}`;
}

/** The underlay MTU assumed when nothing better is known (Ethernet's). */
export const DEFAULT_UNDERLAY_MTU = 1500;
/** The overlay MTU written when nothing better is known: a 1500-byte underlay minus the vxlan overhead. */
export const DEFAULT_OVERLAY_MTU = DEFAULT_UNDERLAY_MTU - VXLAN_OVERHEAD;

/** Where an overlay MTU came from. */
export type OverlayMtuSource = "config" | "underlay" | "default";

/** An overlay MTU and where it came from. */
export interface OverlayMtu {
  readonly mtu: number;
  readonly source: OverlayMtuSource;
}

/**
 * The overlay MTU (the device's and FLANNEL_MTU): vxlan's `MTU` (which names the underlay's)
 * minus 50, else the underlay interface's MTU minus 50; wireguard's `MTU` as is (it names the
 * device's); without either, 1500 minus 50.
 */
export function overlayMtu(backend: ResolvedBackend, underlayMtu?: number): OverlayMtu {
  if (backend.Type === "vxlan" && backend.MTU !== undefined) {
    return { mtu: backend.MTU - VXLAN_OVERHEAD, source: "config" };
  }
  if (backend.Type === "wireguard" && backend.MTU !== undefined)
    return { mtu: backend.MTU, source: "config" };
  if (underlayMtu !== undefined) return { mtu: underlayMtu - VXLAN_OVERHEAD, source: "underlay" };
  return { mtu: DEFAULT_OVERLAY_MTU, source: "default" };
}

/** The underlay MTU that gives an overlay device this MTU (the inverse of {@link overlayMtu} for vxlan). */
export function underlayMtuFor(overlay: number): number {
  return overlay + VXLAN_OVERHEAD;
}

/**
 * The overlay device flanneld creates for a config: `flannel.<VNI>` (`flannel-v6.<VNI>` for
 * the IPv6 side, and for an IPv6-only network), `flannel0` for udp, `flannel.ipip`,
 * `flannel-wg` / `flannel-wg-v6`; null for backends without a device of their own.
 */
export function overlayDeviceName(
  config: ResolvedConfig,
  family: 4 | 6 = config.EnableIPv4 ? 4 : 6,
): string | null {
  const backend = config.Backend;
  switch (backend.Type) {
    case "vxlan":
      return vxlanDeviceName(backend.VNI, family === 6);
    case "udp":
      return "flannel0";
    case "ipip":
      return "flannel.ipip";
    case "wireguard":
      return family === 6 ? "flannel-wg-v6" : "flannel-wg";
    default:
      return null;
  }
}
