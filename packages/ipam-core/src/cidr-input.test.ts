import { describe, expect, it } from "vitest";
import { checkAddress, checkCidr, checkNetmask, formatNetmask, parseCidrInput } from "./cidr-input.js";

describe("checkCidr", () => {
  it("reads IPv4 and IPv6 CIDRs into podnet's integers, host bits as typed", () => {
    expect(checkCidr("10.5.0.0/16")).toEqual({ family: 4, net: { ip: 0x0a050000, prefix: 16 } });
    expect(checkCidr("10.5.0.1/16", 4)).toEqual({ family: 4, net: { ip: 0x0a050001, prefix: 16 } });
    expect(checkCidr("fc00::/48", 6)).toEqual({ family: 6, net: { ip: 0xfc00n << 112n, prefix: 48 } });
  });

  it("says what is wrong in one sentence", () => {
    expect(checkCidr("10.5.0.0")).toBe(
      '"10.5.0.0" is an address without a prefix length; write a CIDR such as 10.5.0.0/16',
    );
    expect(checkCidr("10.5.0.0/33")).toBe(
      '"10.5.0.0/33" has a prefix length "33" that is not a number from 0 to 32',
    );
    expect(checkCidr("fc00::/129")).toBe(
      '"fc00::/129" has a prefix length "129" that is not a number from 0 to 128',
    );
    expect(checkCidr("10.5.0.300/16", 4)).toBe(
      '"10.5.0.300/16" is not an IPv4 CIDR such as 10.5.0.0/16: "10.5.0.300" is not an IP address',
    );
    expect(checkCidr("010.5.0.0/16")).toMatch(/"010.5.0.0\/16" is not a CIDR/);
    expect(checkCidr(" 10.5.0.0/16")).toBe('" 10.5.0.0/16" is not a CIDR such as 10.5.0.0/16');
    expect(checkCidr("fc00::/48", 4)).toBe(
      '"fc00::/48" is an IPv6 CIDR; an IPv4 CIDR such as 10.5.0.0/16 is needed here',
    );
    expect(checkCidr("10.0.0.0/8", 6)).toBe(
      '"10.0.0.0/8" is an IPv4 CIDR; an IPv6 CIDR such as fc00::/48 is needed here',
    );
  });

  it("parseCidrInput throws a usage error naming the input", () => {
    expect(() => parseCidrInput("nope", "--underlay")).toThrow(
      expect.objectContaining({
        code: "usage",
        message: '--underlay: "nope" is not a CIDR such as 10.5.0.0/16',
      }),
    );
  });
});

describe("checkAddress", () => {
  it("accepts one address of either family and says why anything else is not one", () => {
    expect(checkAddress("10.5.77.9")).toBeUndefined();
    expect(checkAddress("fc00::1")).toBeUndefined();
    expect(checkAddress("10.5.300.1")).toBe(
      '"10.5.300.1" is not an IPv4 or IPv6 address such as 10.5.77.9 or fc00::1',
    );
    expect(checkAddress("10.5.0.0/16")).toBe(
      '"10.5.0.0/16" is a network; give one address in it, such as 10.5.0.0',
    );
  });
});

describe("netmasks", () => {
  it("reads dotted masks and prefix lengths", () => {
    expect(checkNetmask("255.255.0.0")).toBe(16);
    expect(checkNetmask("255.255.255.252")).toBe(30);
    expect(checkNetmask("0.0.0.0")).toBe(0);
    expect(checkNetmask("24")).toBe(24);
    expect(checkNetmask("/8")).toBe(8);
    expect(checkNetmask("255.0.255.0")).toBe(
      '"255.0.255.0" is not a netmask: its ones must come first, as in 255.255.0.0',
    );
    expect(checkNetmask("33")).toMatch(/is not a netmask such as 255.255.0.0 or a prefix length/);
    expect(checkNetmask("ffff::")).toMatch(/is not a netmask/);
  });

  it("prints the dotted mask of a prefix length", () => {
    expect(formatNetmask(24)).toBe("255.255.255.0");
    expect(formatNetmask(0)).toBe("0.0.0.0");
    expect(formatNetmask(32)).toBe("255.255.255.255");
    expect(formatNetmask(19)).toBe("255.255.224.0");
  });
});
