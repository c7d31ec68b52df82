/**
 * The doctor's host section: this host's subnet file and lease, its overlay device against
 * the lease and the config, and the kernel's neighbours, fdb entries and routes against the
 * plan. Pure: the CLI reads the file, the listing and the kernel and passes them in.
 */
import {
  formatIPv4,
  formatIPv6,
  formatTtl,
  type HostLeaseMatch,
  hasIPv4,
  isReservation,
  type Lease,
  subnetName,
  vtepMacOf,
} from "@podnet/ipam-core";
import { overlayMtu } from "../config/overlay.js";
import type { ResolvedBackend } from "../config/schema.js";
import type { LinkInfo } from "../host/link.js";
import type { KernelComparison } from "../host/reconcile.js";
import type { SubnetFileContents } from "../host/subnet-file.js";
import { type Check, CheckList } from "./check.js";

/** A live lease with less than this left is expiring: its agent is probably not renewing it. */
export const EXPIRING_SECONDS = 3600;

/** What reading this host's subnet file gave. */
export interface SubnetFileReading {
  readonly path: string;
  /** Undefined when the file does not exist. */
  readonly contents?: SubnetFileContents;
  /** Why it could not be read or parsed. */
  readonly error?: string;
}

/** The subnet file's line: what it says, or that it is missing or broken. */
export function subnetFileCheck(reading: SubnetFileReading): Check {
  const list = new CheckList("host");
  if (reading.error !== undefined) list.add("subnet-file", "fail", reading.error);
  else if (reading.contents === undefined) list.add("subnet-file", "fail", `${reading.path} does not exist`);
  else list.add("subnet-file", "ok", `${reading.path}: ${subnetFileSummary(reading.contents)}`);
  return list.checks[0] as Check;
}

function subnetFileSummary(f: SubnetFileContents): string {
  const parts: string[] = [];
  if (f.values["FLANNEL_SUBNET"] !== undefined) parts.push(`FLANNEL_SUBNET=${f.values["FLANNEL_SUBNET"]}`);
  if (f.values["FLANNEL_IPV6_SUBNET"] !== undefined)
    parts.push(`FLANNEL_IPV6_SUBNET=${f.values["FLANNEL_IPV6_SUBNET"]}`);
  if (f.mtu !== undefined) parts.push(`FLANNEL_MTU=${f.mtu}`);
  return parts.length === 0 ? "no FLANNEL_SUBNET" : parts.join(" ");
}

/**
 * The lease line: found (and how), expiring, gone, or not found; `ttl` is its remaining TTL
 * (null for a reservation, -1 when its etcd lease is gone). A subnet file naming another
 * lease than the one --public-ip holds is a failure: the host runs on a subnet it lost.
 */
export function hostLeaseCheck(
  match: HostLeaseMatch,
  hints: { readonly publicIp?: string; readonly subnetFile?: SubnetFileReading },
  ttl: number | null,
): Check {
  const list = new CheckList("host");
  const own = match.lease;
  if (own === undefined) {
    list.add("lease", "fail", `${match.why}; 'podnet lease list' shows the leases`);
    return list.checks[0] as Check;
  }
  const detail = `${subnetName(own.subnet)} held by ${own.attrs.publicIP}, VtepMAC ${vtepMacOf(own.attrs) ?? "-"}, TTL ${formatTtl(ttl)}`;
  const fileSubnet = hints.subnetFile?.contents?.previousSubnet();
  const fileName = fileSubnet === undefined ? undefined : subnetName(fileSubnet);
  const ownName = subnetName(own.subnet);
  if (fileName !== undefined && !ownName.startsWith(fileName)) {
    list.add(
      "lease",
      "fail",
      `${detail}: ${hints.subnetFile?.path} names ${fileName}, not this host's lease; restart its agent`,
    );
  } else if (ttl !== null && ttl < 0) list.add("lease", "fail", `${detail}: its etcd lease is gone`);
  else if (ttl !== null && ttl < EXPIRING_SECONDS) {
    list.add("lease", "warn", `${detail}: expires soon; is the agent renewing it?`);
  } else list.add("lease", "ok", detail);
  return list.checks[0] as Check;
}

/** What the device checks compare. */
export interface DeviceInput {
  /** The device's name (flannel.<VNI>, or --iface). */
  readonly name: string;
  readonly link: LinkInfo;
  readonly own: Lease;
  /** The config's backend; undefined when the config is missing or invalid. */
  readonly backend?: ResolvedBackend;
  readonly subnetFile?: SubnetFileContents;
  /** The underlay interface's MTU, when it could be read. */
  readonly underlayMtu?: number;
}

/** The local device against the lease: vxlan with the VNI, its VtepMAC, the lease's address, MTU, up. */
export function deviceChecks(input: DeviceInput): Check[] {
  const list = new CheckList("host");
  const { name, link, own, backend } = input;
  const vni = backend?.Type === "vxlan" ? backend.VNI : undefined;
  if (link.kind !== "vxlan") list.add("device", "fail", `${name} is a ${link.kind} device, not vxlan`);
  else if (vni !== undefined && link.vni !== vni)
    list.add("device", "fail", `${name} has VNI ${link.vni ?? "-"}, the config says ${vni}`);
  else
    list.add(
      "device",
      "ok",
      `${name}: vxlan VNI ${link.vni ?? "-"}${link.dev === undefined ? "" : ` over ${link.dev}`}`,
    );

  const mac = vtepMacOf(own.attrs);
  if (mac === null) list.add("mac", "warn", `the lease has no VtepMAC; ${name} has ${link.mac}`);
  else if (mac === link.mac.toLowerCase()) list.add("mac", "ok", `${link.mac} as the lease publishes`);
  else
    list.add(
      "mac",
      "fail",
      `${name} has ${link.mac}, the lease publishes ${mac}: peers send to the wrong VTEP`,
    );

  const wanted = name.startsWith("flannel-v6")
    ? own.subnet.ipv6 && `${formatIPv6(own.subnet.ipv6.ip)}/128`
    : hasIPv4(own.subnet)
      ? `${formatIPv4(own.subnet.ipv4.ip)}/32`
      : undefined;
  if (wanted !== undefined) {
    if (link.addresses.includes(wanted)) list.add("address", "ok", wanted);
    else {
      const has = link.addresses.length === 0 ? "none" : link.addresses.join(", ");
      list.add("address", "fail", `${name} lacks ${wanted} (has ${has})`);
    }
  }

  const expected = expectedMtu(input);
  if (expected === undefined) list.add("mtu", "ok", `${link.mtu}`);
  else if (expected.mtu === link.mtu) list.add("mtu", "ok", `${link.mtu} (${expected.from})`);
  else list.add("mtu", "fail", `${name} has MTU ${link.mtu}, ${expected.from} is ${expected.mtu}`);

  list.add(
    "up",
    link.up ? "ok" : "fail",
    link.up ? `${name} is up` : `${name} is down; 'ip link set ${name} up' or restart the agent`,
  );
  return list.checks;
}

/** The MTU the device should have: the subnet file's, else the overlay rule from the config or the underlay. */
function expectedMtu(input: DeviceInput): { mtu: number; from: string } | undefined {
  if (input.subnetFile?.mtu !== undefined) {
    return { mtu: input.subnetFile.mtu, from: "the subnet file's FLANNEL_MTU" };
  }
  if (input.backend === undefined) return undefined;
  const rule = overlayMtu(input.backend, input.underlayMtu);
  if (rule.source === "config") return { mtu: rule.mtu, from: "the config's Backend MTU - 50" };
  if (rule.source === "underlay") return { mtu: rule.mtu, from: `${input.link.dev}'s MTU - 50` };
  return undefined;
}

/** The kernel's neighbours, fdb entries and routes against the plan, one line per kind. */
export function kernelTableChecks(comparison: readonly KernelComparison[]): Check[] {
  const list = new CheckList("host");
  for (const [kind, label] of [
    ["neighbour", "neighbours"],
    ["fdb", "fdb"],
    ["route", "routes"],
  ] as const) {
    const of = comparison.filter((c) => c.kind === kind);
    const count = (s: KernelComparison["status"]) => of.filter((c) => c.status === s).length;
    const ok = count("ok");
    const wrong = [
      ...(count("missing") > 0 ? [`${count("missing")} missing`] : []),
      ...(count("wrong-mac") > 0 ? [`${count("wrong-mac")} with the wrong MAC`] : []),
    ];
    const stale = count("stale");
    const planned = of.length - stale;
    const staleText = stale > 0 ? `${wrong.length > 0 ? ", " : "; "}${stale} stale` : "";
    if (wrong.length > 0) {
      list.add(
        label,
        "fail",
        `${ok} of ${planned} as the leases say; ${wrong.join(", ")}${staleText} ('podnet route --kernel' lists them)`,
      );
    } else if (stale > 0) {
      list.add(
        label,
        "warn",
        `${ok} of ${planned} as the leases say${staleText} ('podnet route --kernel' lists them)`,
      );
    } else list.add(label, "ok", `${ok} of ${planned} as the leases say`);
  }
  return list.checks;
}

/** Whether a lease's TTL must be looked up for the host check (reservations have none). */
export function needsTtl(lease: Lease): boolean {
  return !isReservation(lease);
}
