import { describe, expect, it } from "vitest";
import {
  encodeVxlanData,
  keepBackendData,
  missingBackendData,
  normaliseMac,
  parseVxlanData,
  parseWireguardData,
  vtepMacOf,
  vxlanDataOf,
} from "./backend-data.js";
import { decodeLeaseValue, type LeaseAttrs } from "./lease-codec.js";

const MAC = "c6:d2:32:6f:8f:44";
const vx = (backendData?: string): LeaseAttrs => ({
  publicIP: "192.0.2.7",
  publicIPv6: null,
  backendType: "vxlan",
  ...(backendData !== undefined && { backendData }),
});

describe("vxlan backend data", () => {
  it("reads flanneld's bytes and any spelling Go would accept, to the same value", () => {
    const canonical = `{"VNI":1,"VtepMAC":"${MAC}"}`;
    expect(parseVxlanData(canonical)).toEqual({ vni: 1, vtepMac: MAC });
    expect(parseVxlanData('{"vni":1,"vtepmac":"C6:D2:32:6F:8F:44"}')).toEqual({ vni: 1, vtepMac: MAC });
    expect(parseVxlanData('{ "VtepMAC": "c6-d2-32-6f-8f-44", "Vni": 1, "extra": true }')).toEqual({
      vni: 1,
      vtepMac: MAC,
    });
  });

  it("names what is wrong with damaged data", () => {
    expect(parseVxlanData(undefined)).toBe("its BackendData is empty");
    expect(parseVxlanData("{")).toBe("its BackendData is not valid JSON");
    expect(parseVxlanData("[1]")).toBe("its BackendData is not an object");
    expect(parseVxlanData(`{"VNI":"1","VtepMAC":"${MAC}"}`)).toBe("its BackendData has no valid VNI");
    expect(parseVxlanData('{"VNI":1}')).toBe("its BackendData has no VtepMAC");
    expect(parseVxlanData('{"VNI":1,"VtepMAC":"01:00:5e:00:00:01"}')).toMatch(/not a unicast MAC/);
    expect(parseVxlanData(`{"VNI":16777216,"VtepMAC":"${MAC}"}`)).toMatch(/VNI above 16777215/);
    expect(parseVxlanData(undefined, "BackendV6Data")).toBe("its BackendV6Data is empty");
  });

  it("the fast path agrees with the schema on every value it takes", () => {
    for (const raw of [
      `{"VNI":1,"VtepMAC":"${MAC}"}`,
      `{"VNI":0,"VtepMAC":"${MAC}"}`,
      `{"VNI":16777215,"VtepMAC":"02:00:00:00:00:01"}`,
      `{"VNI":1,"VtepMAC":"01:00:00:00:00:01"}`,
      `{"VNI":1,"VtepMAC":"00:00:00:00:00:00"}`,
    ]) {
      // The same text with a space defeats the fast path and goes through the schema.
      expect(parseVxlanData(raw)).toEqual(parseVxlanData(raw.replace(",", ", ")));
    }
  });

  it("encodes exactly as flanneld writes, and refuses what it could not read back", () => {
    expect(encodeVxlanData({ vni: 1, vtepMac: "C6-D2-32-6F-8F-44" })).toBe(`{"VNI":1,"VtepMAC":"${MAC}"}`);
    expect(() => encodeVxlanData({ vni: 1, vtepMac: "nope" })).toThrow(/not a unicast MAC/);
    expect(() => encodeVxlanData({ vni: -1, vtepMac: MAC })).toThrow(/VNI -1/);
  });

  it("finds a lease's VtepMAC whatever the case of BackendType and of its fields", () => {
    const decoded = decodeLeaseValue(
      `{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"VXLAN","BackendData":{"vni":1,"vtepmac":"${MAC}"}}`,
    );
    expect(decoded.ok && vtepMacOf(decoded.attrs)).toBe(MAC);
    expect(vtepMacOf({ publicIP: "192.0.2.7", publicIPv6: null, backendType: "host-gw" })).toBeNull();
    expect(vxlanDataOf({ publicIP: "192.0.2.7", publicIPv6: null })).toMatch(/not set/);
  });

  it("says when a vxlan lease could not carry traffic", () => {
    expect(missingBackendData(vx())).toBe("its BackendData is empty");
    expect(missingBackendData(vx(`{"VNI":1,"VtepMAC":"${MAC}"}`))).toBeNull();
    expect(
      missingBackendData({ publicIP: "192.0.2.7", publicIPv6: null, backendType: "host-gw" }),
    ).toBeNull();
  });
});

describe("keepBackendData", () => {
  const live = vx(`{"VNI":1,"VtepMAC":"${MAC}"}`);
  it("keeps the live lease's data when none is given", () => {
    expect(keepBackendData(vx(), live)).toEqual(live);
  });
  it("takes new data when it is given", () => {
    const other = vx('{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}');
    expect(keepBackendData(other, live)).toEqual(other);
  });
  it("keeps the IPv6 side unless a new one is given", () => {
    const dual = { ...live, publicIPv6: "fc00::7", backendV6Data: `{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}` };
    expect(keepBackendData(vx(), dual)).toEqual(dual);
  });
  it("keeps nothing across a change of backend", () => {
    const hostgw: LeaseAttrs = { publicIP: "192.0.2.7", publicIPv6: null, backendType: "host-gw" };
    expect(keepBackendData(hostgw, live)).toEqual(hostgw);
  });
});

describe("wireguard backend data", () => {
  it("reads a public key and port", () => {
    const key = "x".repeat(42) + "A=";
    expect(parseWireguardData(`{"PublicKey":"${key}","Port":51820}`)).toEqual({
      publicKey: key,
      port: 51820,
    });
    expect(parseWireguardData('{"PublicKey":"short","Port":51820}')).toMatch(/not a base64 WireGuard key/);
  });
});

describe("normaliseMac", () => {
  it("refuses multicast and zero MACs", () => {
    expect(normaliseMac("01:00:5e:00:00:01")).toBeNull();
    expect(normaliseMac("00:00:00:00:00:00")).toBeNull();
    expect(normaliseMac("C6-D2-32-6F-8F-44")).toBe(MAC);
  });
});
