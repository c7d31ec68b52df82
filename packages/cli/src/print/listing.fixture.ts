/** Test fixtures for the printers (not built: see tsconfig.json). */
import { decodeListing, type LeaseListing, type LeaseTable, LeaseTableBuilder } from "@podnet/ipam-core";

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

/** A lease table read the way a store's scan fills one (key and value bytes), not from a listing. */
export function scannedTableOf(
  prefix: string,
  entries: readonly (readonly [name: string, value: string, lease: string])[],
): LeaseTable {
  const builder = new LeaseTableBuilder(prefix);
  entries.forEach(([name, value, lease], i) => {
    const key = Buffer.from(`${prefix}/subnets/${name}`);
    const buf = Buffer.concat([key, Buffer.from(value)]);
    builder.add({
      buf,
      keyStart: 0,
      keyEnd: key.length,
      valueStart: key.length,
      valueEnd: buf.length,
      createRevision: i + 2,
      modRevision: i + 2,
      version: 1,
      hasLease: lease !== "0",
      lease: () => lease,
    });
  });
  return builder.finish(99);
}
