/**
 * The impact of writing a new config, read from etcd: the stored network (when it is valid)
 * and the leases held under the prefix now, handed to the pure {@link configImpact}.
 */
import { decodeListing, type Store, subnetsPrefix } from "@podnet/ipam-core";
import { type ConfigImpact, configImpact } from "../config/impact.js";
import type { ResolvedConfig } from "../config/schema.js";
import { readNetwork } from "./network-loader.js";

/**
 * What replacing the stored config by the resolved `after` would do to the hosts holding
 * leases under `prefix`. A stored config that is missing or invalid has no data plane to
 * compare with: only the leases' fit is judged then.
 */
export async function readConfigImpact(
  store: Store,
  prefix: string,
  after: ResolvedConfig,
): Promise<ConfigImpact> {
  const [stored, { revision, value }] = await Promise.all([
    readNetwork(store, prefix),
    store.list(subnetsPrefix(prefix)),
  ]);
  const before = stored.state === "valid" ? stored.resolved : undefined;
  return configImpact(before, after, decodeListing(prefix, value, revision).leases);
}
