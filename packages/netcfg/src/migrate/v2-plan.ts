/**
 * What `podnet migrate v2` writes into the v3 keyspace, decided without I/O from what the v2
 * keyspace holds and what v3 already holds: the config (validated first), each lease with the
 * TTL it had left (a node without a TTL is a reservation), foreign and damaged nodes skipped.
 * Nothing that v3 already holds differently is ever planned as a write, except the config
 * with `preferV2` (then a compare-and-swap on the revision read).
 */
import {
  classifyEntry,
  configKey,
  decodeListing,
  encodeLeaseValue,
  type KeyValue,
  type Lease,
  type LeaseListing,
  leaseKey,
  OccupiedSubnets,
  PodnetError,
  subnetName,
  subnetsOverlap,
  type V2Keyspace,
} from "@podnet/ipam-core";
import type { Diagnostic } from "../config/diagnostic.js";
import { type ConfigImpact, configImpact } from "../config/impact.js";
import type { ResolvedConfig } from "../config/schema.js";
import { validateConfigText } from "../config/validate.js";
import type { StoredConfig } from "../store/config-store.js";

/** What happens to the config: planned (`migrate`, `replace`) or found (`present`, `conflict`). */
export interface ConfigStep {
  /** `refused`: `preferV2` asked for a replace that would disrupt hosts, without `allowDisruption`. */
  readonly status: "migrate" | "replace" | "present" | "conflict" | "refused" | "migrated" | "replaced";
  /** The v3 key, `<prefix>/config`. */
  readonly key: string;
  /** The v2 document, exactly as stored (written byte for byte). */
  readonly text: string;
  /** The v3 document when one exists. */
  readonly v3Text?: string;
  /** The v3 document's revision (the compare of a replace). */
  readonly v3Revision?: number;
  /** The revision of the write, once written. */
  readonly revision?: number;
  /** What replacing the v3 config by v2's does to the hosts holding v3 leases (when they differ). */
  readonly impact?: ConfigImpact;
}

/** What happens to one v2 lease. */
export interface LeaseStep {
  readonly status: "migrate" | "present" | "conflict" | "expired" | "migrated";
  /** The v3 key the lease goes to (the canonical name). */
  readonly key: string;
  readonly v2Key: string;
  /** `10.5.52.0/24` (and its IPv6 part). */
  readonly subnet: string;
  readonly publicIP: string;
  /** The bytes to write: flannel's encoding of the lease's attributes. */
  readonly value: string;
  /** True when `value` differs from the v2 bytes (an older flannel's or a hand-written encoding). */
  readonly reencoded: boolean;
  /** The seconds the v2 lease had left when read; null for a reservation. */
  readonly ttlSeconds: number | null;
  /** Why it is a conflict or expired. */
  readonly reason?: string;
}

/** A v2 node under `subnets/` that is not a lease. */
export interface SkippedNode {
  readonly v2Key: string;
  readonly kind: "foreign" | "damaged";
  readonly reason: string;
}

/** The plan of a migration whose v2 config is valid. */
export interface V2MigrationPlan {
  readonly valid: true;
  readonly config: ConfigStep;
  readonly leases: readonly LeaseStep[];
  readonly skipped: readonly SkippedNode[];
  readonly warnings: readonly Diagnostic[];
}

/** A v2 config that is not valid: nothing is planned. */
export interface InvalidV2Config {
  readonly valid: false;
  readonly key: string;
  readonly errors: readonly Diagnostic[];
  readonly warnings: readonly Diagnostic[];
}

/** What v2 and v3 hold, for {@link planV2Migration}. */
export interface V2PlanInput {
  /** The v3 prefix written to. */
  readonly prefix: string;
  readonly v2: V2Keyspace;
  readonly v3Config: StoredConfig | undefined;
  /** Every key under the v3 `<prefix>/subnets/`. */
  readonly v3Subnets: readonly KeyValue[];
  /** Replace a differing v3 config by v2's (`--prefer v2`). */
  readonly preferV2: boolean;
  /** Replace it even when that orphans v3 leases or changes their data plane. */
  readonly allowDisruption?: boolean;
}

/**
 * Plans the migration of a v2 keyspace into v3. Throws a not-found error when v2 holds no
 * config at all (the keyspace is not flannel's, or the prefix is wrong).
 */
export function planV2Migration(input: V2PlanInput): V2MigrationPlan | InvalidV2Config {
  const { v2, prefix } = input;
  const text = v2.config?.value;
  if (text === undefined) {
    throw new PodnetError(
      "not-found",
      `no flannel config at ${v2.prefix}/config in the v2 keyspace of ${v2.endpoint}; check --v2-prefix (or --from)`,
    );
  }
  const key = configKey(prefix);
  const validation = validateConfigText(text);
  if (!validation.valid) {
    return { valid: false, key, errors: validation.errors, warnings: validation.warnings };
  }
  const listing = decodeListing(prefix, input.v3Subnets, 0);
  return {
    valid: true,
    config: configStep(key, text, validation.resolved, input, listing.leases),
    ...leaseSteps(input, listing),
    warnings: validation.warnings,
  };
}

function configStep(
  key: string,
  text: string,
  resolved: ResolvedConfig | undefined,
  input: V2PlanInput,
  v3Leases: readonly Lease[],
): ConfigStep {
  const v3 = input.v3Config;
  if (v3 === undefined) return { status: "migrate", key, text };
  const found = { key, text, v3Text: v3.text, v3Revision: v3.modRevision };
  if (v3.text === text) return { status: "present", ...found };
  if (resolved === undefined) return { status: "conflict", ...found };
  const before = validateConfigText(v3.text).resolved;
  const impact = configImpact(before, resolved, v3Leases);
  if (!input.preferV2) return { status: "conflict", ...found, impact };
  const refused = impact.disruptive && input.allowDisruption !== true;
  return { status: refused ? "refused" : "replace", ...found, impact };
}

function leaseSteps(
  input: V2PlanInput,
  listing: LeaseListing,
): { leases: LeaseStep[]; skipped: SkippedNode[] } {
  const { v2, prefix } = input;
  const byKey = new Map<string, KeyValue>(input.v3Subnets.map((kv) => [kv.key, kv]));
  const byOwner = new Map(listing.leases.map((l) => [l.attrs.publicIP, l]));
  const occupied = OccupiedSubnets.of(listing);
  const dir = `${v2.prefix}/subnets/`;
  const leases: LeaseStep[] = [];
  const skipped: SkippedNode[] = [];
  // v2 lists a directory in no particular order; a report in key order reads the same every run
  const nodes = [...v2.subnets].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const node of nodes) {
    const name = node.key.startsWith(dir) ? node.key.slice(dir.length) : node.key;
    if (node.dir === true || node.value === undefined) {
      skipped.push({ v2Key: node.key, kind: "foreign", reason: `"${name}" is a directory, not a lease` });
      continue;
    }
    const entry = classifyEntry(name, node.value);
    if (entry.kind !== "lease") {
      skipped.push({ v2Key: node.key, kind: entry.kind, reason: entry.reason });
      continue;
    }
    const value = encodeLeaseValue(entry.attrs);
    const target = leaseKey(prefix, entry.subnet);
    const base = {
      key: target,
      v2Key: node.key,
      subnet: subnetName(entry.subnet),
      publicIP: entry.attrs.publicIP,
      value,
      reencoded: value !== node.value,
      ttlSeconds: node.ttl ?? null,
    };
    if (node.ttl !== undefined && node.ttl <= 0) {
      leases.push({ ...base, status: "expired", reason: "its TTL ran out" });
      continue;
    }
    const existing = byKey.get(target);
    if (existing !== undefined) {
      const same = existing.value.toString("utf8") === value;
      leases.push(
        same
          ? { ...base, status: "present" }
          : { ...base, status: "conflict", reason: `v3 holds a different value at ${target}` },
      );
      continue;
    }
    const mine = byOwner.get(entry.attrs.publicIP);
    if (mine !== undefined) {
      const reason = `host ${entry.attrs.publicIP} already holds ${subnetName(mine.subnet)} in v3`;
      leases.push({ ...base, status: "conflict", reason });
      continue;
    }
    if (occupied.overlaps(entry.subnet)) {
      const other = listing.leases.find((l) => subnetsOverlap(l.subnet, entry.subnet));
      const what = other ? `the v3 lease ${subnetName(other.subnet)}` : "a damaged v3 entry";
      leases.push({ ...base, status: "conflict", reason: `overlaps ${what}` });
      continue;
    }
    leases.push({ ...base, status: "migrate" });
  }
  return { leases, skipped };
}

/** The tally of a plan or its outcome; `migrated` counts planned writes too (a dry run's "would migrate"). */
export interface MigrationCounts {
  readonly migrated: number;
  readonly present: number;
  readonly conflicts: number;
  readonly skipped: number;
  readonly expired: number;
}

/** Counts the config and the leases by status. */
export function migrationCounts(plan: V2MigrationPlan): MigrationCounts {
  const counts = { migrated: 0, present: 0, conflicts: 0, skipped: plan.skipped.length, expired: 0 };
  for (const { status } of [plan.config, ...plan.leases]) {
    if (status === "present") counts.present++;
    else if (status === "conflict" || status === "refused") counts.conflicts++;
    else if (status === "expired") counts.expired++;
    else counts.migrated++;
  }
  return counts;
}
