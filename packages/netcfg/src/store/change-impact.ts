/**
 * The impact of writing a new config, read from etcd: the leases now held under the prefix
 * and the stored config, handed to the pure {@link configImpact}.
 */
import { decodeListing, type Store, subnetsPrefix } from "@podnet/ipam-core";
import { type ConfigImpact, configImpact } from "../config/impact.js";
import type { ResolvedConfig } from "../config/schema.js";
import { validateConfigText } from "../config/validate.js";

/**
 * What replacing the stored document `currentText` (undefined: none) by the resolved `after`
 * would do to the hosts holding leases under `prefix` now. A stored document that is not
 * valid has no data plane to compare with: only the leases' fit is judged then.
 */
export async function readConfigImpact(
  store: Store,
  prefix: string,
  currentText: string | undefined,
  after: ResolvedConfig,
): Promise<ConfigImpact> {
  const before = currentText === undefined ? undefined : validateConfigText(currentText).resolved;
  const { revision, value } = await store.list(subnetsPrefix(prefix));
  const listing = decodeListing(prefix, value, revision);
  return configImpact(before, after, listing.leases);
}
