import { describe, expect, it } from "vitest";
import { validateConfig } from "./validate.js";

function withBackend(backend: unknown) {
  return validateConfig({ Network: "10.5.0.0/16", Backend: backend });
}
const pairs = (ds: { path: string; message: string }[]) => ds.map((d) => [d.path, d.message]);
const KNOWN = "known types are vxlan, host-gw, udp, ipip, wireguard, ipsec, alloc, extension, tencent-vpc";
const PSK96 = "p".repeat(96);

describe("the Backend object", () => {
  it("absent: valid, but flannel then uses udp, not vxlan", () => {
    const r = validateConfig({ Network: "10.5.0.0/16" });
    expect(r.valid).toBe(true);
    expect(pairs(r.warnings)).toEqual([
      [
        "/Backend",
        'no Backend given: flannel then uses the udp backend (not vxlan, as its docs claim), which is for debugging only; add "Backend": {"Type": "vxlan"}',
      ],
    ]);
    expect(r.resolved?.Backend).toEqual({ Type: "udp", Port: 8285 });
  });

  it("not an object: error", () => {
    expect(pairs(withBackend("vxlan").errors)).toEqual([
      ["/Backend", 'Backend must be an object with a Type such as {"Type": "vxlan"}, not the string "vxlan"'],
    ]);
    expect(withBackend(null).valid).toBe(false);
    expect(withBackend([]).valid).toBe(false);
    expect(withBackend("vxlan").resolved).toBeUndefined();
  });

  it("without Type: error, flanneld exits", () => {
    expect(pairs(withBackend({ VNI: 1 }).errors)).toEqual([
      ["/Backend", `Backend has no Type, so flanneld exits; ${KNOWN}`],
    ]);
    expect(withBackend({ Type: "" }).valid).toBe(false);
  });

  it("Type of the wrong JSON type: error", () => {
    expect(pairs(withBackend({ Type: 1 }).errors)).toEqual([
      ["/Backend/Type", 'Type must be a string such as "vxlan", not the number 1'],
    ]);
  });

  it("unknown Type: flannel's message, with a did-you-mean", () => {
    expect(pairs(withBackend({ Type: "vxaln" }).errors)).toEqual([
      ["/Backend/Type", `unknown backend type: vxaln (did you mean \`vxlan\`?); ${KNOWN}`],
    ]);
    expect(pairs(withBackend({ type: "flannel" }).errors)).toEqual([
      ["/Backend/type", `unknown backend type: flannel; ${KNOWN}`],
    ]);
  });

  it("Type is case-insensitive and resolved lower-case", () => {
    expect(withBackend({ type: "HOST-GW" }).resolved?.Backend).toEqual({ Type: "host-gw" });
    expect(withBackend({ Type: "Tencent-VPC" }).resolved?.Backend).toEqual({ Type: "tencent-vpc" });
    expect(withBackend({ Type: "ALLOC" }).resolved?.Backend).toEqual({ Type: "alloc" });
  });

  it("backends without fields warn about any field", () => {
    expect(pairs(withBackend({ Type: "host-gw", DirectRouting: true }).warnings)).toEqual([
      [
        "/Backend/DirectRouting",
        'unknown key "DirectRouting" is ignored by flannel; `DirectRouting` is a field of the vxlan backend, not of host-gw',
      ],
    ]);
  });

  it("a top-level key inside Backend is pointed out", () => {
    expect(pairs(withBackend({ Type: "vxlan", Network: "10.0.0.0/8" }).warnings)).toEqual([
      [
        "/Backend/Network",
        'unknown key "Network" is ignored by flannel; `Network` belongs at the top level, not inside Backend',
      ],
    ]);
  });
});

describe("udp", () => {
  it("defaults Port to 8285 and warns it is for debugging", () => {
    const r = withBackend({ Type: "udp" });
    expect(r.valid).toBe(true);
    expect(r.resolved?.Backend).toEqual({ Type: "udp", Port: 8285 });
    expect(pairs(r.warnings)).toEqual([
      [
        "/Backend/Type",
        "the udp backend is for debugging only (slow, and amd64 only in flannel); use vxlan or host-gw in production",
      ],
    ]);
  });
  it("wants Port 1 … 65535", () => {
    expect(pairs(withBackend({ Type: "udp", Port: 0 }).errors)).toEqual([
      ["/Backend/Port", "Port must be an integer from 1 to 65535, not the number 0"],
    ]);
  });
});

describe("ipip", () => {
  it("has DirectRouting, a boolean", () => {
    expect(withBackend({ Type: "ipip", DirectRouting: true }).resolved?.Backend).toEqual({
      Type: "ipip",
      DirectRouting: true,
    });
    expect(withBackend({ Type: "ipip" }).resolved?.Backend).toEqual({ Type: "ipip", DirectRouting: false });
    expect(withBackend({ Type: "ipip", DirectRouting: "true" }).valid).toBe(false);
  });
});

describe("wireguard", () => {
  it("fills the defaults", () => {
    expect(withBackend({ Type: "wireguard" }).resolved?.Backend).toEqual({
      Type: "wireguard",
      ListenPort: 51_820,
      ListenPortV6: 51_821,
      PersistentKeepaliveInterval: 0,
      Mode: "separate",
    });
  });
  it("checks every field", () => {
    const r = withBackend({
      Type: "wireguard",
      ListenPort: 70_000,
      listenportv6: -1,
      MTU: "1420",
      PSK: "short",
      PersistentKeepaliveInterval: -5,
      Mode: "both",
    });
    expect(pairs(r.errors)).toEqual([
      ["/Backend/ListenPort", "ListenPort must be an integer from 1 to 65535, not the number 70000"],
      ["/Backend/listenportv6", "ListenPortV6 must be an integer from 1 to 65535, not the number -1"],
      ["/Backend/MTU", 'MTU must be an integer from 1 to 65535, not the string "1420"'],
      [
        "/Backend/PSK",
        'PSK must be a WireGuard key (44 characters of base64, as `wg genpsk` prints), not the string "short"',
      ],
      [
        "/Backend/PersistentKeepaliveInterval",
        "PersistentKeepaliveInterval must be an integer ≥ 0, not the number -5",
      ],
      ["/Backend/Mode", 'Mode must be one of "separate", "auto", "ipv4", "ipv6", not the string "both"'],
    ]);
  });
  it("accepts a real key and every mode", () => {
    for (const Mode of ["separate", "auto", "ipv4", "ipv6"]) {
      const r = withBackend({ Type: "wireguard", PSK: "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", Mode });
      expect(r.errors).toEqual([]);
    }
  });
});

describe("ipsec", () => {
  it("requires a PSK of at least 96 characters, in flannel's words", () => {
    expect(pairs(withBackend({ Type: "ipsec" }).errors)).toEqual([
      ["/Backend", "config error, password is too short: no PSK is given; flannel needs at least 96"],
    ]);
    expect(pairs(withBackend({ Type: "ipsec", PSK: "p".repeat(95) }).errors)).toEqual([
      [
        "/Backend/PSK",
        "config error, password is too short: the PSK has 95 characters; flannel needs at least 96",
      ],
    ]);
  });
  it("fills UDPEncap and ESPProposal", () => {
    expect(withBackend({ Type: "ipsec", PSK: PSK96 }).resolved?.Backend).toEqual({
      Type: "ipsec",
      PSK: PSK96,
      UDPEncap: false,
      ESPProposal: "aes128gcm16-sha256-prfsha256-ecp256",
    });
  });
  it("checks the field types", () => {
    expect(pairs(withBackend({ Type: "ipsec", PSK: PSK96, UDPEncap: "yes", ESPProposal: 3 }).errors)).toEqual(
      [
        ["/Backend/UDPEncap", 'UDPEncap must be true or false, not the string "yes"'],
        ["/Backend/ESPProposal", "ESPProposal must be a string, not the number 3"],
      ],
    );
  });
});

describe("extension", () => {
  it("takes four command strings", () => {
    const backend = {
      Type: "extension",
      PreStartupCommand: "echo pre",
      PostStartupCommand: "echo post",
      SubnetAddCommand: "add",
      SubnetRemoveCommand: "rm",
    };
    expect(withBackend(backend).resolved?.Backend).toEqual(backend);
    expect(pairs(withBackend({ Type: "extension", SubnetAddCommand: ["add"] }).errors)).toEqual([
      ["/Backend/SubnetAddCommand", "SubnetAddCommand must be a string, not an array"],
    ]);
  });
});
