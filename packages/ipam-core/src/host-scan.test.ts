import { etcdAvailable } from "@podnet/test-harness/etcd";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "./etcd/etcd-store.js";
import type { Store } from "./etcd/store.js";
import { HostScan } from "./host-scan.js";
import { LeaseSnapshot } from "./lease-cache.js";
import { parseLeaseKey } from "./lease-codec.js";

const PREFIX = "/host-scan";
const DIR = `${PREFIX}/subnets/`;

// The same awkward entries LeaseSnapshot is tested on, as etcd holds them.
const ENTRIES: [string, string][] = [
  ["10.5.1.0-24", '{"PublicIP":"1.2.3.4","PublicIPv6":null}'],
  ["10.5.2.0-24", '{"PublicIP":"1.2.3.45","PublicIPv6":null}'],
  ["10.5.3.0-24", '{"PublicIP":"1\\u002e2.3.4","PublicIPv6":null}'], // escapes spell the address
  ["10.5.4.0-24", '{"PublicIP":"9.9.9.9","PublicIPv6":null,"PublicIP":"1.2.3.4"}'], // the last one wins
  ["10.5.5.0-24", '{"PublicIP":"1.2.3.4",'], // damaged: occupies, is nobody's
  ["10.5.6.0-23", '{"PublicIP":"5.6.7.8","PublicIPv6":null}'],
  ["10.5.8.0-24&fc00:0:0:1::-64", '{"PublicIP":"1.2.3.4","PublicIPv6":"fc00::1"}'],
  ["10.5.10.0-24", '{ "PublicIP" : "1.2.3.4", "PublicIPv6" : null }'], // spaces
  ["10.5.11.0-24", ""], // empty: damaged
  ["garbage", '{"PublicIP":"1.2.3.4","PublicIPv6":null}'], // foreign: occupies nothing
  ["010.5.9.0-24", '{"PublicIP":"1.2.3.4","PublicIPv6":null}'], // foreign too
];

describe.skipIf(!etcdAvailable())("HostScan against a real etcd", () => {
  const etcd = useEtcd();
  let store: Store;
  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
    await store.txn(
      [],
      ENTRIES.map(([name, value]) => ({ put: DIR + name, value })),
    );
  });
  afterAll(() => store?.close());

  it("finds this host's leases and the occupied subnets exactly as a decoded listing does", async () => {
    const listed = await store.list(DIR);
    const snapshot = new LeaseSnapshot(PREFIX, listed.value, listed.revision);
    for (const ip of ["1.2.3.4", "1.2.3.45", "9.9.9.9", "5.6.7.8", "7.7.7.7"]) {
      const scan = await HostScan.read(store, PREFIX, ip);
      expect(scan.leasesOf(ip), ip).toEqual(snapshot.leasesOf(ip));
      expect(scan.count).toBe(ENTRIES.length);
      expect(scan.revision).toBe(listed.revision);
      const occ = scan.occupied();
      expect({ ip4: occ.ip4, len4: occ.len4, v6: occ.v6 }).toEqual({
        ip4: snapshot.occupied().ip4,
        len4: snapshot.occupied().len4,
        v6: snapshot.occupied().v6,
      });
    }
    const scan = await HostScan.read(store, PREFIX, "1.2.3.4");
    expect(() => scan.leasesOf("5.6.7.8")).toThrow(/a scan for 1\.2\.3\.4/);
  });

  it("learns what a lost create found: its subnet occupied, this host's lease kept", async () => {
    const scan = await HostScan.read(store, PREFIX, "4.4.4.4");
    const at = (name: string, ip: string) => ({
      key: DIR + name,
      value: Buffer.from(`{"PublicIP":"${ip}","PublicIPv6":null}`),
      createRevision: 99,
      modRevision: 99,
      version: 1,
      lease: "0",
    });
    expect(scan.occupied().overlaps(parseLeaseKey("10.5.20.0-24")!)).toBe(false);
    scan.learn(at("10.5.20.0-24", "8.8.8.8"));
    scan.learn(at("10.5.21.0-24", "4.4.4.4"));
    expect(scan.occupied().overlaps(parseLeaseKey("10.5.20.0-24")!)).toBe(true);
    expect(scan.leasesOf("4.4.4.4").map((l) => l.key)).toEqual([`${DIR}10.5.21.0-24`]);
    scan.learn(at("10.5.21.0-24", "8.8.8.8")); // taken over since: no longer this host's
    expect(scan.leasesOf("4.4.4.4")).toEqual([]);
  });
});
