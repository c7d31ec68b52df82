import { describe, expect, it } from "vitest";
import { vxlanDeviceName } from "./overlay.js";
import { type ValidateOptions, validateConfig } from "./validate.js";

function vxlan(
  backend: Record<string, unknown>,
  opts: ValidateOptions = {},
  top: Record<string, unknown> = {},
) {
  return validateConfig({ Network: "10.5.0.0/16", ...top, Backend: { Type: "vxlan", ...backend } }, opts);
}
const pairs = (ds: { path: string; message: string }[]) => ds.map((d) => [d.path, d.message]);

describe("vxlanDeviceName", () => {
  it("names the devices as flanneld does", () => {
    expect(vxlanDeviceName(1)).toBe("flannel.1");
    expect(vxlanDeviceName(4096, true)).toBe("flannel-v6.4096");
  });
});

describe("the vxlan backend", () => {
  it("fills flannel's defaults", () => {
    const r = vxlan({});
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(r.resolved?.Backend).toEqual({
      Type: "vxlan",
      VNI: 1,
      Port: 0,
      GBP: false,
      Learning: false,
      DirectRouting: false,
    });
  });

  it("matches Type and field names case-insensitively", () => {
    const r = validateConfig({
      Network: "10.5.0.0/16",
      backend: { TYPE: "VxLAN", vni: 7, PORT: 4789, directrouting: true, mtu: 1500 },
    });
    expect(r.errors).toEqual([]);
    expect(r.resolved?.Backend).toEqual({
      Type: "vxlan",
      VNI: 7,
      Port: 4789,
      GBP: false,
      Learning: false,
      DirectRouting: true,
      MTU: 1500,
    });
  });

  describe("VNI", () => {
    it("accepts 0 … 16777215 minus what the device name cannot hold", () => {
      expect(vxlan({ VNI: 0 }).valid).toBe(true);
      expect(vxlan({ VNI: 9_999_999 }).errors).toEqual([]);
    });
    it("rejects values outside 0 … 16777215 and non-integers", () => {
      for (const VNI of [-1, 16_777_216, 1.5, "1"]) {
        expect(pairs(vxlan({ VNI }).errors)[0]?.[1]).toMatch(
          /^VNI must be an integer from 0 to 16777215, not /,
        );
      }
      expect(pairs(vxlan({ VNI: -1 }).errors)).toEqual([
        ["/Backend/VNI", "VNI must be an integer from 0 to 16777215, not the number -1"],
      ]);
      expect(vxlan({ VNI: -1 }).resolved).toBeUndefined();
    });
    it("warns above 65535, where old flannel truncates to 16 bits", () => {
      expect(pairs(vxlan({ VNI: 65_537 }).warnings)).toEqual([
        [
          "/Backend/VNI",
          "VNI 65537 is above 65535: flannel before v0.24 stored the VNI in 16 bits and silently uses 1 instead",
        ],
      ]);
      expect(vxlan({ VNI: 65_535 }).warnings).toEqual([]);
    });
    it("rejects a VNI whose device name exceeds 15 characters", () => {
      expect(pairs(vxlan({ VNI: 10_000_000 }).errors)).toEqual([
        [
          "/Backend/VNI",
          "VNI 10000000 makes the device name flannel.10000000 16 characters long; Linux allows at most 15",
        ],
      ]);
    });
    it("checks flannel-v6.<VNI> too when IPv6 is on", () => {
      const top = { EnableIPv6: true, IPv6Network: "fc00::/48" };
      expect(vxlan({ VNI: 9999 }, {}, top).errors).toEqual([]);
      expect(pairs(vxlan({ VNI: 10_000 }, {}, top).errors)).toEqual([
        [
          "/Backend/VNI",
          "VNI 10000 makes the device name flannel-v6.10000 16 characters long; Linux allows at most 15",
        ],
      ]);
      expect(vxlan({ VNI: 10_000 }).errors).toEqual([]);
    });
  });

  describe("Port", () => {
    it("accepts 0 (kernel default) and 1 … 65535", () => {
      expect(vxlan({ Port: 0 }).valid).toBe(true);
      expect(vxlan({ Port: 65_535 }).valid).toBe(true);
    });
    it("rejects anything else", () => {
      expect(pairs(vxlan({ Port: 65_536 }).errors)).toEqual([
        ["/Backend/Port", "Port must be an integer from 0 to 65535, not the number 65536"],
      ]);
      expect(vxlan({ Port: -1 }).valid).toBe(false);
      expect(vxlan({ Port: "4789" }).valid).toBe(false);
    });
    // Decision: only an explicit 8472 gets the note; the default (0, which the kernel turns into
    // 8472) would put a warning on nearly every config and make --strict useless.
    it("warns, low-key, only when Port is explicitly 8472", () => {
      expect(pairs(vxlan({ Port: 8472 }).warnings)).toEqual([
        [
          "/Backend/Port",
          "Port 8472 is the kernel's VXLAN default; some virtual switches (VMware NSX, vCloud) drop it silently, and IANA's VXLAN port is 4789",
        ],
      ]);
      expect(vxlan({ Port: 8472 }).valid).toBe(true);
      expect(vxlan({}).warnings).toEqual([]);
      expect(vxlan({ Port: 0 }).warnings).toEqual([]);
    });
  });

  describe("MTU", () => {
    it("warns that flanneld before v0.21.3 ignores MTU", () => {
      expect(pairs(vxlan({ MTU: 1400 }).warnings)).toEqual([
        [
          "/Backend/MTU",
          "Backend.MTU is honoured by flanneld v0.21.3 and later: an older flanneld ignores it and uses its underlay's MTU minus 50, so a network with such hosts runs two MTUs; upgrade them or drop MTU",
        ],
      ]);
      expect(vxlan({}).warnings).toEqual([]);
    });
    it("needs MTU − 50 ≥ 68", () => {
      expect(vxlan({ MTU: 118 }).valid).toBe(true);
      expect(pairs(vxlan({ MTU: 117 }).errors)).toEqual([
        ["/Backend/MTU", "MTU 117 leaves 67 for the VXLAN device (MTU minus 50); it must be at least 68"],
      ]);
    });
    it("needs MTU − 50 ≥ 1280 with IPv6", () => {
      const top = { EnableIPv6: true, IPv6Network: "fc00::/48" };
      expect(vxlan({ MTU: 1330 }, {}, top).valid).toBe(true);
      expect(pairs(vxlan({ MTU: 1329 }, {}, top).errors)).toEqual([
        [
          "/Backend/MTU",
          "MTU 1329 leaves 1279 for the VXLAN device (MTU minus 50); it must be at least 1280 with EnableIPv6",
        ],
      ]);
    });
    it("must be a positive integer", () => {
      expect(pairs(vxlan({ MTU: 1500.5 }).errors)).toEqual([
        ["/Backend/MTU", "MTU must be an integer from 1 to 65535, not the number 1500.5"],
      ]);
    });
  });

  it("wants booleans for GBP, Learning and DirectRouting", () => {
    expect(pairs(vxlan({ GBP: "true", Learning: 1, DirectRouting: "yes" }).errors)).toEqual([
      ["/Backend/GBP", 'GBP must be true or false, not the string "true"'],
      ["/Backend/Learning", "Learning must be true or false, not the number 1"],
      ["/Backend/DirectRouting", 'DirectRouting must be true or false, not the string "yes"'],
    ]);
  });

  it("checks MacPrefix's format and notes that Linux ignores it", () => {
    expect(pairs(vxlan({ MacPrefix: "0E2A" }).errors)).toEqual([
      [
        "/Backend/MacPrefix",
        'MacPrefix must be a MAC prefix of the form xx-xx such as "0E-2A", not the string "0E2A"',
      ],
    ]);
    expect(pairs(vxlan({ MacPrefix: "0e-2a" }).warnings)).toEqual([
      ["/Backend/MacPrefix", "MacPrefix is only used by flannel on Windows; Linux ignores it"],
    ]);
  });

  it("warns about a misspelt field with a did-you-mean", () => {
    expect(pairs(vxlan({ DirectRoutng: true }).warnings)).toEqual([
      [
        "/Backend/DirectRoutng",
        'unknown key "DirectRoutng" is ignored by flannel; did you mean `DirectRouting`?',
      ],
    ]);
  });

  it("points out a field of another backend", () => {
    expect(pairs(vxlan({ ListenPort: 51_820 }).warnings)).toEqual([
      [
        "/Backend/ListenPort",
        'unknown key "ListenPort" is ignored by flannel; `ListenPort` is a field of the wireguard backend, not of vxlan',
      ],
    ]);
  });

  describe("on Windows", () => {
    const windows: ValidateOptions = { target: "windows" };
    it("defaults to VNI 4096, port 4789 and MacPrefix 0E-2A", () => {
      const r = vxlan({}, windows);
      expect(r.errors).toEqual([]);
      expect(r.resolved?.Backend).toMatchObject({ VNI: 4096, Port: 4789, MacPrefix: "0E-2A" });
    });
    it("rejects VNI below 4096, another port, GBP and DirectRouting with flannel's messages", () => {
      const r = vxlan({ VNI: 1, Port: 8472, GBP: true, DirectRouting: true }, windows);
      expect(pairs(r.errors)).toEqual([
        [
          "/Backend/VNI",
          "invalid VXLAN backend config. VNI [1] must be greater than or equal to 4096 on Windows",
        ],
        [
          "/Backend/Port",
          "invalid VXLAN backend config. Port [8472] is not supported on Windows. Omit the setting to default to port 4789",
        ],
        ["/Backend/DirectRouting", "invalid VXLAN backend config. DirectRouting is not supported on Windows"],
        ["/Backend/GBP", "invalid VXLAN backend config. GBP is not supported on Windows"],
      ]);
    });
    it("accepts MacPrefix without the Linux note", () => {
      expect(vxlan({ MacPrefix: "0E-2B" }, windows).warnings).toEqual([]);
    });
  });
});
