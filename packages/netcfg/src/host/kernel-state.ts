/**
 * What the kernel holds for one VXLAN device, read with `ip -json` and `bridge -json`: the
 * device, its IPv4 addresses, its neighbours, fdb remotes and routes. Only entries on that
 * device (and, when asked, gateway routes inside the overlay network on the underlay, which
 * DirectRouting creates). A missing device reads as no device and empty lists.
 */
import {
  type IPv4Net,
  ipv4NetContains,
  isPodnetError,
  PodnetError,
  parseIPv4,
  parseIPv4Cidr,
} from "@podnet/ipam-core";
import { bridgeJson, type HostTarget, ipJson, runTool, type Tool } from "./iproute.js";
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
    const device = await readKernelDeviceOrThrow(deviceName, target);
    if (device === undefined) return EMPTY;
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
      device,
      neighbours: neighs.flatMap((n) => {
        const k = toNeighbour(n);
        return k === undefined ? [] : [k];
      }),
      fdb: fdbs.flatMap((f) => {
        const k = toFdb(f);
        return k === undefined ? [] : [k];
      }),
      routes: [...toRoutes(routes, deviceName), ...toRoutes(directRoutes, direct?.underlayDev ?? "")].filter(
        (r) => overlay === null || insideNetwork(r.dst, overlay),
      ),
    };
  } catch (err) {
    if (isMissingDevice(err)) return EMPTY;
    throw err;
  }
}

/** The device vanished (or never was): that is a state, not an error; a missing `ip` still throws. */
function isMissingDevice(err: unknown): boolean {
  return isPodnetError(err, "host") && /does not exist|Cannot find device/.test(err.message);
}

async function readKernelDeviceOrThrow(
  deviceName: string,
  target: HostTarget,
): Promise<KernelDevice | undefined> {
  // One process for the link and its addresses: `ip -d addr` prints both.
  const links = await ipJson<(LinkJson & AddrJson)[]>(["-d", "addr", "show", "dev", deviceName], target);
  const link = links[0];
  return link === undefined ? undefined : toDevice(deviceName, link);
}

/** Only the device (and its addresses); undefined when it does not exist. */
export async function readKernelDevice(
  deviceName: string,
  target: HostTarget = {},
): Promise<KernelDevice | undefined> {
  try {
    return await readKernelDeviceOrThrow(deviceName, target);
  } catch (err) {
    if (isMissingDevice(err)) return undefined;
    throw err;
  }
}

/** Where the entries of a streamed read go, one at a time; nothing is kept. */
export interface KernelEntrySink {
  /** One neighbour entry of the device. */
  neighbour(n: KernelNeighbour): void;
  /** One forwarding-database entry of the device. */
  fdb(f: KernelFdb): void;
  /** One route through the device. */
  route(r: KernelRoute): void;
}

/**
 * Reads the neighbours, fdb remotes and routes of `deviceName` (plus DirectRouting routes
 * when `direct` is given) like {@link readKernelState}, but hands each entry to `sink` as it is
 * parsed from the tools' output instead of building lists: at 10,000 peers the JSON is a few
 * MB, and neither it nor its parsed form is ever held whole. A missing device reads as empty.
 */
export async function streamKernelEntries(
  deviceName: string,
  sink: KernelEntrySink,
  target: HostTarget = {},
  direct?: DirectRouteScope,
): Promise<void> {
  const dev = ["dev", deviceName];
  const overlay = direct === undefined ? null : parseIPv4Cidr(direct.network);
  const onRoute = (devName: string) => (item: unknown) => {
    const r = toRoute(item as RouteJson, devName);
    if (r !== undefined && (overlay === null || insideNetwork(r.dst, overlay))) sink.route(r);
  };
  try {
    await Promise.all([
      streamJson("ip", ["-json", "-4", "neigh", "show", ...dev], target, (item) => {
        const n = toNeighbour(item as NeighJson);
        if (n !== undefined) sink.neighbour(n);
      }),
      streamJson("bridge", ["-json", "fdb", "show", ...dev], target, (item) => {
        const f = toFdb(item as FdbJson);
        if (f !== undefined) sink.fdb(f);
      }),
      streamJson("ip", ["-json", "-4", "route", "show", ...dev], target, onRoute(deviceName)),
      direct === undefined || direct.underlayDev === deviceName
        ? Promise.resolve()
        : streamJson(
            "ip",
            ["-json", "-4", "route", "show", "dev", direct.underlayDev],
            target,
            onRoute(direct.underlayDev),
          ),
    ]);
  } catch (err) {
    if (!isMissingDevice(err)) throw err;
  }
}

/**
 * Runs `tool ARGS` and calls `onItem` for every element of the JSON array it prints, parsing
 * one element at a time as the output arrives (iproute2 prints `[{...},{...}]`).
 */
async function streamJson(
  tool: Tool,
  args: readonly string[],
  target: HostTarget,
  onItem: (item: unknown) => void,
): Promise<void> {
  const splitter = new JsonArraySplitter(onItem);
  await runTool(tool, args, target, { onStdout: (chunk) => splitter.push(chunk) });
}

/**
 * Splits a JSON array arriving in pieces into its elements, each parsed on its own: keeps
 * only the element being read. Elements must be objects or arrays (as iproute2's are).
 */
export class JsonArraySplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The unfinished element's text so far. */
  private partial = "";

  constructor(private readonly onItem: (item: unknown) => void) {}

  /** Feeds the next piece of the array's text; each complete element goes to the callback. */
  push(chunk: string): void {
    let start = this.depth >= 2 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) {
        this.inString = true;
      } else if (c === 0x7b || c === 0x5b) {
        this.depth++;
        if (this.depth === 2) start = i;
      } else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 1 && start >= 0) {
          const text = this.partial + chunk.slice(start, i + 1);
          this.partial = "";
          start = -1;
          try {
            this.onItem(JSON.parse(text));
          } catch (err) {
            if (err instanceof SyntaxError)
              throw new PodnetError("host", "iproute2 printed something that is not JSON; is it too old?");
            throw err;
          }
        }
        if (this.depth < 0) this.depth = 0;
      }
    }
    if (start >= 0) this.partial += chunk.slice(start);
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
    const k = toRoute(r, dev);
    return k === undefined ? [] : [k];
  });
}

function toRoute(r: RouteJson, dev: string): KernelRoute | undefined {
  if (r.dst === undefined || r.gateway === undefined || r.protocol === "kernel") return undefined;
  if (r.type !== undefined && r.type !== "unicast") return undefined;
  // iproute2 prints a host route without its /32 and 0.0.0.0/0 as "default".
  const dst = r.dst === "default" ? "0.0.0.0/0" : r.dst.includes("/") ? r.dst : `${r.dst}/32`;
  return { dst, via: r.gateway, dev: r.dev ?? dev, onlink: (r.flags ?? []).includes("onlink") };
}

function toNeighbour(n: NeighJson): KernelNeighbour | undefined {
  return n.dst !== undefined && parseIPv4(n.dst) !== null
    ? { ip: n.dst, mac: n.lladdr ?? "", state: (n.state ?? []).join(",") }
    : undefined;
}

function toFdb(f: FdbJson): KernelFdb | undefined {
  return f.mac !== undefined && f.dst !== undefined ? { mac: f.mac, dst: f.dst } : undefined;
}

function insideNetwork(cidr: string, network: IPv4Net): boolean {
  const net = parseIPv4Cidr(cidr);
  return net !== null && net.prefix >= network.prefix && ipv4NetContains(network, net.ip);
}
