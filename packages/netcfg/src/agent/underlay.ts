/**
 * The underlay: the interface the VXLAN tunnel runs over, found as flanneld finds it
 * (`--iface` as a name or an IPv4 address, else the first `--iface-regex` match, else the
 * default route's interface), with its IPv4 address (the public IP unless `--public-ip` says
 * otherwise) and its MTU.
 */
import {
  compilePattern,
  formatIPv4Cidr,
  formatIPv6Cidr,
  isPodnetError,
  maskIPv4,
  maskIPv6,
  PodnetError,
  parseIPv4,
  parseIPv6,
} from "@podnet/ipam-core";
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
  /** The interface's first global IPv6 address: the IPv6 tunnel's local end. */
  readonly ip6?: string;
  /** The address published as PublicIPv6 (`--public-ipv6`, else `ip6`). */
  readonly publicIPv6?: string;
  /** The interface's connected global IPv6 networks (`2001:db8::/64`), for DirectRouting over IPv6. */
  readonly networks6: string[];
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
  /** Publish this IPv6 address instead of the interface's. */
  readonly publicIpv6?: string;
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
  /** `ip -6 addr show`: the interfaces with IPv6 addresses. */
  readonly addrs6: readonly AddrJson[];
}

/** Finds the underlay interface; a `usage` error names what was not found and what exists. */
export async function findUnderlay(req: UnderlayRequest, target: HostTarget = {}): Promise<Underlay> {
  if (req.publicIp !== undefined && parseIPv4(req.publicIp) === null) {
    throw new PodnetError("usage", `--public-ip "${req.publicIp}" is not an IPv4 address like 192.0.2.7`);
  }
  const patterns = (req.ifaceRegexes ?? []).map((p) => compilePattern(p, "--iface-regex"));
  if (req.publicIpv6 !== undefined && parseIPv6(req.publicIpv6) === null) {
    throw new PodnetError(
      "usage",
      `--public-ipv6 "${req.publicIpv6}" is not an IPv6 address like 2001:db8::7`,
    );
  }
  const host = await readInterfaces(target);
  let ifaceProblem: string | undefined;
  if (req.iface !== undefined) {
    const choice = chooseByIface(req.iface, host);
    if (typeof choice !== "string") return underlayOn(choice, host, req);
    ifaceProblem = `--iface ${req.iface}: ${choice}`;
    if (patterns.length === 0)
      throw new PodnetError("usage", `${ifaceProblem} (there are: ${existing(host)})`);
  }
  if (patterns.length > 0) {
    const choice = chooseByRegex(patterns, host);
    if (choice !== undefined) return underlayOn(choice, host, req);
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
  return underlayOn(choice, host, req);
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

async function readInterfaces(target: HostTarget): Promise<Interfaces> {
  const [addrs, links, addrs6] = await Promise.all([
    ipJson<AddrJson[]>(["-4", "addr", "show"], target),
    ipJson<AddrJson[]>(["link", "show"], target),
    ipJson<AddrJson[]>(["-6", "addr", "show", "scope", "global"], target),
  ]);
  return { addrs, links, addrs6 };
}

/**
 * The underlay as the agent's flags choose it: the first of the `--iface` candidates that
 * exists (flanneld's order), else the first `--iface-regex` match, else (neither given) the
 * default route's interface. Candidates passed over are logged when there are fallbacks.
 */
export async function chooseUnderlay(
  req: Omit<UnderlayRequest, "iface"> & { readonly ifaces?: readonly string[] },
  target: HostTarget,
  log: (line: string) => void,
): Promise<Underlay> {
  const { ifaces = [], ...rest } = req;
  const regexes = req.ifaceRegexes ?? [];
  if (ifaces.length === 0) return findUnderlay(rest, target);
  let firstError: unknown;
  for (const iface of ifaces) {
    try {
      return await findUnderlay({ ...rest, iface, ifaceRegexes: [] }, target);
    } catch (err) {
      if (!isPodnetError(err, "usage")) throw err;
      firstError ??= err;
      if (ifaces.length > 1 || regexes.length > 0) log(`not using --iface ${iface}: ${err.message}`);
    }
  }
  if (regexes.length > 0) return findUnderlay(rest, target);
  throw firstError;
}

/**
 * The underlay facts of a known interface (a view's: the VXLAN device names its underlay), with
 * `ip` as its tunnel address when given; undefined when the interface has no IPv4 address.
 */
export async function underlayByName(
  dev: string,
  target: HostTarget = {},
  ip?: string,
): Promise<Underlay | undefined> {
  const host = await readInterfaces(target);
  const choice = chooseByIface(dev, host);
  if (typeof choice === "string") return undefined;
  return underlayOn(ip === undefined ? choice : { name: choice.name, ip }, host, {});
}

/** The one place an Underlay is built: the chosen interface, its address (the chosen one, else its first), MTU and networks. */
function underlayOn(choice: Choice, host: Interfaces, req: UnderlayRequest): Underlay {
  const publicIp = req.publicIp;
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
  const addrs6 = (host.addrs6.find((l) => l.ifname === choice.name)?.addr_info ?? []).flatMap((a) =>
    a.family === "inet6" && a.local !== undefined && a.scope === "global"
      ? [{ local: a.local, prefix: a.prefixlen ?? 128 }]
      : [],
  );
  const ip6 = addrs6[0]?.local;
  const publicIPv6 = req.publicIpv6 ?? ip6;
  const networks6 = addrs6.flatMap((a) => {
    const addr = parseIPv6(a.local);
    return addr === null ? [] : [formatIPv6Cidr({ ip: maskIPv6(addr, a.prefix), prefix: a.prefix })];
  });
  return {
    dev: choice.name,
    ip,
    publicIP: publicIp ?? ip,
    mtu: link.mtu ?? 1500,
    networks,
    ...(ip6 !== undefined && { ip6 }),
    ...(publicIPv6 !== undefined && { publicIPv6 }),
    networks6,
  };
}
