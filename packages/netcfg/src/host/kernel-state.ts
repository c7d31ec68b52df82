/**
 * What the kernel holds for one VXLAN device, read with `ip -json` and `bridge -json`: the
 * device, its IPv4 addresses, its neighbours, fdb remotes and routes. Only entries on that
 * device (and, when asked, gateway routes inside the overlay network on the underlay, which
 * DirectRouting creates). A missing device reads as no device and empty lists.
 */
import { type IPv4Net, type IPv6Net, isPodnetError, PodnetError } from "@podnet/ipam-core";
import { type AddressFamily, familyFlag, familyOf, netContains, parseAddress, parseCidr } from "./family.js";
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
  /** Its addresses of the device's family as `a.b.c.d/len` (IPv6: global ones, not the link-local). */
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
      /** iproute2's name for an IPv6 local address. */
      local6?: string;
      link?: string;
      learning?: boolean;
      gbp?: boolean;
    };
  };
}
interface AddrJson {
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
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
  family: AddressFamily = direct === undefined ? 4 : familyOf(direct.network),
): Promise<KernelState> {
  try {
    const dev = ["dev", deviceName];
    const flag = familyFlag(family);
    const device = await readKernelDeviceOrThrow(deviceName, target, family);
    if (device === undefined) return EMPTY;
    const [neighs, fdbs, routes, directRoutes] = await Promise.all([
      ipJson<NeighJson[]>([flag, "neigh", "show", ...dev], target),
      bridgeJson<FdbJson[]>(["fdb", "show", ...dev], target),
      ipJson<RouteJson[]>([flag, "route", "show", ...dev], target),
      direct === undefined || direct.underlayDev === deviceName
        ? Promise.resolve([])
        : ipJson<RouteJson[]>([flag, "route", "show", "dev", direct.underlayDev], target),
    ]);
    // With a scope, only routes inside the overlay network are the data plane's (never a default route).
    const overlay = direct === undefined ? null : parseCidr(family, direct.network);
    return {
      device,
      neighbours: neighs.flatMap((n) => {
        const k = toNeighbour(n, family);
        return k === undefined ? [] : [k];
      }),
      fdb: fdbs.flatMap((f) => {
        const k = toFdb(f);
        return k === undefined ? [] : [k];
      }),
      routes: [
        ...toRoutes(routes, deviceName, family),
        ...toRoutes(directRoutes, direct?.underlayDev ?? "", family),
      ].filter((r) => overlay === null || insideNetwork(r.dst, overlay)),
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
  family: AddressFamily,
): Promise<KernelDevice | undefined> {
  // One process for the link and its addresses: `ip -d addr` prints both.
  const links = await ipJson<(LinkJson & AddrJson)[]>(["-d", "addr", "show", "dev", deviceName], target);
  const link = links[0];
  return link === undefined ? undefined : toDevice(deviceName, link, family);
}

/** Only the device (and its addresses of `family`); undefined when it does not exist. */
export async function readKernelDevice(
  deviceName: string,
  target: HostTarget = {},
  family: AddressFamily = 4,
): Promise<KernelDevice | undefined> {
  try {
    return await readKernelDeviceOrThrow(deviceName, target, family);
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
  family: AddressFamily = direct === undefined ? 4 : familyOf(direct.network),
): Promise<void> {
  const dev = ["dev", deviceName];
  const flag = familyFlag(family);
  const overlay = direct === undefined ? null : parseCidr(family, direct.network);
  const onRoute = (devName: string) => (item: unknown) => {
    const r = toRoute(item as RouteJson, devName, family);
    if (r !== undefined && (overlay === null || insideNetwork(r.dst, overlay))) sink.route(r);
  };
  try {
    await Promise.all([
      streamJson("ip", ["-json", flag, "neigh", "show", ...dev], target, (item) => {
        const n = toNeighbour(item as NeighJson, family);
        if (n !== undefined) sink.neighbour(n);
      }),
      streamJson("bridge", ["-json", "fdb", "show", ...dev], target, (item) => {
        const f = toFdb(item as FdbJson);
        if (f !== undefined) sink.fdb(f);
      }),
      streamJson("ip", ["-json", flag, "route", "show", ...dev], target, onRoute(deviceName)),
      direct === undefined || direct.underlayDev === deviceName
        ? Promise.resolve()
        : streamJson(
            "ip",
            ["-json", flag, "route", "show", "dev", direct.underlayDev],
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
 * the elements a piece at a time as the output arrives (iproute2 prints `[{...},{...}]`).
 */
async function streamJson(
  tool: Tool,
  args: readonly string[],
  target: HostTarget,
  onItem: (item: unknown) => void,
): Promise<void> {
  const splitter = new JsonArraySplitter(onItem);
  await runTool(tool, args, target, { onStdout: (chunk) => splitter.push(chunk) });
  splitter.end();
}

/** How many `},{` from the end of the text are tried as the cut before waiting for more. */
const CUT_TRIES = 4;

/**
 * Splits a JSON array of objects arriving in pieces into its elements: the complete elements
 * of each piece go through one `JSON.parse` (native code, as fast under any JIT tier as the
 * agent runs at), and only the unfinished element's text is kept. A cut is made where one
 * element ends and the next begins (`},{`); one inside a string or a nested array fails to
 * parse and an earlier (or later) one is taken, so any valid array reads correctly.
 */
export class JsonArraySplitter {
  /** The elements not handed over yet, from the start of one (the array's `[` dropped). */
  private pending = "";
  private opened = false;

  constructor(private readonly onItem: (item: unknown) => void) {}

  /** Feeds the next piece of the array's text; the complete elements go to the callback. */
  push(chunk: string): void {
    let text = this.pending + chunk;
    if (!this.opened) {
      const open = text.search(/\S/);
      if (open < 0) return;
      if (text[open] !== "[") throw notJson();
      this.opened = true;
      text = text.slice(open + 1);
    }
    let cut = text.length;
    for (let i = 0; i < CUT_TRIES; i++) {
      cut = text.lastIndexOf("},{", cut - 1);
      if (cut < 0) break;
      const items = parseArray(text.slice(0, cut + 1));
      if (items === undefined) continue;
      this.pending = text.slice(cut + 2);
      for (const item of items) this.onItem(item);
      return;
    }
    this.pending = text;
  }

  /** The tool's output ended: the last elements go to the callback; throws when it was not a whole array. */
  end(): void {
    const rest = this.pending.trimEnd();
    this.pending = "";
    if (!this.opened) {
      if (rest === "") return; // iproute2 prints nothing for an empty list
      throw notJson();
    }
    if (!rest.endsWith("]")) throw notJson();
    const body = rest.slice(0, -1);
    if (body.trim() === "") return;
    const items = parseArray(body);
    if (items === undefined) throw notJson();
    for (const item of items) this.onItem(item);
  }
}

/** The elements of `[text]`, or undefined when that is not a JSON array. */
function parseArray(text: string): unknown[] | undefined {
  try {
    return JSON.parse(`[${text}]`) as unknown[];
  } catch {
    return undefined;
  }
}

function notJson(): PodnetError {
  return new PodnetError("host", "iproute2 printed something that is not JSON; is it too old?");
}

/** Reads the kernel state a plan is compared with: its device, plus its DirectRouting routes. */
export function readKernelStateFor(plan: DataPlanePlan, target: HostTarget = {}): Promise<KernelState> {
  return readKernelState(
    plan.device.name,
    target,
    { underlayDev: plan.device.dev, network: plan.network },
    plan.device.family,
  );
}

function toDevice(name: string, link: LinkJson & AddrJson, family: AddressFamily): KernelDevice {
  const info = link.linkinfo?.info_data ?? {};
  return {
    name: link.ifname ?? name,
    kind: link.linkinfo?.info_kind ?? "",
    ...(info.id !== undefined && { vni: info.id }),
    ...(info.port !== undefined && { port: info.port }),
    ...((info.local ?? info.local6) !== undefined && { local: info.local ?? info.local6 }),
    ...(info.link !== undefined && { dev: info.link }),
    learning: info.learning === true,
    gbp: info.gbp === true,
    mtu: link.mtu ?? 0,
    mac: (link.address ?? "").toLowerCase(),
    up: (link.flags ?? []).includes("UP"),
    addresses: (link.addr_info ?? []).flatMap((a) =>
      a.family === (family === 6 ? "inet6" : "inet") && a.local !== undefined && a.scope !== "link"
        ? [`${a.local}/${a.prefixlen ?? (family === 6 ? 128 : 32)}`]
        : [],
    ),
  };
}

function toRoutes(routes: readonly RouteJson[], dev: string, family: AddressFamily): KernelRoute[] {
  return routes.flatMap((r) => {
    const k = toRoute(r, dev, family);
    return k === undefined ? [] : [k];
  });
}

function toRoute(r: RouteJson, dev: string, family: AddressFamily): KernelRoute | undefined {
  if (r.dst === undefined || r.gateway === undefined || r.protocol === "kernel") return undefined;
  if (r.type !== undefined && r.type !== "unicast") return undefined;
  // iproute2 prints a host route without its /32 (/128) and 0.0.0.0/0 (::/0) as "default".
  const [any, host] = family === 6 ? ["::/0", 128] : ["0.0.0.0/0", 32];
  const dst = r.dst === "default" ? any : r.dst.includes("/") ? r.dst : `${r.dst}/${host}`;
  return { dst, via: r.gateway, dev: r.dev ?? dev, onlink: (r.flags ?? []).includes("onlink") };
}

function toNeighbour(n: NeighJson, family: AddressFamily): KernelNeighbour | undefined {
  return n.dst !== undefined && parseAddress(family, n.dst) !== null
    ? { ip: n.dst, mac: n.lladdr ?? "", state: (n.state ?? []).join(",") }
    : undefined;
}

function toFdb(f: FdbJson): KernelFdb | undefined {
  return f.mac !== undefined && f.dst !== undefined ? { mac: f.mac, dst: f.dst } : undefined;
}

function insideNetwork(cidr: string, network: IPv4Net | IPv6Net): boolean {
  const net = parseCidr(typeof network.ip === "bigint" ? 6 : 4, cidr);
  return net !== null && net.prefix >= network.prefix && netContains(network, net.ip);
}
