import { isPodnetError } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { ifconfigDocument, parseDeviceName, parseIfconfigWords } from "./ifconfig-grammar.js";

const words = (line: string) => line.split(/\s+/).filter((w) => w !== "");

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isPodnetError(err, "usage")) return err.message;
    throw err;
  }
  throw new Error("expected a usage error");
}

describe("ifconfig grammar", () => {
  it("builds the issue's example from scratch, in word order", () => {
    const { text } = ifconfigDocument(
      words(
        "flannel.1 10.5.0.0/16 subnetlen 24 min 10.5.1.0 max 10.5.200.0 vxlan vni 1 port 8472 mtu 1500 -gbp directrouting",
      ),
    );
    expect(text).toBe(
      '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.200.0","Backend":{"Type":"vxlan","VNI":1,"Port":8472,"MTU":1500,"GBP":false,"DirectRouting":true}}',
    );
  });

  it("changes only what the words name, keeping spelling, order and layout", () => {
    const stored = '{"network":"10.5.0.0/16","Backend":{"type":"VXLAN","vni":1,"Foo":"x"}}';
    expect(ifconfigDocument(words("flannel.1 port 4789"), stored).text).toBe(
      '{"network":"10.5.0.0/16","Backend":{"type":"VXLAN","vni":1,"Foo":"x","Port":4789}}',
    );
    const pretty = '{\n  "Network": "10.5.0.0/16",\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n';
    expect(ifconfigDocument(words("subnetlen 26 learning"), pretty).text).toBe(
      '{\n  "Network": "10.5.0.0/16",\n  "SubnetLen": 26,\n  "Backend": {\n    "Type": "vxlan",\n    "Learning": true\n  }\n}\n',
    );
    const spaced = '{"Network": "10.5.0.0/16", "Backend": {"Type": "vxlan"}}';
    expect(ifconfigDocument(words("mtu 9000"), spaced).text).toBe(
      '{"Network": "10.5.0.0/16", "Backend": {"Type": "vxlan", "MTU": 9000}}',
    );
  });

  it("a device name implies vxlan and sets the VNI only when it differs", () => {
    expect(ifconfigDocument(words("flannel.1 10.5.0.0/16")).document).toEqual({
      Network: "10.5.0.0/16",
      Backend: { Type: "vxlan" },
    });
    const hostGw = '{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}';
    expect(ifconfigDocument(words("flannel.7"), hostGw).document).toEqual({
      Network: "10.5.0.0/16",
      Backend: { Type: "vxlan", VNI: 7 },
    });
    expect(parseDeviceName("flannel-v6.42")).toEqual({ vni: 42, ipv6: true });
  });

  it("refuses a device name that is not the stored network's, unless vni changes it", () => {
    const vni1 = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
    expect(usageError(() => ifconfigDocument(words("flannel.2 mtu 1400"), vni1))).toMatch(
      /^flannel\.2 is not this network's device: its VNI is 1, so flanneld makes flannel\.1/,
    );
    const noVni = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
    expect(usageError(() => ifconfigDocument(words("flannel.3"), noVni))).toMatch(/its VNI is 1/);
    expect(ifconfigDocument(words("flannel.1 mtu 1400"), vni1).document["Backend"]).toEqual({
      Type: "vxlan",
      VNI: 1,
      MTU: 1400,
    });
    expect(ifconfigDocument(words("flannel.2 vni 2"), vni1).document["Backend"]).toEqual({
      Type: "vxlan",
      VNI: 2,
    });
    expect(parseDeviceName("eth0")).toBeUndefined();
  });

  it("switching backend type drops the old backend's fields; options map per backend", () => {
    const vx = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":4,"GBP":true}}';
    expect(ifconfigDocument(words("wireguard port 51000"), vx).document["Backend"]).toEqual({
      Type: "wireguard",
      ListenPort: 51000,
    });
    expect(ifconfigDocument(words("ipip -directrouting"), vx).document["Backend"]).toEqual({
      Type: "ipip",
      DirectRouting: false,
    });
    expect(usageError(() => ifconfigDocument(words("host-gw vni 3"), vx))).toMatch(
      /"vni" does not apply to the host-gw backend; it is a vxlan setting/,
    );
  });

  it("ipv6 words enable IPv6; -ipv4 disables IPv4", () => {
    const { document } = ifconfigDocument(
      words("-ipv4 ipv6 fc00::/48 ipv6subnetlen 64 ipv6min fc00:0:0:1:: vxlan"),
    );
    expect(document).toEqual({
      EnableIPv4: false,
      EnableIPv6: true,
      IPv6Network: "fc00::/48",
      IPv6SubnetLen: 64,
      IPv6SubnetMin: "fc00:0:0:1::",
      Backend: { Type: "vxlan" },
    });
  });

  it("rejects unknown and malformed words with a usage error", () => {
    expect(usageError(() => parseIfconfigWords(["10.5.0.0/16", "vxaln"]))).toBe(
      'unknown word "vxaln"; did you mean "vxlan"?',
    );
    expect(usageError(() => parseIfconfigWords(["prot", "1"]))).toMatch(/did you mean "port"/);
    expect(usageError(() => parseIfconfigWords(["subnetlen"]))).toMatch(/"subnetlen" needs a prefix length/);
    expect(usageError(() => parseIfconfigWords(["vni", "x"]))).toMatch(/needs a whole number, not "x"/);
    expect(usageError(() => parseIfconfigWords(["min", "10.5.1"]))).toMatch(/IPv4 address/);
    expect(usageError(() => parseIfconfigWords(["flannel.1", "vni", "2"]))).toMatch(
      /names VNI 1 but "vni 2"/,
    );
    expect(usageError(() => parseIfconfigWords(["flannel.1", "host-gw"]))).toMatch(/vxlan device/);
    expect(usageError(() => parseIfconfigWords(["vxlan", "udp"]))).toMatch(/two backend types/);
    // A malformed network gets ip-cidr's verdict in podnet's words, not "unknown word".
    expect(usageError(() => parseIfconfigWords(["10.5.0.0/33"]))).toBe(
      '"10.5.0.0/33" has a prefix length "33" that is not a number from 0 to 32',
    );
    expect(usageError(() => parseIfconfigWords(["10.5.0.0"]))).toMatch(
      /"10.5.0.0" is an address without a prefix length; write a CIDR such as 10.5.0.0\/16/,
    );
    expect(usageError(() => parseIfconfigWords(["10.5.0.0", "netmask", "255.0.255.0"]))).toMatch(
      /"255.0.255.0" is not a netmask: its ones must come first/,
    );
    expect(usageError(() => parseIfconfigWords(["port", "1", "flannel.1"]))).toMatch(/may only come first/);
  });

  it("takes ifconfig's own `ADDRESS netmask MASK` for the network", () => {
    expect(parseIfconfigWords(["10.5.0.0", "netmask", "255.255.0.0"]).settings).toEqual([
      { kind: "top", field: "Network", value: "10.5.0.0/16" },
    ]);
    expect(parseIfconfigWords(["fc00::/48"]).settings).toEqual([
      { kind: "top", field: "EnableIPv6", value: true },
      { kind: "top", field: "IPv6Network", value: "fc00::/48" },
    ]);
  });

  it("refuses to edit a stored document that is not a JSON object", () => {
    expect(() => ifconfigDocument(["port", "1"], "[1,2]")).toThrow(/not a JSON object/);
    expect(() => ifconfigDocument(["port", "1"], "{oops")).toThrow(/not a JSON object/);
  });
});
