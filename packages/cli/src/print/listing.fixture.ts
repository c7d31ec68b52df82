/** Test fixtures for the printers (not built: see tsconfig.json). */
import { decodeListing, type LeaseListing } from "@podnet/ipam-core";

/** A listing decoded from flannel's bytes, as the registry hands it over. */
export function listingOf(entries: Record<string, { value: string; lease?: string }>): LeaseListing {
  const kvs = Object.entries(entries).map(([name, e], i) => ({
    key: `/coreos.com/network/subnets/${name}`,
    value: Buffer.from(e.value),
    createRevision: i + 2,
    modRevision: i + 2,
    version: 1,
    lease: e.lease ?? "0",
  }));
  return decodeListing("/coreos.com/network", kvs, 42);
}
