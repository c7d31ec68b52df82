/**
 * What one acquisition by a fresh registry (`podnet lease acquire`) reads of the leases, straight
 * from etcd's reply bytes through {@link Store.scan}: every occupied subnet (from the keys, into
 * flat number arrays), this host's leases (only values that could name its PublicIP, holding
 * its address or an escape, are copied and decoded), and how many keys there are. No object per key, so 60,000 leases cost a pass
 * over the bytes, not 60,000 decoded leases.
 */
import { OccupiedSubnets } from "./allocator.js";
import { keyValueAt } from "./etcd/reply-decoders.js";
import type { KeyValue, KeyValueCursor, Store } from "./etcd/store.js";
import { subnetsPrefix } from "./keys.js";
import { decodeEntryIn, type Lease, type LeaseNetwork } from "./lease.js";
import { type AcquireView, addKey } from "./lease-cache.js";
import { leaseKeySplits } from "./scan-splits.js";

const BACKSLASH = 0x5c;

/** One scan of `<prefix>/subnets/` as one host's acquisition needs it. */
export class HostScan implements AcquireView {
  private readonly occupancy = new OccupiedSubnets();
  /** This host's valid leases, by key. */
  private readonly mine = new Map<string, Lease>();
  private readonly dir: string;
  private scanned = { revision: 0, count: 0 };

  private constructor(
    prefix: string,
    /** The host the scan is for: {@link leasesOf} knows no other. */
    readonly publicIP: string,
  ) {
    this.dir = subnetsPrefix(prefix);
  }

  /**
   * Scans the prefix for `publicIP`'s acquisition, in one consistent snapshot (at `revision`,
   * when given); cut into sub-ranges fetched at once by the `network` the leases come from
   * (see scan-splits.ts).
   */
  static async read(
    store: Store,
    prefix: string,
    publicIP: string,
    onPage?: (keys: number, last: boolean) => void,
    network?: LeaseNetwork,
    revision?: number,
  ): Promise<HostScan> {
    const scan = new HostScan(prefix, publicIP);
    // JSON spells this host's address either literally, quotes included, or with a backslash
    // escape: a value with neither cannot name it (nor be its lease), whatever else it holds.
    const quoted = Buffer.from(`"${publicIP}"`);
    const dirBytes = Buffer.byteLength(scan.dir);
    const visit = (c: KeyValueCursor): void => {
      const { buf } = c;
      // Key names are ASCII when they name a subnet; anything else is foreign and occupies nothing.
      addKey(scan.occupancy, buf.toString("latin1", c.keyStart + dirBytes, c.keyEnd));
      const value = buf.subarray(c.valueStart, c.valueEnd);
      if (value.indexOf(quoted) >= 0 || value.indexOf(BACKSLASH) >= 0) scan.take(c); // a decode decides
    };
    scan.scanned = await store.scan(scan.dir, visit, {
      ...(onPage && { onPage }),
      ...(network !== undefined && { splits: leaseKeySplits(prefix, network) }),
      ...(revision !== undefined && { revision }),
    });
    return scan;
  }

  /** The scan's snapshot revision. */
  get revision(): number {
    return this.scanned.revision;
  }

  /** How many keys the scan saw (foreign ones included, as etcd counts them). */
  get count(): number {
    return this.scanned.count;
  }

  occupied(): OccupiedSubnets {
    return this.occupancy;
  }

  leasesOf(publicIP: string): Lease[] {
    if (publicIP !== this.publicIP) throw new Error(`a scan for ${this.publicIP} asked for ${publicIP}`);
    return [...this.mine.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Takes in what a failed create found holding its key. */
  learn(kv: KeyValue): void {
    const name = kv.key.startsWith(this.dir) ? kv.key.slice(this.dir.length) : kv.key;
    addKey(this.occupancy, name);
    this.keep(kv);
  }

  private take(c: KeyValueCursor): void {
    const kv = keyValueAt(c);
    // Kept past the visit: a copy of the value, not a view into the page.
    this.keep({ ...kv, value: Buffer.from(kv.value) });
  }

  private keep(kv: KeyValue): void {
    const entry = decodeEntryIn(this.dir, kv);
    if (entry.kind === "lease" && entry.lease.attrs.publicIP === this.publicIP)
      this.mine.set(kv.key, entry.lease);
    else this.mine.delete(kv.key);
  }
}
