import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatAddress,
  formatCidr,
  formatIPv4,
  formatIPv4Cidr,
  formatIPv6,
  formatIPv6Cidr,
  ipv4Mask,
  ipv4NetContains,
  ipv4NetsOverlap,
  ipv4Size,
  ipv4TextLength,
  ipv6Mask,
  ipv6NetsOverlap,
  maskIPv4,
  maskIPv6,
  parseIPv4,
  parseIPv4Cidr,
  parseIPv6,
  parseIPv6Cidr,
} from "./address.js";

describe("IPv4", () => {
  it("parses dotted quads as unsigned integers", () => {
    expect(parseIPv4("0.0.0.0")).toBe(0);
    expect(parseIPv4("10.5.52.0")).toBe(0x0a053400);
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
  });

  it("rejects what Go's ParseIP rejects", () => {
    for (const bad of [
      "010.5.0.0",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.0",
      "1..2.3",
      "",
      "a.b.c.d",
      " 1.2.3.4",
      "1.2.3.4/24",
    ]) {
      expect(parseIPv4(bad), bad).toBeNull();
    }
  });

  it("formats and round-trips every address", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (ip) => parseIPv4(formatIPv4(ip)) === ip));
    expect(formatIPv4(0xc0a84003)).toBe("192.168.64.3");
  });

  it("says the length of any address's dotted quad without making it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        (ip) => ipv4TextLength(ip) === formatIPv4(ip).length,
      ),
    );
    expect([0, 0xffffffff, 0x0a000164].map(ipv4TextLength)).toEqual([7, 15, 10]);
  });

  it("computes masks, sizes, containment and overlap", () => {
    expect(ipv4Mask(0)).toBe(0);
    expect(ipv4Mask(24)).toBe(0xffffff00);
    expect(ipv4Mask(32)).toBe(0xffffffff);
    expect(maskIPv4(0x0a053401, 24)).toBe(0x0a053400);
    expect(ipv4Size(24)).toBe(256);
    expect(ipv4Size(0)).toBe(2 ** 32);
    const net = parseIPv4Cidr("10.5.0.0/16")!;
    expect(ipv4NetContains(net, parseIPv4("10.5.255.255")!)).toBe(true);
    expect(ipv4NetContains(net, parseIPv4("10.6.0.0")!)).toBe(false);
    expect(ipv4NetsOverlap(parseIPv4Cidr("10.0.0.0/23")!, parseIPv4Cidr("10.0.1.0/24")!)).toBe(true);
    expect(ipv4NetsOverlap(parseIPv4Cidr("10.0.0.0/24")!, parseIPv4Cidr("10.0.1.0/24")!)).toBe(false);
  });

  it("parses and formats CIDRs", () => {
    expect(parseIPv4Cidr("10.5.52.1/24")).toEqual({ ip: 0x0a053401, prefix: 24 });
    expect(formatIPv4Cidr({ ip: 0x0a053400, prefix: 24 })).toBe("10.5.52.0/24");
    for (const bad of ["10.0.0.0/33", "10.0.0.0/024", "10.0.0.0", "10.0.0.0/", "10.0.0.0/-1"]) {
      expect(parseIPv4Cidr(bad), bad).toBeNull();
    }
  });
});

describe("IPv6", () => {
  it("parses the usual spellings", () => {
    expect(parseIPv6("::")).toBe(0n);
    expect(parseIPv6("::1")).toBe(1n);
    expect(parseIPv6("fc00:0:0:1::")).toBe(0xfc00_0000_0000_0001n << 64n);
    expect(parseIPv6("FC00:0000:0000:0001:0000:0000:0000:0000")).toBe(0xfc00_0000_0000_0001n << 64n);
    expect(parseIPv6("::ffff:1.2.3.4")).toBe(0xffff_0102_0304n);
    expect(parseIPv6("1:2:3:4:5:6:1.2.3.4")).toBe(0x0001_0002_0003_0004_0005_0006_0102_0304n);
  });

  it("rejects what Go's ParseIP rejects", () => {
    for (const bad of [
      "",
      ":",
      ":::",
      "1:::2",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::8",
      "1:2:3:4:5:6:7:8::",
      "12345::",
      "g::",
      "fe80::1%eth0",
      "1.2.3.4",
      "::1.2.3",
      ":1::2",
      "1::2:",
    ]) {
      expect(parseIPv6(bad), bad).toBeNull();
    }
  });

  it("formats in canonical compressed lower-case form", () => {
    expect(formatIPv6(0xfc00_0000_0000_0001n << 64n)).toBe("fc00:0:0:1::");
    expect(formatIPv6(0n)).toBe("::");
    expect(formatIPv6(1n)).toBe("::1");
    expect(formatIPv6(parseIPv6("2001:db8:0:1:1:1:1:1")!)).toBe("2001:db8:0:1:1:1:1:1"); // a lone 0 stays
    expect(formatIPv6(parseIPv6("2001:0:0:1:0:0:0:1")!)).toBe("2001:0:0:1::1"); // the longest run
    expect(formatIPv6(parseIPv6("2001:0:0:1:0:0:1:1")!)).toBe("2001::1:0:0:1:1"); // first of equal runs
    expect(formatIPv6(parseIPv6("ABCD::EF")!)).toBe("abcd::ef");
  });

  it("round-trips every address", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (ip) => parseIPv6(formatIPv6(ip)) === ip),
    );
    // many zero groups, to exercise compression
    const sparse = fc
      .array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 })
      .map((gs) => gs.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n));
    fc.assert(fc.property(sparse, (ip) => parseIPv6(formatIPv6(ip)) === ip));
  });

  it("computes masks and overlap, and parses CIDRs", () => {
    expect(ipv6Mask(0)).toBe(0n);
    expect(ipv6Mask(128)).toBe((1n << 128n) - 1n);
    expect(maskIPv6(parseIPv6("fc00::1:2:3:4")!, 64)).toBe(parseIPv6("fc00::"));
    const net = parseIPv6Cidr("fc00::/48")!;
    expect(net).toEqual({ ip: parseIPv6("fc00::"), prefix: 48 });
    expect(formatIPv6Cidr(net)).toBe("fc00::/48");
    expect(ipv6NetsOverlap(net, parseIPv6Cidr("fc00:0:0:1::/64")!)).toBe(true);
    expect(ipv6NetsOverlap(net, parseIPv6Cidr("fc00:0:1::/64")!)).toBe(false);
    expect(parseIPv6Cidr("fc00::/129")).toBeNull();
  });
});

describe("formatAddress and formatCidr", () => {
  it("print an address by its own family: a number is IPv4, a bigint IPv6", () => {
    expect(formatAddress(parseIPv4("10.5.7.1") as number)).toBe("10.5.7.1");
    expect(formatAddress(parseIPv6("fc00:0:0:7::1") as bigint)).toBe("fc00:0:0:7::1");
    expect(formatCidr(parseIPv4("10.5.7.0") as number, 24)).toBe("10.5.7.0/24");
    expect(formatCidr(parseIPv6("fc00:0:0:7::") as bigint, 64)).toBe("fc00:0:0:7::/64");
  });
});
