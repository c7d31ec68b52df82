/**
 * flanneld's `--iface-regex` in a real network namespace: findUnderlay and the agent choose the
 * underlay by address or name pattern, after `--iface`, and say clearly when nothing matches.
 */
import { isPodnetError, PodnetError } from "@podnet/ipam-core";
import { type AgentOptions, findUnderlay, runAgent, type UnderlayRequest } from "@podnet/netcfg";
import { ipIn, netnsUnavailableReason, useNetnsLab } from "@podnet/test-harness/netns";
import { beforeAll, describe, expect, it } from "vitest";

const skipReason = netnsUnavailableReason();

describe.skipIf(skipReason !== null)(
  `--iface-regex in a network namespace${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    const lab = useNetnsLab(1);
    const ns = () => lab().hosts[0]?.ns ?? expect.fail("no lab host");
    const find = (req: UnderlayRequest) => findUnderlay(req, { netns: ns() });
    const usageOf = async (req: UnderlayRequest): Promise<string> => {
      const err: unknown = await find(req).then(
        () => expect.fail("expected a usage error"),
        (e: unknown) => e,
      );
      if (!isPodnetError(err, "usage")) throw err;
      return err.message;
    };
    // In kernel order: lo, eth0 192.0.2.11/24 (the lab's), under0 (no IPv4), under7 with two addresses.
    const existing = "there are: eth0 192.0.2.11, under0, under7 198.51.100.7 203.0.113.7";

    beforeAll(async () => {
      // The peer (under0) is registered first, so the address-less interface precedes under7.
      await ipIn(ns(), ["link", "add", "under7", "mtu", "1400", "type", "veth", "peer", "name", "under0"]);
      await ipIn(ns(), ["addr", "add", "198.51.100.7/24", "dev", "under7"]);
      await ipIn(ns(), ["addr", "add", "203.0.113.7/24", "dev", "under7"]);
      await ipIn(ns(), ["link", "set", "under7", "up"]);
      await ipIn(ns(), ["link", "set", "under0", "up"]);
    });

    it("picks an interface by a name pattern, with its first address, MTU and networks", async () => {
      expect(await find({ ifaceRegexes: ["^under"] })).toEqual({
        dev: "under7",
        ip: "198.51.100.7",
        publicIP: "198.51.100.7",
        mtu: 1400,
        networks: ["198.51.100.0/24", "203.0.113.0/24"],
      });
    });

    it("picks an interface by an address pattern, and the matching address becomes the tunnel's", async () => {
      expect(await find({ ifaceRegexes: ["^198\\.51\\."] })).toMatchObject({
        dev: "under7",
        ip: "198.51.100.7",
      });
      expect(await find({ ifaceRegexes: ["^203\\.0\\.113\\."] })).toMatchObject({
        dev: "under7",
        ip: "203.0.113.7",
        publicIP: "203.0.113.7",
      });
      expect(await find({ ifaceRegexes: ["113"], publicIp: "192.0.2.200" })).toMatchObject({
        ip: "203.0.113.7",
        publicIP: "192.0.2.200",
      });
    });

    it("within one pattern prefers an address match to an earlier interface's name match", async () => {
      expect(await find({ ifaceRegexes: ["^(eth0|203\\.0\\.113\\.7)$"] })).toMatchObject({
        dev: "under7",
        ip: "203.0.113.7",
      });
    });

    it("tries the patterns in order, the first that matches wins", async () => {
      expect(await find({ ifaceRegexes: ["^wlan", "^eth", "^under"] })).toMatchObject({ dev: "eth0" });
      expect(await find({ ifaceRegexes: ["^under", "^eth"] })).toMatchObject({ dev: "under7" });
    });

    it("prefers --iface when it exists, and falls back to the patterns when it does not", async () => {
      expect(await find({ iface: "eth0", ifaceRegexes: ["^under"] })).toMatchObject({
        dev: "eth0",
        ip: "192.0.2.11",
      });
      expect(await find({ iface: "nope0", ifaceRegexes: ["^under"] })).toMatchObject({ dev: "under7" });
      expect(await find({ iface: "10.9.9.9", ifaceRegexes: ["^under"] })).toMatchObject({ dev: "under7" });
      expect(await find({ iface: "under0", ifaceRegexes: ["^eth"] })).toMatchObject({ dev: "eth0" });
    });

    it("never matches loopback or an interface without an IPv4 address", async () => {
      expect(await usageOf({ ifaceRegexes: ["^lo$", "^127\\.", "^under0$"] })).toBe(
        `--iface-regex "^lo$", "^127\\.", "^under0$": no interface's IPv4 address or name matches (${existing})`,
      );
    });

    it("names the patterns that matched nothing, the unusable --iface, and the interfaces there are", async () => {
      expect(await usageOf({ ifaceRegexes: ["^wlan", "^10\\.99\\."] })).toBe(
        `--iface-regex "^wlan", "^10\\.99\\.": no interface's IPv4 address or name matches (${existing})`,
      );
      expect(await usageOf({ iface: "nope0", ifaceRegexes: ["^wlan"] })).toBe(
        `--iface nope0: no such interface, and --iface-regex "^wlan": no interface's IPv4 address or name matches (${existing})`,
      );
      expect(await usageOf({ iface: "nope0" })).toBe(`--iface nope0: no such interface (${existing})`);
    });

    it("rejects a bad pattern before it reads the host", async () => {
      const err = await findUnderlay(
        { ifaceRegexes: ["^under", "eth(0"] },
        { netns: "podnet-no-such-ns" },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PodnetError);
      expect((err as PodnetError).code).toBe("usage");
      expect((err as PodnetError).message).toMatch(
        /^--iface-regex "eth\(0" is not a valid regular expression/,
      );
    });

    it("without --iface or --iface-regex still takes the default route's interface", async () => {
      await ipIn(ns(), ["route", "add", "default", "via", "198.51.100.1", "dev", "under7"]);
      try {
        expect(await find({})).toMatchObject({ dev: "under7", ip: "198.51.100.7" });
      } finally {
        await ipIn(ns(), ["route", "del", "default"]);
      }
      expect(await usageOf({})).toMatch(/^there is no default route/);
    });

    it("the agent tries every --iface candidate before the patterns, and logs why it skipped them", async () => {
      const logs: string[] = [];
      const stop = new AbortController();
      const opts: AgentOptions = {
        prefix: "/coreos.com/network",
        ifaces: ["nope0", "under0"],
        ifaceRegexes: ["^wlan", "^203\\."],
        subnetFile: "/nonexistent/subnet.env",
        ipMasq: false,
        renewMarginSeconds: 3600,
        releaseOnExit: false,
        reconcileIntervalMs: 10_000,
        target: { netns: ns() },
      };
      const result = await runAgent(opts, {
        // Stop right after the underlay is chosen: etcd is not part of this test.
        connect: async () => {
          stop.abort();
          throw new PodnetError("unavailable", "no etcd in this test");
        },
        log: (line) => logs.push(line),
        signal: stop.signal,
      });
      expect(result.exitCode).toBe(0);
      expect(logs).toContainEqual(
        expect.stringMatching(/^not using --iface nope0: --iface nope0: no such interface/),
      );
      expect(logs).toContainEqual(
        expect.stringMatching(/^not using --iface under0: --iface under0: it has no IPv4 address/),
      );
      expect(logs).toContainEqual("using interface under7 (203.0.113.7, MTU 1400); public IP 203.0.113.7");
    });
  },
);
