import { describe, expect, it } from "vitest";
import { overlayDeviceName, overlayMtu, underlayMtuFor } from "./overlay.js";
import type { ResolvedBackend, ResolvedConfig } from "./schema.js";
import { validateConfig } from "./validate.js";

function resolved(doc: Record<string, unknown>): ResolvedConfig {
  const r = validateConfig({ Network: "10.5.0.0/16", ...doc });
  if (r.resolved === undefined) throw new Error(JSON.stringify(r.errors));
  return r.resolved;
}

describe("overlayMtu", () => {
  const vxlan = resolved({ Backend: { Type: "vxlan" } }).Backend;
  it("is the vxlan Backend's MTU minus 50, else the underlay's minus 50, else 1450", () => {
    expect(overlayMtu({ ...vxlan, MTU: 9000 } as ResolvedBackend, 1500)).toEqual({
      mtu: 8950,
      source: "config",
    });
    expect(overlayMtu(vxlan, 9001)).toEqual({ mtu: 8951, source: "underlay" });
    expect(overlayMtu(vxlan)).toEqual({ mtu: 1450, source: "default" });
    expect(underlayMtuFor(1450)).toBe(1500);
  });
  it("takes wireguard's MTU as the device's own", () => {
    const wg = resolved({ Backend: { Type: "wireguard", MTU: 1420 } }).Backend;
    expect(overlayMtu(wg, 1500)).toEqual({ mtu: 1420, source: "config" });
  });
});

describe("overlayDeviceName", () => {
  it("names each backend's device as flanneld does", () => {
    expect(overlayDeviceName(resolved({ Backend: { Type: "vxlan", VNI: 7 } }))).toBe("flannel.7");
    expect(overlayDeviceName(resolved({ Backend: { Type: "vxlan", VNI: 7 } }), 6)).toBe("flannel-v6.7");
    expect(overlayDeviceName(resolved({ Backend: { Type: "udp" } }))).toBe("flannel0");
    expect(overlayDeviceName(resolved({ Backend: { Type: "host-gw" } }))).toBeNull();
    const v6only = resolved({
      EnableIPv4: false,
      Network: undefined,
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      Backend: { Type: "vxlan" },
    });
    expect(overlayDeviceName(v6only)).toBe("flannel-v6.1");
  });
});
