import { isPodnetError } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { resolveGlobalOptions } from "../global-options.js";
import { agentCommand, resolveAgentSettings } from "./agent.js";

const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isPodnetError(err, "usage")) return err.message;
    throw err;
  }
  throw new Error("expected a usage error");
};

describe("podnet agent settings", () => {
  it("has flanneld's defaults: default-route interface, /run/flannel/subnet.env, no health server, 60 min margin", () => {
    expect(resolveAgentSettings({}, {})).toEqual({
      logFormat: "text",
      logLevel: "info",
      ifaces: [],
      ifaceRegexes: [],
      subnetFile: "/run/flannel/subnet.env",
      ipMasq: false,
      renewMarginMinutes: 60,
      releaseOnExit: false,
      reconcileIntervalMs: 10_000,
    });
  });

  it("reads flanneld's environment, podnet's before it, and the command line before both", () => {
    const env = {
      FLANNELD_IFACE: "eth1,eth2",
      FLANNELD_PUBLIC_IP: "192.0.2.7",
      FLANNELD_SUBNET_FILE: "/tmp/flannel.env",
      FLANNELD_IP_MASQ: "true",
      FLANNELD_HEALTHZ_IP: "0.0.0.0",
      FLANNELD_HEALTHZ_PORT: "8080",
      FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "30",
      PODNET_SUBNET_FILE: "/tmp/podnet.env",
      PODNET_RELEASE_ON_EXIT: "yes",
      PODNET_RECONCILE_INTERVAL: "2s",
    };
    expect(resolveAgentSettings({}, env)).toEqual({
      logFormat: "text",
      logLevel: "info",
      ifaces: ["eth1", "eth2"],
      ifaceRegexes: [],
      publicIp: "192.0.2.7",
      subnetFile: "/tmp/podnet.env",
      ipMasq: true,
      healthz: { host: "0.0.0.0", port: 8080 },
      renewMarginMinutes: 30,
      releaseOnExit: true,
      reconcileIntervalMs: 2000,
    });
    const flags = resolveAgentSettings(
      { iface: ["eth9"], publicIp: "192.0.2.9", subnetFile: "/x.env", healthzPort: "0", renewMargin: "5" },
      env,
    );
    expect(flags).toMatchObject({
      ifaces: ["eth9"],
      publicIp: "192.0.2.9",
      subnetFile: "/x.env",
      renewMarginMinutes: 5,
    });
    expect(flags.healthz).toBeUndefined();
  });

  it("names the flag or variable of a bad value", () => {
    expect(usage(() => resolveAgentSettings({ publicIp: "300.1.1.1" }, {}))).toMatch(
      /^--public-ip "300.1.1.1"/,
    );
    expect(usage(() => resolveAgentSettings({}, { FLANNELD_HEALTHZ_PORT: "http" }))).toMatch(
      /^FLANNELD_HEALTHZ_PORT/,
    );
    expect(usage(() => resolveAgentSettings({ renewMargin: "1440" }, {}))).toMatch(/1 to 1439/);
    expect(usage(() => resolveAgentSettings({}, { FLANNELD_IP_MASQ: "maybe" }))).toMatch(/FLANNELD_IP_MASQ/);
    expect(usage(() => resolveAgentSettings({ reconcileInterval: "soon" }, {}))).toMatch(
      /--reconcile-interval/,
    );
    expect(usage(() => resolveAgentSettings({ leaseTtl: "1s" }, {}))).toMatch(/--lease-ttl/);
  });

  it("takes --iface-regex repeated on the command line, else one pattern from PODNET_ or FLANNELD_IFACE_REGEX", () => {
    // flanneld's own example pattern: its commas are the regex's, not a list's.
    const env = { FLANNELD_IFACE_REGEX: "^10\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$" };
    expect(resolveAgentSettings({}, env).ifaceRegexes).toEqual(["^10\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$"]);
    expect(resolveAgentSettings({}, { ...env, PODNET_IFACE_REGEX: "^ens" }).ifaceRegexes).toEqual(["^ens"]);
    // The command line wins, and its patterns keep their commas.
    expect(resolveAgentSettings({ ifaceRegex: ["^en.{1,3}$", "^bond"] }, env).ifaceRegexes).toEqual([
      "^en.{1,3}$",
      "^bond",
    ]);
    // --iface and --iface-regex are independent: both are kept, --iface is tried first by the agent.
    expect(resolveAgentSettings({ iface: ["eth0"] }, env)).toMatchObject({
      ifaces: ["eth0"],
      ifaceRegexes: ["^10\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$"],
    });
  });

  it("collects a repeated --iface-regex from the command line in order", () => {
    const cmd = agentCommand();
    cmd.parseOptions(["--iface-regex", "^eth", "--iface-regex", "^en.{1,3}$"]);
    expect(cmd.opts().ifaceRegex).toEqual(["^eth", "^en.{1,3}$"]);
  });

  it("rejects a pattern that is no regular expression, naming it and where it came from, before any other check", () => {
    expect(usage(() => resolveAgentSettings({ ifaceRegex: ["^eth", "eth(0"], publicIp: "bad" }, {}))).toMatch(
      /^--iface-regex "eth\(0" is not a valid regular expression \(Unterminated group\)$/,
    );
    expect(usage(() => resolveAgentSettings({}, { FLANNELD_IFACE_REGEX: "^eth[" }))).toMatch(
      /^FLANNELD_IFACE_REGEX "\^eth\[" is not a valid regular expression/,
    );
  });

  it("accepts flanneld's command line as it is: --etcd-* flags and --subnet-lease-renew-margin", () => {
    const cmd = agentCommand();
    cmd.parseOptions([
      "--etcd-endpoints=http://10.0.0.1:2379,http://10.0.0.2:2379",
      "--etcd-prefix=/atomic.io/network",
      "--etcd-cafile=/etc/ssl/ca.pem",
      "--etcd-certfile=/etc/ssl/client.pem",
      "--etcd-keyfile=/etc/ssl/client-key.pem",
      "--etcd-username=flannel",
      "--subnet-lease-renew-margin=30",
      "--iface=eth0",
      "--ip-masq",
    ]);
    const g = resolveGlobalOptions(cmd.opts(), {});
    expect(g.connection).toMatchObject({
      endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2379"],
      caFile: "/etc/ssl/ca.pem",
      certFile: "/etc/ssl/client.pem",
      keyFile: "/etc/ssl/client-key.pem",
      user: "flannel",
    });
    expect(g.prefix).toBe("/atomic.io/network");
    expect(resolveAgentSettings(cmd.opts(), {})).toMatchObject({
      ifaces: ["eth0"],
      ipMasq: true,
      renewMarginMinutes: 30,
    });
    // podnet's own spellings win over flanneld's, and the flag over the environment.
    expect(resolveGlobalOptions({ endpoints: "a:1", etcdEndpoints: "b:1" }, {}).connection.endpoints).toEqual(
      ["a:1"],
    );
    expect(resolveGlobalOptions({ etcdPrefix: "/p" }, { PODNET_PREFIX: "/q" }).prefix).toBe("/p");
    expect(
      resolveAgentSettings({ renewMargin: "20", subnetLeaseRenewMargin: "30" }, {}).renewMarginMinutes,
    ).toBe(20);
    expect(usage(() => resolveAgentSettings({ subnetLeaseRenewMargin: "0" }, {}))).toMatch(
      /^--subnet-lease-renew-margin "0"/,
    );
  });

  it("takes the hidden --lease-ttl in whole seconds", () => {
    expect(resolveAgentSettings({ leaseTtl: "90s" }, {}).leaseTtlSeconds).toBe(90);
  });

  it("reads --log-format and --log-level, and flanneld's -v above 0 as debug", () => {
    expect(resolveAgentSettings({ logFormat: "json" }, {})).toMatchObject({
      logFormat: "json",
      logLevel: "info",
    });
    expect(resolveAgentSettings({ logVerbosity: "2" }, {})).toMatchObject({ logLevel: "debug" });
    expect(resolveAgentSettings({ logVerbosity: "2", logLevel: "warn" }, {})).toMatchObject({
      logLevel: "warn",
    });
    expect(() => resolveAgentSettings({}, { PODNET_LOG_LEVEL: "loud" })).toThrow(
      'PODNET_LOG_LEVEL "loud" is not one of debug, info, warn, error',
    );
  });

  it("lets -ip-masq=false on the command line win over FLANNELD_IP_MASQ=true", () => {
    expect(resolveAgentSettings({ ipMasq: false }, { FLANNELD_IP_MASQ: "true" }).ipMasq).toBe(false);
  });
});
