import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPodnetError, parseIPv4Cidr, parseIPv6Cidr } from "@podnet/ipam-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatSubnetFile, parseSubnetFile, readSubnetFile, writeSubnetFile } from "./subnet-file.js";

const v4 = (s: string) => parseIPv4Cidr(s) ?? expect.fail(s);
const v6 = (s: string) => parseIPv6Cidr(s) ?? expect.fail(s);

const DUAL = {
  network: v4("10.5.0.0/16"),
  subnet: v4("10.5.52.0/24"),
  ipv6Network: v6("fc00::/48"),
  ipv6Subnet: v6("fc00:0:0:34::/64"),
  mtu: 1450,
  ipMasq: false,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "podnet-subnet-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("formatSubnetFile", () => {
  it("writes flanneld's lines in flanneld's order, byte for byte", () => {
    expect(formatSubnetFile(DUAL)).toBe(
      "FLANNEL_NETWORK=10.5.0.0/16\n" +
        "FLANNEL_SUBNET=10.5.52.1/24\n" +
        "FLANNEL_IPV6_NETWORK=fc00::/48\n" +
        "FLANNEL_IPV6_SUBNET=fc00:0:0:34::1/64\n" +
        "FLANNEL_MTU=1450\n" +
        "FLANNEL_IPMASQ=false\n",
    );
  });

  it("writes only the IPv4 lines for an IPv4 lease", () => {
    expect(
      formatSubnetFile({ network: v4("10.5.0.0/16"), subnet: v4("10.5.52.0/24"), mtu: 8950, ipMasq: true }),
    ).toBe(
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=8950\nFLANNEL_IPMASQ=true\n",
    );
  });

  it("writes only the IPv6 lines for an IPv6-only lease", () => {
    expect(
      formatSubnetFile({
        ipv6Network: v6("fc00::/48"),
        ipv6Subnet: v6("fc00:0:0:1::/64"),
        mtu: 1450,
        ipMasq: false,
      }),
    ).toBe(
      "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
  });

  it("refuses an impossible MTU", () => {
    expect(() => formatSubnetFile({ ...DUAL, mtu: -1 })).toThrow(/MTU/);
  });
});

describe("writeSubnetFile / readSubnetFile", () => {
  it("writes the exact bytes with mode 0644, creating the directory, leaving no temporary file", async () => {
    const path = join(dir, "run", "flannel", "subnet.env");
    await writeSubnetFile(path, DUAL);
    expect(await readFile(path, "utf8")).toBe(formatSubnetFile(DUAL));
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, "run", "flannel"))).toEqual(["subnet.env"]);
  });

  it("replaces an existing file whole, leaving no temporary file", async () => {
    const path = join(dir, "replace.env");
    await writeFile(path, "OLD=1\n".repeat(1000));
    await writeSubnetFile(path, { ...DUAL, mtu: 1400 });
    expect(await readFile(path, "utf8")).toBe(formatSubnetFile({ ...DUAL, mtu: 1400 }));
    expect((await readdir(dir)).filter((n) => n.includes("replace"))).toEqual(["replace.env"]);
  });

  it("round-trips: what it writes reads back as the same lease", async () => {
    const path = join(dir, "round.env");
    await writeSubnetFile(path, DUAL);
    const back = await readSubnetFile(path);
    expect(back?.network).toEqual(DUAL.network);
    expect(back?.subnet).toEqual(v4("10.5.52.1/24"));
    expect(back?.ipv6Network).toEqual(DUAL.ipv6Network);
    expect(back?.mtu).toBe(1450);
    expect(back?.ipMasq).toBe(false);
    expect(back?.previousSubnet()).toEqual({ ipv4: DUAL.subnet, ipv6: DUAL.ipv6Subnet });
  });

  it("gives undefined for a missing file", async () => {
    expect(await readSubnetFile(join(dir, "absent.env"))).toBeUndefined();
  });

  it("reports a directory in place of the file as a clear error", async () => {
    await expect(readSubnetFile(dir)).rejects.toThrow(/cannot read the subnet file .*: it is a directory/);
  });

  it("reports an unwritable place as a clear error and leaves nothing behind", async () => {
    const blocker = join(dir, "blocker");
    await writeFile(blocker, "x");
    const err = await writeSubnetFile(join(blocker, "subnet.env"), DUAL).catch((e: unknown) => e);
    expect(isPodnetError(err, "failed")).toBe(true);
    expect(String((err as Error).message)).toMatch(/cannot write the subnet file/);
  });
});

describe("parseSubnetFile", () => {
  it("tolerates comments, blank lines, export, quotes and CRLF written by others", () => {
    const f = parseSubnetFile(
      "# written by hand\r\n\r\nexport FLANNEL_NETWORK=\"10.5.0.0/16\"\r\nFLANNEL_SUBNET='10.5.52.1/24'\r\n" +
        "  FLANNEL_MTU = 1450 # underlay 1500\nFLANNEL_IPMASQ=true\nOTHER=kept\n",
    );
    expect(f.values).toEqual({
      FLANNEL_NETWORK: "10.5.0.0/16",
      FLANNEL_SUBNET: "10.5.52.1/24",
      FLANNEL_MTU: "1450",
      FLANNEL_IPMASQ: "true",
      OTHER: "kept",
    });
    expect(f.mtu).toBe(1450);
    expect(f.ipMasq).toBe(true);
    expect(f.previousSubnet()).toEqual({ ipv4: v4("10.5.52.0/24") });
  });

  it("gives an IPv6-only hint with flannel's zero IPv4 network", () => {
    const f = parseSubnetFile("FLANNEL_IPV6_SUBNET=fc00:0:0:34::1/64\nFLANNEL_MTU=1450\n");
    expect(f.previousSubnet()).toEqual({ ipv4: { ip: 0, prefix: 0 }, ipv6: v6("fc00:0:0:34::/64") });
  });

  it("gives no hint when the file names no subnet", () => {
    expect(parseSubnetFile("FLANNEL_MTU=1450\n").previousSubnet()).toBeUndefined();
  });

  it("names the file and line of a line that is not an assignment", () => {
    expect(() => parseSubnetFile("FLANNEL_MTU=1450\nthis is not\n", "/run/flannel/subnet.env")).toThrow(
      '/run/flannel/subnet.env line 2 is not KEY=value: "this is not"',
    );
  });

  it("names a FLANNEL_* value that does not parse", () => {
    expect(() => parseSubnetFile("FLANNEL_SUBNET=10.5.52/24\n", "f.env")).toThrow(
      "f.env line 1: FLANNEL_SUBNET=10.5.52/24 is not an IPv4 CIDR like 10.5.52.1/24",
    );
    expect(() => parseSubnetFile("FLANNEL_IPMASQ=yes\n")).toThrow(/true or false/);
    expect(() => parseSubnetFile("FLANNEL_MTU=big\n")).toThrow(/an MTU/);
  });
});
