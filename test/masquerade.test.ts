/**
 * `--ip-masq`'s iptables rules in real network namespaces: pods (an address on a veth
 * device) reach a host outside the overlay only through the masquerade, pod-to-pod traffic
 * keeps its source, the rules are applied once and replaced or removed without touching
 * anyone else's, and a missing iptables is one clear error.
 */
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPodnetError } from "@podnet/ipam-core";
import {
  ensureMasquerade,
  hasRandomFully,
  MASQ_CHAIN,
  planMasquerade,
  removeMasquerade,
  runTool,
} from "@podnet/netcfg";
import { ipIn, netnsUnavailableReason, probe, useNetnsLab } from "@podnet/test-harness/netns";
import { describe, expect, it } from "vitest";

const NETWORK = "10.5.0.0/16";
const execFileText = async (argv: readonly string[]): Promise<string> => {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), (err, stdout, stderr) =>
      err ? reject(new Error(`${argv.join(" ")}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );
};
const natRules = (ns: string) => execFileText(["ip", "netns", "exec", ns, "iptables-save", "-t", "nat"]);
const iptables = (ns: string, args: readonly string[]) =>
  execFileText(["ip", "netns", "exec", ns, "iptables", ...args]);

const skipReason = netnsUnavailableReason();

describe("hasRandomFully", () => {
  it("is true from iptables 1.6.2 on, as flanneld checks, and for a spelling it cannot read", () => {
    expect(hasRandomFully("iptables-save v1.8.9 (nf_tables)")).toBe(true);
    expect(hasRandomFully("iptables-save v1.6.2")).toBe(true);
    expect(hasRandomFully("iptables-save v1.6.1")).toBe(false);
    expect(hasRandomFully("iptables-save v1.4.21")).toBe(false);
    expect(hasRandomFully("iptables-save v2.0.0")).toBe(true);
    expect(hasRandomFully("something else")).toBe(true);
  });
});

describe("planMasquerade", () => {
  it("keeps pod-to-pod traffic, masquerades the rest but multicast, in flanneld's order", () => {
    const rules = planMasquerade(NETWORK, "10.5.1.0/24");
    expect(rules.map((r) => r.replace(/ -m comment --comment "podnet masq"/, ""))).toEqual([
      `-A ${MASQ_CHAIN} -m mark --mark 0x4000/0x4000 -j RETURN`,
      `-A ${MASQ_CHAIN} -s 10.5.1.0/24 -d 10.5.0.0/16 -j RETURN`,
      `-A ${MASQ_CHAIN} -s 10.5.0.0/16 -d 10.5.1.0/24 -j RETURN`,
      `-A ${MASQ_CHAIN} -s 10.5.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully`,
      `-A ${MASQ_CHAIN} ! -s 10.5.0.0/16 -d 10.5.1.0/24 -j RETURN`,
      `-A ${MASQ_CHAIN} ! -s 10.5.0.0/16 -d 10.5.0.0/16 -j MASQUERADE --random-fully`,
    ]);
    // An iptables older than 1.6.2: plain MASQUERADE.
    const old = planMasquerade(NETWORK, "10.5.1.0/24", { randomFully: false });
    expect(old.filter((r) => r.includes("MASQUERADE"))).toHaveLength(2);
    expect(old.join("\n")).not.toContain("--random-fully");
  });
});

describe.skipIf(skipReason !== null)(
  `masquerade rules in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    const lab = useNetnsLab(2, { echo: true });
    const h = (i: 1 | 2) => lab().hosts[i - 1]!;

    /** A "pod" address on a local device; with `peer`, a route to the other host's pods via its underlay. */
    async function pods(i: 1 | 2, peer?: { subnet: string; via: string }): Promise<void> {
      const ns = h(i).ns;
      // A veth pair (not every kernel has the dummy device) with both ends up, so it has carrier.
      await ipIn(ns, ["link", "add", "pods", "type", "veth", "peer", "name", "pods-peer"]);
      await ipIn(ns, ["addr", "add", `10.5.${i}.1/24`, "dev", "pods"]);
      await ipIn(ns, ["link", "set", "pods", "up"]);
      await ipIn(ns, ["link", "set", "pods-peer", "up"]);
      if (peer) await ipIn(ns, ["route", "add", peer.subnet, "via", peer.via]);
    }

    it("lets pods reach the world under the host's address, and pods each other under their own", async () => {
      const [h1, h2] = [h(1), h(2)];
      // Someone else's rule, which must survive everything podnet does.
      await iptables(h1.ns, ["-t", "nat", "-A", "POSTROUTING", "-s", "198.51.100.0/24", "-j", "MASQUERADE"]);
      await pods(1);
      // Host 2 is outside the overlay: it has no route back to 10.5.1.0/24.
      expect(await probe(h1.ns, h2.ip, { source: "10.5.1.1", timeoutMs: 1000 })).toBeNull();

      expect(await ensureMasquerade(NETWORK, "10.5.1.0/24", { netns: h1.ns })).toBe("missing");
      expect(await probe(h1.ns, h2.ip, { source: "10.5.1.1" })).toEqual({ host: h2.ns, seenFrom: h1.ip });
      const saved = await natRules(h1.ns);
      const postrouting = saved.split("\n").filter((l) => l.startsWith("-A POSTROUTING"));
      expect(postrouting).toEqual([
        `-A POSTROUTING -m comment --comment "podnet masq" -j ${MASQ_CHAIN}`,
        "-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE",
      ]);
      expect(saved.split("\n").filter((l) => l.startsWith(`-A ${MASQ_CHAIN}`))).toEqual(
        planMasquerade(NETWORK, "10.5.1.0/24"),
      );
      // Applied once: a second pass finds nothing to do.
      expect(await ensureMasquerade(NETWORK, "10.5.1.0/24", { netns: h1.ns })).toBeUndefined();

      // Host 2 joins the overlay (its pods, routes both ways): pod-to-pod keeps the pod's address.
      await pods(2, { subnet: "10.5.1.0/24", via: h1.ip });
      await ipIn(h1.ns, ["route", "add", "10.5.2.0/24", "via", h2.ip]);
      expect(await probe(h1.ns, "10.5.2.1", { source: "10.5.1.1" })).toEqual({
        host: h2.ns,
        seenFrom: "10.5.1.1",
      });
    });

    it("repairs a hand-deleted jump, replaces the rules for a new subnet, and removes only its own", async () => {
      const ns = h(1).ns;
      await iptables(ns, [
        "-t",
        "nat",
        "-D",
        "POSTROUTING",
        "-m",
        "comment",
        "--comment",
        "podnet masq",
        "-j",
        MASQ_CHAIN,
      ]);
      expect(await ensureMasquerade(NETWORK, "10.5.1.0/24", { netns: ns })).toBe("jump missing");
      // A second jump (two agents overlapping, or a hand): back to exactly one, first in POSTROUTING.
      const jump = ["-m", "comment", "--comment", "podnet masq", "-j", MASQ_CHAIN];
      await iptables(ns, ["-t", "nat", "-A", "POSTROUTING", ...jump]);
      expect(await ensureMasquerade(NETWORK, "10.5.1.0/24", { netns: ns })).toBe("duplicate jumps");
      const postrouting = (await natRules(ns)).split("\n").filter((l) => l.startsWith("-A POSTROUTING"));
      expect(postrouting).toEqual([
        `-A POSTROUTING -m comment --comment "podnet masq" -j ${MASQ_CHAIN}`,
        "-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE",
      ]);
      expect(await ensureMasquerade(NETWORK, "10.5.9.0/24", { netns: ns })).toBe("changed");
      const saved = await natRules(ns);
      expect(saved.split("\n").filter((l) => l.startsWith(`-A ${MASQ_CHAIN}`))).toEqual(
        planMasquerade(NETWORK, "10.5.9.0/24"),
      );
      expect(saved.match(new RegExp(`-j ${MASQ_CHAIN}`, "g"))).toHaveLength(1);

      // Removal takes every jump, duplicates included, so the chain can go.
      await iptables(ns, ["-t", "nat", "-A", "POSTROUTING", ...jump]);
      expect(await removeMasquerade({ netns: ns })).toBe(true);
      expect(await removeMasquerade({ netns: ns })).toBe(false);
      const after = await natRules(ns);
      expect(after).not.toContain(MASQ_CHAIN);
      expect(after).toContain("-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE");
    });

    it("says how to install iptables when it is missing", async () => {
      // A PATH with `ip` and nothing else: the namespace's iptables-save cannot be found.
      const bin = await mkdtemp(join(tmpdir(), "podnet-noipt-"));
      const ipPath = (await execFileText(["sh", "-c", "command -v ip"])).trim();
      await symlink(ipPath, join(bin, "ip"));
      const saved = process.env["PATH"];
      process.env["PATH"] = bin;
      try {
        const inNetns = await ensureMasquerade(NETWORK, "10.5.1.0/24", { netns: h(1).ns }).then(
          () => expect.fail("ensureMasquerade succeeded without iptables"),
          (e: unknown) => e,
        );
        // In the agent's own namespace only a harmless read is tried (the test never touches the host's tables).
        const here = await runTool("iptables-save", ["--version"], {}).then(
          () => expect.fail("iptables-save ran without being on PATH"),
          (e: unknown) => e,
        );
        for (const err of [inNetns, here]) {
          expect(isPodnetError(err, "host")).toBe(true);
          expect((err as Error).message).toBe(
            "the 'iptables-save' command (iptables) is not installed or not on PATH; install iptables (Debian: apt-get install iptables)",
          );
        }
      } finally {
        process.env["PATH"] = saved;
        await rm(bin, { recursive: true, force: true });
      }
    });
  },
);
