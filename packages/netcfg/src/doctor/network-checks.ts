/** The doctor's config and leases sections: the stored config, the `ipam check` summary, utilisation. Pure. */
import {
  type CheckedConfig,
  checkLeases,
  FINDING_KINDS,
  isReservation,
  type LeaseListing,
  utilisation,
} from "@podnet/ipam-core";
import type { ResolvedConfig } from "../config/schema.js";
import { configNotFoundMessage } from "../store/config-store.js";
import type { NetworkState } from "../store/network-loader.js";
import { type Check, CheckList, plural } from "./check.js";

/** The config as the lease checks need it, from what the config key holds. */
export function checkedConfigOf(state: NetworkState): CheckedConfig | undefined {
  if (state.state === "missing") return undefined;
  const backend = state.state === "valid" ? state.resolved.Backend : state.validation.resolved?.Backend;
  return {
    valid: state.state === "valid",
    errors: state.validation.errors.map((e) => ({ path: e.path, message: e.message })),
    key: state.key,
    ...(backend !== undefined && { backendType: backend.Type }),
    ...(backend?.Type === "vxlan" && { vni: backend.VNI }),
  };
}

/** The config section: present, every error and warning of the validator, the resolved summary. */
export function configChecks(state: NetworkState): Check[] {
  const list = new CheckList("config");
  if (state.state === "missing") {
    list.add("present", "fail", configNotFoundMessage(state.key));
    return list.checks;
  }
  const { config, validation } = state;
  list.add("present", "ok", `${config.key} (revision ${config.modRevision}, version ${config.version})`);
  const where = (d: { path: string; message: string }) =>
    d.path === "" ? d.message : `${d.path}: ${d.message}`;
  for (const e of validation.errors) list.add("valid", "fail", where(e));
  if (state.state === "invalid" && validation.errors.length === 0) list.add("valid", "fail", state.problem);
  for (const w of validation.warnings) list.add("warning", "warn", where(w));
  if (state.state === "valid") list.add("valid", "ok", configSummary(state.resolved));
  return list.checks;
}

/** `vxlan VNI 1, Network 10.5.0.0/16, SubnetLen 24`. */
export function configSummary(c: ResolvedConfig): string {
  const be = c.Backend;
  const backend = be.Type === "vxlan" ? `vxlan VNI ${be.VNI}` : be.Type;
  const v4 = c.Network === undefined ? [] : [`Network ${c.Network}`, `SubnetLen ${c.SubnetLen}`];
  const v6 =
    c.IPv6Network === undefined ? [] : [`IPv6Network ${c.IPv6Network}`, `IPv6SubnetLen ${c.IPv6SubnetLen}`];
  return [backend, ...v4, ...v6].join(", ");
}

/**
 * The leases section: counts, the `ipam check` findings by kind (config findings are the
 * config section's), and how full each family's range is. `ttls` may be missing (too many to look up).
 */
export function leaseChecks(
  listing: LeaseListing,
  state: NetworkState,
  ttls: ReadonlyMap<string, number> | undefined,
): Check[] {
  const list = new CheckList("leases");
  const reservations = listing.leases.filter(isReservation).length;
  const live = listing.leases.length - reservations;
  list.add(
    "leases",
    "ok",
    `${plural(live, "lease")}, ${plural(reservations, "reservation")} at revision ${listing.revision}`,
  );
  const network = state.state === "valid" ? state.network : undefined;
  const config = checkedConfigOf(state);
  const findings = checkLeases({
    listing,
    ...(network !== undefined && { network }),
    ...(config !== undefined && { config }),
    configMissing: state.state === "missing",
    configKey: state.key,
  }).filter((f) => f.kind !== "config-missing" && f.kind !== "config-invalid");
  if (findings.length === 0) list.add("check", "ok", "no problems found");
  for (const kind of FINDING_KINDS) {
    const of = findings.filter((f) => f.kind === kind);
    const [first] = of;
    if (first === undefined) continue;
    const status = of.some((f) => f.severity === "error") ? "fail" : "warn";
    const more = of.length > 1 ? ` (and ${of.length - 1} more; 'podnet ipam check' lists them)` : "";
    list.add(kind, status, `${plural(of.length, "finding")}: ${first.message}${more}`);
  }
  if (network !== undefined) {
    const use = utilisation(listing, network, ttls);
    for (const [family, u] of [
      ["IPv4", use.ipv4],
      ["IPv6", use.ipv6],
    ] as const) {
      if (u === undefined) continue;
      const soon = u.expiringSoon ? `, ${u.expiringSoon} expiring within the hour` : "";
      const detail = `${family}: ${u.used} of ${u.total} subnets used (${u.percentUsed}%), ${u.free} free${soon}`;
      const full = u.free === 0 || u.free === 0n;
      list.add(
        "utilisation",
        full || u.percentUsed >= 90 ? "warn" : "ok",
        full ? `${detail}: a new host cannot get a lease` : detail,
      );
    }
  }
  return list.checks;
}
