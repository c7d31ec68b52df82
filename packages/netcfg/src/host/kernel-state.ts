/**
 * What the kernel holds for one VXLAN device, read with `ip -json` and `bridge -json`: the
 * device, its IPv4 addresses, its neighbours, fdb remotes and routes. Only entries on that
 * device (and, when asked, gateway routes inside the overlay network on the underlay, which
 * DirectRouting creates). A missing device reads as no device and empty lists.
 */
import { type IPv4Net, ipv4NetContains, isPodnetError, parseIPv4, parseIPv4Cidr } from "@podnet/ipam-core";
import { bridgeJson, type HostTarget, ipJson } from "./iproute.js";
import type { DataPlanePlan } from "./plan.js";

/** The VXLAN device as the kernel has it. */
export interface KernelDevice {
  readonly name: string;
  /** `vxlan`, or whatever else sits under that name. */
  readonly kind: string;
  readonly vni?: number;
  /** The UDP port (8472 when created with the kernel default). */
  readonly port?: number;
  readonly local?: string;
  /** The underlay interface name. */
  readonly dev?: string;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number;
  readonly mac: string;
  /** Administratively up. */
  readonly up: boolean;
  /** IPv4 addresses as `a.b.c.d/len`. */
  readonly addresses: string[];
}

/** An IPv4 neighbour on the device; `state` is iproute2's, e.g. `PERMANENT`. */
export interface KernelNeighbour {
  readonly ip: string;
  /** Empty when the entry has no link-layer address (INCOMPLETE, FAILED). */
  readonly mac: string;
  readonly state: string;
}

/** A VXLAN fdb remote on the device (entries without a dst are not the tunnel's and are left out). */
export interface KernelFdb {
  readonly mac: string;
  readonly dst: string;
}

/** A main-table IPv4 route with a gateway (kernel-made prefix routes are left out). */
export interface KernelRoute {
  readonly dst: string;
  readonly via: string;
  readonly dev: string;
  readonly onlink: boolean;
}

/** The kernel's side of one VXLAN data plane. */
export interface KernelState {
  readonly device?: KernelDevice;
  readonly neighbours: KernelNeighbour[];
  readonly fdb: KernelFdb[];
  readonly routes: KernelRoute[];
}

/** Where DirectRouting routes live: gateway routes inside `network` on the underlay `dev`. */
export interface DirectRouteScope {
  readonly underlayDev: string;
  readonly network: string;
}

interface LinkJson {
  ifname?: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: {
      id?: number;
      port?: number;
      local?: string;
      link?: string;
      learning?: boolean;
      gbp?: boolean;
    };
  };
}
interface AddrJson {
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}
interface NeighJson {
  dst?: string;
  lladdr?: string;
  state?: string[];
}
interface FdbJson {
  mac?: string;
  dst?: string;
}
interface RouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
  protocol?: string;
  type?: string;
}

const EMPTY: KernelState = { neighbours: [], fdb: [], routes: [] };

/**
 * Reads the kernel state of `deviceName` in `target`. With `direct`, gateway routes inside the
 * overlay network on the underlay interface are read too (DirectRouting's routes).
 */
export async function readKernelState(
  deviceName: string,
  target: HostTarget = {},
  direct?: DirectRouteScope,
): Promise<KernelState> {
  try {
    const dev = ["dev", deviceName];
    // One process for the link and its addresses: `ip -d addr` prints both.
    const links = await ipJson<(LinkJson & AddrJson)[]>(["-d", "addr", "show", ...dev], target);
    const link = links[0];
    if (link === undefined) return EMPTY;
    const [neighs, fdbs, routes, directRoutes] = await Promise.all([
      ipJson<NeighJson[]>(["-4", "neigh", "show", ...dev], target),
      bridgeJson<FdbJson[]>(["fdb", "show", ...dev], target),
      ipJson<RouteJson[]>(["-4", "route", "show", ...dev], target),
      direct === undefined || direct.underlayDev === deviceName
        ? Promise.resolve([])
        : ipJson<RouteJson[]>(["-4", "route", "show", "dev", direct.underlayDev], target),
    ]);
    // With a scope, only routes inside the overlay network are the data plane's (never a default route).
    const overlay = direct === undefined ? null : parseIPv4Cidr(direct.network);
    return {
      device: toDevice(deviceName, link),
      neighbours: neighs.flatMap((n) =>
        n.dst !== undefined && parseIPv4(n.dst) !== null
          ? [{ ip: n.dst, mac: n.lladdr ?? "", state: (n.state ?? []).join(",") }]
          : [],
      ),
      fdb: fdbs.flatMap((f) =>
        f.mac !== undefined && f.dst !== undefined ? [{ mac: f.mac, dst: f.dst }] : [],
      ),
      routes: [...toRoutes(routes, deviceName), ...toRoutes(directRoutes, direct?.underlayDev ?? "")].filter(
        (r) => overlay === null || insideNetwork(r.dst, overlay),
      ),
    };
  } catch (err) {
    // The device vanished (or never was): that is a state, not an error; a missing `ip` still throws.
    if (isPodnetError(err, "host") && /does not exist|Cannot find device/.test(err.message)) return EMPTY;
    throw err;
  }
}

/** Reads the kernel state a plan is compared with: its device, plus its DirectRouting routes. */
export function readKernelStateFor(plan: DataPlanePlan, target: HostTarget = {}): Promise<KernelState> {
  return readKernelState(plan.device.name, target, { underlayDev: plan.device.dev, network: plan.network });
}

function toDevice(name: string, link: LinkJson & AddrJson): KernelDevice {
  const info = link.linkinfo?.info_data ?? {};
  return {
    name: link.ifname ?? name,
    kind: link.linkinfo?.info_kind ?? "",
    ...(info.id !== undefined && { vni: info.id }),
    ...(info.port !== undefined && { port: info.port }),
    ...(info.local !== undefined && { local: info.local }),
    ...(info.link !== undefined && { dev: info.link }),
    learning: info.learning === true,
    gbp: info.gbp === true,
    mtu: link.mtu ?? 0,
    mac: (link.address ?? "").toLowerCase(),
    up: (link.flags ?? []).includes("UP"),
    addresses: (link.addr_info ?? []).flatMap((a) =>
      a.family === "inet" && a.local !== undefined ? [`${a.local}/${a.prefixlen ?? 32}`] : [],
    ),
  };
}

function toRoutes(routes: readonly RouteJson[], dev: string): KernelRoute[] {
  return routes.flatMap((r) => {
    if (r.dst === undefined || r.gateway === undefined || r.protocol === "kernel") return [];
    if (r.type !== undefined && r.type !== "unicast") return [];
    // iproute2 prints a host route without its /32 and 0.0.0.0/0 as "default".
    const dst = r.dst === "default" ? "0.0.0.0/0" : r.dst.includes("/") ? r.dst : `${r.dst}/32`;
    return [{ dst, via: r.gateway, dev: r.dev ?? dev, onlink: (r.flags ?? []).includes("onlink") }];
  });
}

function insideNetwork(cidr: string, network: IPv4Net): boolean {
  const net = parseIPv4Cidr(cidr);
  return net !== null && net.prefix >= network.prefix && ipv4NetContains(network, net.ip);
}
