/**
 * The underlay: the interface the VXLAN tunnel runs over, found as flanneld finds it
 * (`--iface` as a name or an IPv4 address, else the first `--iface-regex` match, else the
 * default route's interface), with its IPv4 address (the public IP unless `--public-ip` says
 * otherwise) and its MTU.
 */
import { compilePattern, formatIPv4Cidr, maskIPv4, PodnetError, parseIPv4 } from "@podnet/ipam-core";
import { type HostTarget, ipJson } from "../host/iproute.js";

/** The interface the overlay is tunnelled over. */
export interface Underlay {
  /** Interface name, e.g. `eth0`. */
  readonly dev: string;
  /** The interface's IPv4 address: the tunnel's local end. */
  readonly ip: string;
  /** The address published in the lease (`--public-ip`, else the interface's). */
  readonly publicIP: string;
  readonly mtu: number;
  /** The interface's connected IPv4 networks (`192.0.2.0/24`): the peers DirectRouting reaches directly. */
  readonly networks: string[];
}

/** What the underlay is chosen by. */
export interface UnderlayRequest {
  /** An interface name or one of its IPv4 addresses; absent (and no regexes): the default route's interface. */
  readonly iface?: string;
  /**
   * Patterns (unanchored regexes), tried in order when `iface` is absent or unusable: each first
   * against every interface's IPv4 addresses, then against interface names (flanneld's `--iface-regex`).
   */
  readonly ifaceRegexes?: readonly string[];
  /** Publish this address instead of the interface's (a host behind NAT). */
  readonly publicIp?: string;
}

interface AddrJson {
  ifname?: string;
  mtu?: number;
  flags?: string[];
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

interface RouteJson {
  dev?: string;
}

/** An interface chosen for the tunnel and, when the choice was by address, that address. */
interface Choice {
  readonly name: string;
  readonly ip?: string;
}

/** What `ip -json` says about the host's interfaces. */
interface Interfaces {
  /** `ip -4 addr show`: the interfaces with IPv4 addresses, in kernel order. */
  readonly addrs: readonly AddrJson[];
  /** `ip link show`: every interface. */
  readonly links: readonly AddrJson[];
}

/** Finds the underlay interface; a `usage` error names what was not found and what exists. */
export async function findUnderlay(req: UnderlayRequest, target: HostTarget = {}): Promise<Underlay> {
  if (req.publicIp !== undefined && parseIPv4(req.publicIp) === null) {
    throw new PodnetError("usage", `--public-ip "${req.publicIp}" is not an IPv4 address like 192.0.2.7`);
  }
  const patterns = (req.ifaceRegexes ?? []).map((p) => compilePattern(p, "--iface-regex"));
  const host: Interfaces = {
    addrs: await ipJson<AddrJson[]>(["-4", "addr", "show"], target),
    links: await ipJson<AddrJson[]>(["link", "show"], target),
  };
  let ifaceProblem: string | undefined;
  if (req.iface !== undefined) {
    const choice = chooseByIface(req.iface, host);
    if (typeof choice !== "string") return underlayOn(choice, host, req.publicIp);
    ifaceProblem = `--iface ${req.iface}: ${choice}`;
    if (patterns.length === 0)
      throw new PodnetError("usage", `${ifaceProblem} (there are: ${existing(host)})`);
  }
  if (patterns.length > 0) {
    const choice = chooseByRegex(patterns, host);
    if (choice !== undefined) return underlayOn(choice, host, req.publicIp);
    const quoted = (req.ifaceRegexes ?? []).map((p) => `"${p}"`).join(", ");
    throw new PodnetError(
      "usage",
      `${ifaceProblem !== undefined ? `${ifaceProblem}, and ` : ""}--iface-regex ${quoted}: ` +
        `no interface's IPv4 address or name matches (there are: ${existing(host)})`,
    );
  }
  const routes = await ipJson<RouteJson[]>(["-4", "route", "show", "default"], target);
  const name = routes.find((r) => r.dev !== undefined)?.dev;
  if (name === undefined) {
    throw new PodnetError("usage", "there is no default route to pick the interface from; give --iface NAME");
  }
  const choice = chooseByIface(name, host);
  if (typeof choice === "string") {
    throw new PodnetError("usage", `the default route's interface ${name}: ${choice}; give --iface NAME`);
  }
  return underlayOn(choice, host, req.publicIp);
}

/** The interface `--iface` names, by name or by one of its IPv4 addresses, or why it cannot be used. */
function chooseByIface(iface: string, host: Interfaces): Choice | string {
  if (parseIPv4(iface) !== null) {
    const name = host.addrs.find((l) => tunnelAddrs(l).some((a) => a.local === iface))?.ifname;
    return name === undefined ? `no interface has the address ${iface}` : { name, ip: iface };
  }
  if (!host.links.some((l) => l.ifname === iface)) return "no such interface";
  if (tunnelAddrs(host.addrs.find((l) => l.ifname === iface)).length === 0) return "it has no IPv4 address";
  return { name: iface };
}

/**
 * flanneld's `--iface-regex`: pattern by pattern, the first interface (in kernel order) with a
 * matching IPv4 address, which becomes the tunnel's address, else the first whose name matches.
 */
function chooseByRegex(patterns: readonly RegExp[], host: Interfaces): Choice | undefined {
  // Loopback and interfaces without an IPv4 address cannot carry the tunnel, so they never match.
  const usable = host.addrs.flatMap((l) =>
    l.ifname === undefined || (l.flags ?? []).includes("LOOPBACK") || tunnelAddrs(l).length === 0
      ? []
      : [{ name: l.ifname, ips: tunnelAddrs(l) }],
  );
  for (const re of patterns) {
    for (const { name, ips } of usable) {
      const ip = ips.find((a) => re.test(a.local));
      if (ip !== undefined) return { name, ip: ip.local };
    }
    const byName = usable.find(({ name }) => re.test(name));
    if (byName !== undefined) return { name: byName.name };
  }
  return undefined;
}

/** The IPv4 addresses a tunnel can use (not host-scoped ones like 127.0.0.1). */
function tunnelAddrs(link: AddrJson | undefined): { local: string; prefix: number }[] {
  return (link?.addr_info ?? []).flatMap((a) =>
    a.family === "inet" && a.local !== undefined && a.scope !== "host"
      ? [{ local: a.local, prefix: a.prefixlen ?? 32 }]
      : [],
  );
}

/** The host's interfaces for an error message: `eth0 192.0.2.7, eth1`, loopback left out. */
function existing(host: Interfaces): string {
  const described = host.links.flatMap((l) => {
    if (l.ifname === undefined || (l.flags ?? []).includes("LOOPBACK")) return [];
    const ips = tunnelAddrs(host.addrs.find((a) => a.ifname === l.ifname)).map((a) => a.local);
    return [[l.ifname, ...ips].join(" ")];
  });
  return described.join(", ") || "none";
}

/** The one place an Underlay is built: the chosen interface, its address (the chosen one, else its first), MTU and networks. */
function underlayOn(choice: Choice, host: Interfaces, publicIp: string | undefined): Underlay {
  const link = host.addrs.find((l) => l.ifname === choice.name);
  const addrs = tunnelAddrs(link);
  const ip = choice.ip ?? addrs[0]?.local;
  if (link === undefined || ip === undefined) {
    // Both choosers choose only interfaces with a tunnel address in this same read.
    throw new Error(`findUnderlay: chose ${choice.name}, which has no IPv4 address`);
  }
  const networks = addrs.flatMap((a) => {
    const addr = parseIPv4(a.local);
    return addr === null ? [] : [formatIPv4Cidr({ ip: maskIPv4(addr, a.prefix), prefix: a.prefix })];
  });
  return { dev: choice.name, ip, publicIP: publicIp ?? ip, mtu: link.mtu ?? 1500, networks };
}
