/**
 * The impact of a config change on the hosts already using the network: which leases and
 * reservations the new config orphans (outside its range, wrong length, wrong families),
 * which data-plane settings change under running hosts, and how many keep working as they
 * are. Pure: the old and new resolved configs and the lease listing in, a verdict out.
 */
import { hasIPv4, type Lease, type LeaseNetwork, leaseFits, subnetName } from "@podnet/ipam-core";
import { leaseNetworkOf } from "./lease-network.js";
import { type ResolvedBackend, type ResolvedConfig, VXLAN_KERNEL_PORT } from "./schema.js";
import { isSecretField, REDACTED } from "./secrets.js";

/** Why a lease no longer fits the new config. */
export type OrphanReason = "outside-range" | "wrong-length" | "wrong-family";

/** A lease or reservation the new config no longer hands out. */
export interface OrphanedLease {
  readonly key: string;
  /** `10.5.52.0/24` (or both families joined by ` + `). */
  readonly subnet: string;
  readonly publicIP: string;
  readonly reservation: boolean;
  readonly reason: OrphanReason;
}

/** One data-plane setting of the config that changes for every running host. */
export interface SettingChange {
  /** `Backend.Type`, `Backend.VNI`, `Backend.Port`, ... */
  readonly setting: string;
  /** The old and new values as flanneld uses them (a secret is `<redacted>`); null when unset. */
  readonly from: string | number | boolean | null;
  readonly to: string | number | boolean | null;
}

/** What a config change does to the hosts holding leases. */
export interface ConfigImpact {
  /** Leases and reservations (live in etcd) counted. */
  readonly hosts: number;
  /** Hosts whose lease still fits and whose data plane stays as it is. */
  readonly unchanged: number;
  readonly orphaned: readonly OrphanedLease[];
  readonly dataPlane: readonly SettingChange[];
  /** True when the change orphans a lease or changes the data plane under a running host. */
  readonly disruptive: boolean;
}

/**
 * The impact of replacing `before` by `after` on the hosts holding `leases`. With no `before`
 * (no valid config stored) only the leases' fit is judged. Both configs must be resolved (valid).
 */
export function configImpact(
  before: ResolvedConfig | undefined,
  after: ResolvedConfig,
  leases: readonly Lease[],
): ConfigImpact {
  const network = leaseNetworkOf(after);
  const orphaned: OrphanedLease[] = [];
  for (const lease of leases) {
    if (leaseFits(network, lease.subnet)) continue;
    orphaned.push({
      key: lease.key,
      subnet: subnetName(lease.subnet),
      publicIP: lease.attrs.publicIP,
      reservation: lease.etcdLease === "0",
      reason: orphanReason(network, lease),
    });
  }
  const dataPlane = before === undefined ? [] : settingChanges(before, after);
  const hosts = leases.length;
  const unchanged = dataPlane.length > 0 ? 0 : hosts - orphaned.length;
  const disruptive = orphaned.length > 0 || (dataPlane.length > 0 && hosts > 0);
  return { hosts, unchanged, orphaned, dataPlane, disruptive };
}

function orphanReason(network: LeaseNetwork, lease: Lease): OrphanReason {
  const { ipv4, ipv6 } = lease.subnet;
  const v4 = hasIPv4(lease.subnet);
  if ((network.ipv4 !== undefined) !== v4 || (network.ipv6 !== undefined) !== (ipv6 !== undefined)) {
    return "wrong-family";
  }
  if (network.ipv4 !== undefined && ipv4.prefix !== network.ipv4.subnetLen) return "wrong-length";
  if (network.ipv6 !== undefined && ipv6 !== undefined && ipv6.prefix !== network.ipv6.subnetLen) {
    return "wrong-length";
  }
  return "outside-range";
}

type Setting = string | number | boolean | null;

/** The backend fields each type's data plane is built from, with the value flanneld uses. */
const DATA_PLANE: { readonly [T in ResolvedBackend["Type"]]: readonly string[] } = {
  vxlan: ["VNI", "Port", "GBP", "DirectRouting", "Learning", "MTU"],
  udp: ["Port"],
  ipip: ["DirectRouting"],
  wireguard: ["ListenPort", "ListenPortV6", "MTU", "PSK", "PersistentKeepaliveInterval", "Mode"],
  ipsec: ["PSK", "UDPEncap", "ESPProposal"],
  extension: ["PreStartupCommand", "PostStartupCommand", "SubnetAddCommand", "SubnetRemoveCommand"],
  "host-gw": [],
  alloc: [],
  "tencent-vpc": [],
};

/** The data-plane settings that differ between two resolved configs. */
export function settingChanges(before: ResolvedConfig, after: ResolvedConfig): SettingChange[] {
  const a = before.Backend;
  const b = after.Backend;
  const out: SettingChange[] = [];
  if (a.Type !== b.Type) out.push({ setting: "Backend.Type", from: a.Type, to: b.Type });
  else {
    for (const field of DATA_PLANE[a.Type]) {
      const from = effective(a, field);
      const to = effective(b, field);
      if (from === to) continue;
      // a secret's change is named, its values never shown
      const secret = isSecretField(field);
      out.push({
        setting: `Backend.${field}`,
        from: secret && from !== null ? REDACTED : from,
        to: secret && to !== null ? REDACTED : to,
      });
    }
  }
  if (before.EnableNFTables !== after.EnableNFTables) {
    out.push({ setting: "EnableNFTables", from: before.EnableNFTables, to: after.EnableNFTables });
  }
  return out;
}

/** The value flanneld acts on: VXLAN's Port 0 is the kernel's 8472. */
function effective(backend: ResolvedBackend, field: string): Setting {
  const value = (backend as Readonly<Record<string, unknown>>)[field];
  if (backend.Type === "vxlan" && field === "Port" && value === 0) return VXLAN_KERNEL_PORT;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  return null;
}
