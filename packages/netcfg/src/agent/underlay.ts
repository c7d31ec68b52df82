/**
 * The underlay: the interface the VXLAN tunnel runs over, found as flanneld finds it
 * (`--iface` as a name or an IPv4 address, else the default route's interface), with its
 * IPv4 address (the public IP unless `--public-ip` says otherwise) and its MTU.
 */
import { formatIPv4Cidr, maskIPv4, PodnetError, parseIPv4 } from "@podnet/ipam-core";
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
  /** An interface name or one of its IPv4 addresses; absent: the default route's interface. */
  readonly iface?: string;
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

/** Finds the underlay interface; a `usage` error names what was not found and what exists. */
export async function findUnderlay(req: UnderlayRequest, target: HostTarget = {}): Promise<Underlay> {
  if (req.publicIp !== undefined && parseIPv4(req.publicIp) === null) {
    throw new PodnetError("usage", `--public-ip "${req.publicIp}" is not an IPv4 address like 192.0.2.7`);
  }
  const links = await ipJson<AddrJson[]>(["-4", "addr", "show"], target);
  const all = await ipJson<AddrJson[]>(["link", "show"], target);
  let name = req.iface;
  let wantedIp: string | undefined;
  if (name !== undefined && parseIPv4(name) !== null) {
    wantedIp = name;
    name = links.find((l) => (l.addr_info ?? []).some((a) => a.local === wantedIp))?.ifname;
    if (name === undefined) {
      throw new PodnetError("usage", `--iface ${req.iface}: no interface has the address ${req.iface}`);
    }
  }
  if (name === undefined) {
    const routes = await ipJson<RouteJson[]>(["-4", "route", "show", "default"], target);
    name = routes.find((r) => r.dev !== undefined)?.dev;
    if (name === undefined) {
      throw new PodnetError(
        "usage",
        "there is no default route to pick the interface from; give --iface NAME",
      );
    }
  }
  const link = all.find((l) => l.ifname === name);
  if (link === undefined) {
    const names = all.map((l) => l.ifname).filter((n) => n !== undefined && n !== "lo");
    throw new PodnetError(
      "usage",
      `--iface ${name}: no such interface (there are: ${names.join(", ") || "none"})`,
    );
  }
  const addrs = (links.find((l) => l.ifname === name)?.addr_info ?? []).filter(
    (a) => a.family === "inet" && a.local !== undefined && a.scope !== "host",
  );
  const chosen = wantedIp !== undefined ? addrs.find((a) => a.local === wantedIp) : addrs[0];
  if (chosen?.local === undefined) {
    throw new PodnetError(
      "usage",
      `the interface ${name} has no IPv4 address; give it one or choose another --iface`,
    );
  }
  const networks = addrs.flatMap((a) => {
    const ip = parseIPv4(a.local ?? "");
    const prefix = a.prefixlen ?? 32;
    return ip === null ? [] : [formatIPv4Cidr({ ip: maskIPv4(ip, prefix), prefix })];
  });
  return {
    dev: name,
    ip: chosen.local,
    publicIP: req.publicIp ?? chosen.local,
    mtu: link.mtu ?? 1500,
    networks,
  };
}
