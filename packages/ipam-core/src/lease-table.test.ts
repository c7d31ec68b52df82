import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addressMap, checkLeases, FINDING_KINDS, utilisation } from "./analysis.js";
import { vtepMacOf } from "./backend-data.js";
import { WireWriter } from "./etcd/protobuf-wire.js";
import { walkRangeResponse } from "./etcd/reply-decoders.js";
import type { KeyValue, KeyValueCursor } from "./etcd/store.js";
import {
  compareSubnets,
  type DamagedEntry,
  decodeListing,
  type ForeignEntry,
  type Lease,
  type LeaseListing,
  leaseWith,
} from "./lease.js";
import { decodeAnyLeaseValue, foreignReason, parseLeaseKey, utf8Text } from "./lease-codec.js";
import { DUAL_10_5 } from "./lease-network.fixture.js";
import { LeaseTable, LeaseTableBuilder } from "./lease-table.js";

const P = "/coreos.com/network";
const DIR = `${P}/subnets/`;
const MAC = "c6:d2:32:6f:8f:44";

/** A cursor over one KeyValue, as a store's scan hands it to the visit. */
function cursorOf(kv: KeyValue): KeyValueCursor {
  const key = Buffer.from(kv.key);
  // Bytes between and around key and value, as in a real reply (revisions, tags).
  const pad = Buffer.from("xyz");
  const buf = Buffer.concat([pad, key, pad, kv.value, pad]);
  return {
    buf,
    keyStart: 3,
    keyEnd: 3 + key.length,
    valueStart: 6 + key.length,
    valueEnd: 6 + key.length + kv.value.length,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    hasLease: kv.lease !== "0",
    lease: () => kv.lease,
  };
}

const vxlan = (ip: string, vni = 1, mac = MAC) =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;

/** Every kind of entry the codec tells apart, in etcd's key order (not address order). */
const ENTRIES: [string, string, string][] = [
  ["10.5.1.0-24", vxlan("192.0.2.1"), "7"],
  ["10.5.10.0-24", vxlan("192.0.2.10", 2), "7"],
  ["10.5.100.0-24", vxlan("192.0.2.1"), "8"], // duplicate PublicIP
  ["10.5.2.0-23", vxlan("192.0.2.2"), "8"], // wrong length, overlaps 10.5.3.0/24
  ["10.5.3.0-24", `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan"}`, "0"], // reservation, no data
  ["10.5.4.0-24", vxlan("192.0.2.4", 1, "01:00:5e:00:00:01"), "7"], // multicast VtepMAC
  ["10.5.5.0-24", `{ "PublicIP": "192.0.2.5", "BackendType": "host-gw" }`, "9"], // non-canonical spelling
  ["10.5.6.0-24", "{oops", "9"], // damaged
  ["10.5.8.0-24", `{"PublicIP":"192.0.2.8","BackendType":"host-gw","BackendData":{"Note":"grüße"}}`, "9"], // not ASCII
  ["10.5.9.0-24", `\uFEFF{"PublicIP":"192.0.2.9"}`, "9"], // a byte order mark
  [
    "10.5.7.0-24&fc00:0:0:7::-64",
    `{"PublicIP":"192.0.2.7","PublicIPv6":"fc00::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    "7",
  ],
  [
    "0.0.0.0-0&fc00:0:0:8::-64",
    `{"PublicIP":"192.0.2.8","PublicIPv6":"fc00::8","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    "7",
  ],
  ["10.99.0.0-24", vxlan("192.0.2.99"), "7"], // out of range
  ["not-a-subnet", "x", "0"], // foreign
];

const kvs: KeyValue[] = ENTRIES.map(([name, value, lease], i) => ({
  key: DIR + name,
  value: Buffer.from(value),
  createRevision: 10 + (i % 3), // ties, so that the key decides which is newer
  modRevision: 20 + i,
  version: 1,
  lease,
}));

const NET = DUAL_10_5;

/** A small seeded generator (mulberry32), so that a large test's data is the same every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A table of `list` read key by key, taken at revision 9. */
function scannedOf(list: readonly KeyValue[]): LeaseTable {
  const b = new LeaseTableBuilder(P);
  for (const kv of list) b.add(cursorOf(kv));
  return b.finish(9);
}

/** How many chunks of row bytes a table holds (white box: the rows whose columns do not say them). */
function keptChunks(t: LeaseTable): number {
  return (t as unknown as { cols: { bytes: { chunks: Buffer[] } } }).cols.bytes.chunks.length;
}

const HEX2 = (n: number) => n.toString(16).padStart(2, "0");

function scanned(): LeaseTable {
  const b = new LeaseTableBuilder(P);
  for (const kv of kvs) b.add(cursorOf(kv));
  return b.finish(50);
}

describe("LeaseTable", () => {
  it("decodes back into exactly the listing decodeListing makes, in address order", () => {
    const listing = decodeListing(P, kvs, 50);
    const t = scanned();
    expect(t.listing()).toEqual(listing);
    expect(t.size).toBe(listing.leases.length);
    expect(t.reservations).toBe(1);
    expect([...t.etcdLeaseIds()].sort()).toEqual(["7", "8", "9"]);
  });

  it("gives the analysis the same answers as the listing it stands for", () => {
    const listing = decodeListing(P, kvs, 50);
    const t = scanned();
    const ttls = new Map([
      ["7", 30],
      ["8", 86_000],
    ]);
    expect(utilisation(t, NET, ttls)).toEqual(utilisation(listing, NET, ttls));
    const config = { valid: true, errors: [], backendType: "vxlan", vni: 1 };
    const findings = checkLeases({ listing: t, network: NET, config });
    expect(findings).toEqual(checkLeases({ listing, network: NET, config }));
    // Every kind but the config's own is in the fixture.
    expect(new Set(findings.map((f) => f.kind))).toEqual(
      new Set(FINDING_KINDS.filter((k) => !k.startsWith("config-"))),
    );
    for (const family of [4, 6] as const) {
      expect(addressMap(t, NET, family, { ttls, maxCells: 64 })).toEqual(
        addressMap(listing, NET, family, { ttls, maxCells: 64 }),
      );
    }
  });

  it("grows past its first columns and byte chunks without losing a row", () => {
    const many: KeyValue[] = [];
    // Every fourth value is not in flannel's own form (a long note), so its bytes are kept: ~2 MB of them.
    const note = (i: number) =>
      `{"PublicIP":"172.16.${(i >> 8) & 255}.${i & 255}","BackendType":"host-gw","BackendData":{"Note":"${"n".repeat(400)}"}}`;
    for (let i = 0; i < 20_000; i++) {
      const name = `10.${(i >> 8) & 255}.${i & 255}.0-24`;
      many.push({
        key: DIR + name,
        value: Buffer.from(i % 4 === 0 ? note(i) : vxlan(`172.16.${(i >> 8) & 255}.${i & 255}`, 1)),
        createRevision: i + 2,
        modRevision: i + 2,
        version: 1,
        lease: String(1000 + (i % 5)),
      });
    }
    const b = new LeaseTableBuilder(P);
    for (const kv of many) b.add(cursorOf(kv));
    const t = b.finish(9);
    expect(t.listing()).toEqual(decodeListing(P, many, 9));
    expect(keptChunks(t)).toBeGreaterThan(1);
  });

  it("keeps no bytes of a row its columns give back, and gives its key and value byte for byte", () => {
    const some: KeyValue[] = Array.from({ length: 3_000 }, (_, i) => ({
      key: `${DIR}10.${(i >> 8) & 255}.${i & 255}.${i % 2 === 0 ? "0-24" : "128-25"}`,
      value: Buffer.from(
        i % 3 === 0
          ? `{"PublicIP":"192.0.${i & 255}.${(i * 7) & 255}","PublicIPv6":null,"BackendType":"host-gw"}`
          : i % 3 === 1
            ? `{"PublicIP":"10.0.0.${i & 255}","PublicIPv6":null}`
            : vxlan(`198.51.100.${i & 255}`, i, `c6:d2:32:6f:${HEX2(i >> 8)}:${HEX2(i & 255)}`),
      ),
      createRevision: i + 2,
      modRevision: i + 3,
      version: 1,
      lease: i % 5 === 0 ? "0" : String(7000 + i),
    }));
    const t = scannedOf(some);
    expect(keptChunks(t)).toBe(0);
    expect(t.listing()).toEqual(decodeListing(P, some, 9));
    for (let i = 0; i < t.size; i++) {
      // A key name written without a string, as the JSON writers write it.
      const name = Buffer.alloc(t.keyNameLength(i));
      t.copyKeyName(i, name, 0);
      expect(DIR + name.toString("latin1")).toBe(t.key(i));
    }
    // One BackendData the columns do not hold (not vxlan's): that row's bytes are kept.
    const odd = {
      ...some[0]!,
      key: `${DIR}10.99.0.0-24`,
      value: Buffer.from(
        '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"host-gw","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
      ),
    };
    const withOdd = scannedOf([...some, odd]);
    expect(keptChunks(withOdd)).toBe(1);
    expect(withOdd.listing()).toEqual(decodeListing(P, [...some, odd], 9));
  });

  it("sorts rows by address, then prefix length, then key order, whatever order etcd's keys come in", () => {
    // etcd's byte order puts 10.0.0.0-16 before 10.0.0.0-8 and 10.10.0.0 before 10.9.0.0.
    const names = ["10.0.0.0-16", "10.0.0.0-8", "10.10.0.0-16", "10.9.0.0-16", "9.0.0.0-8", "10.0.0.0-24"];
    const some = names.map((name, i) => ({ ...kvs[0]!, key: DIR + name, modRevision: 30 + i }));
    const b = new LeaseTableBuilder(P);
    for (const kv of some) b.add(cursorOf(kv));
    const t = b.finish(50);
    expect(t.listing()).toEqual(decodeListing(P, some, 50));
    expect([...t.leases()].map((l) => l.key.slice(DIR.length))).toEqual([
      "9.0.0.0-8",
      "10.0.0.0-8",
      "10.0.0.0-16",
      "10.0.0.0-24",
      "10.9.0.0-16",
      "10.10.0.0-16",
    ]);
  });

  it("rows read from large and small replies, interleaved, decode alike once the replies are gone", () => {
    const kvsOf = (from: number, n: number): KeyValue[] =>
      Array.from({ length: n }, (_, k) => {
        const i = from + k;
        return {
          key: `${DIR}10.${(i >> 8) & 255}.${i & 255}.0-24`,
          value: Buffer.from(vxlan(`172.16.${(i >> 8) & 255}.${i & 255}`, 1)),
          createRevision: i + 2,
          modRevision: i + 3,
          version: 1,
          lease: String(1000 + (i % 5)),
        };
      });
    // Large (over 64 KiB), small, large again.
    const parts = [kvsOf(0, 3000), kvsOf(3000, 5), kvsOf(3005, 3000)];
    const replies = parts.map((part) =>
      rangeReply(
        part.map((kv) => ({
          key: Buffer.from(kv.key),
          value: kv.value,
          lease: BigInt(kv.lease),
          rev: kv.createRevision,
        })),
      ),
    );
    expect(replies.map((r) => r.length > 64 << 10)).toEqual([true, false, true]);
    const b = new LeaseTableBuilder(P);
    for (const reply of replies) walkRangeResponse(reply, (c) => b.add(c));
    const all = parts.flat();
    expect(b.finish(9).listing()).toEqual(decodeListing(P, all, 9));
    // The same replies as the h2 transport gives them: in ~16 KB pieces. Each piece is a buffer
    // of its own that is overwritten once walked: a row that still pointed into one would show.
    const fromPieces = new LeaseTableBuilder(P);
    for (const reply of replies) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < reply.length; at += 16_377)
        pieces.push(Buffer.from(reply.subarray(at, at + 16_377)));
      walkRangeResponse(pieces, (c) => fromPieces.add(c));
      for (const piece of pieces) piece.fill(0);
    }
    expect(fromPieces.finish(9).listing()).toEqual(decodeListing(P, all, 9));
  });

  it("made without rows, counts the same and refuses to decode a lease", () => {
    const b = new LeaseTableBuilder(P, { rows: false });
    for (const kv of kvs) b.add(cursorOf(kv));
    const t = b.finish(50);
    expect(utilisation(t, NET)).toEqual(utilisation(decodeListing(P, kvs, 50), NET));
    expect(() => t.lease(0)).toThrow(/without its rows/);
  });

  it("keeps a listing's own order and objects when made from one", () => {
    const listing = decodeListing(P, kvs, 50);
    const reversed = { ...listing, leases: [...listing.leases].reverse() };
    const t = LeaseTable.of(reversed, P);
    expect([...t.leases()]).toEqual(reversed.leases);
    expect(t.lease(0)).toBe(reversed.leases[0]);
  });
});

/** A RangeResponse holding `kvs` as etcd encodes them, lease ids as int64 varints. */
function rangeReply(entries: readonly { key: Buffer; value: Buffer; lease: bigint; rev: number }[]): Buffer {
  const w = new WireWriter().message(1, new WireWriter().uint(3, 1000));
  for (const e of entries) {
    w.message(
      2,
      new WireWriter()
        .bytes(1, e.key)
        .uint(2, e.rev)
        .uint(3, e.rev + 1)
        .uint(4, 1)
        .bytes(5, e.value)
        .int64(6, e.lease),
    );
  }
  return Buffer.from(w.finish());
}

/**
 * decodeListing's answer worked out apart from the canonical form's reader (lease-bytes.ts,
 * which decodeLeaseValue shares): every value through the JSON decoder.
 */
function referenceListing(kvs: readonly KeyValue[], revision: number): LeaseListing {
  const leases: Lease[] = [];
  const damaged: DamagedEntry[] = [];
  const foreign: ForeignEntry[] = [];
  for (const kv of kvs) {
    const name = kv.key.startsWith(DIR) ? kv.key.slice(DIR.length) : kv.key;
    const subnet = parseLeaseKey(name);
    const { key, lease: etcdLease, modRevision } = kv;
    if (subnet === null) {
      foreign.push({ key, reason: foreignReason(name), etcdLease, modRevision });
      continue;
    }
    const text = utf8Text(kv.value);
    const decoded = text === null ? undefined : decodeAnyLeaseValue(text);
    if (text !== null && decoded?.ok === true) leases.push(leaseWith(kv, subnet, decoded.attrs, text));
    else {
      const reason = decoded === undefined || decoded.ok ? "value is not UTF-8 text" : decoded.reason;
      damaged.push({ key, subnet, reason, value: text ?? kv.value.toString("utf8"), etcdLease, modRevision });
    }
  }
  const bySubnet = (x: { subnet: Lease["subnet"] }, y: { subnet: Lease["subnet"] }) =>
    compareSubnets(x.subnet, y.subnet);
  return { revision, leases: leases.sort(bySubnet), damaged: damaged.sort(bySubnet), foreign };
}

/** A canonical row's value made again from its columns, as the listing views print it. */
function canonicalValueOf(t: LeaseTable, i: number): string {
  const ip = t.publicIP(i);
  let v = `{"PublicIP":"${[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".")}","PublicIPv6":null`;
  const type = t.backendType(i);
  if (type !== undefined) v += `,"BackendType":"${type}"`;
  if (t.hasBackendData(i)) v += `,"BackendData":{"VNI":${t.vni(i)},"VtepMAC":"${t.vtepMac(i)}"}`;
  return `${v}}`;
}

/** Every column of row `i` of `t`, through the table's accessors. */
function rowOf(t: LeaseTable, i: number) {
  return {
    reservation: t.isReservation(i),
    v4: t.hasV4(i),
    ip4: t.ip4(i),
    len4: t.len4(i),
    ip6: t.ip6(i),
    subnet: t.subnet(i),
    publicIP: t.publicIP(i),
    backendType: t.backendType(i),
    hasBackendData: t.hasBackendData(i),
    badBackendData: t.badBackendData(i),
    vni: t.vni(i),
    vtepMac: t.vtepMac(i),
    etcdLease: t.etcdLease(i),
    createRevision: t.createRevision(i),
    modRevision: t.modRevision(i),
  };
}

describe("LeaseTableBuilder's path for flannel's own bytes", () => {
  const octet = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 255 }).map(String) },
    { weight: 1, arbitrary: fc.constantFrom("256", "01", "00", "999", "", "1a") },
  );
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
  const name = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.integer({ min: 0, max: 0xffffff }).map((n) => `10.${n >>> 16}.${(n >>> 8) & 255}.0-24`),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(ip, fc.constantFrom("24", "16", "32", "0", "024", "33", ""))
        .map(([a, l]) => `${a}-${l}`),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "0.0.0.0-0&fc00:0:0:8::-64",
        "10.5.7.0-24&fc00:0:0:7::-64",
        "x",
        "",
        "10.5.7.0-24 ",
      ),
    },
  );
  const hex2 = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0")) },
    { weight: 1, arbitrary: fc.constantFrom("00", "01", "C6", "g0", "0") },
  );
  const mac = fc.oneof(
    { weight: 8, arbitrary: fc.array(hex2, { minLength: 6, maxLength: 6 }).map((h) => h.join(":")) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "00:00:00:00:00:00",
        "01:00:5e:00:00:01",
        "c6-d2-32-6f-8f-44",
        "c6:d2:32:6f:8f",
      ),
    },
  );
  const vni = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom("1", "0", "16777215", "16777216", "99999999", "4294967296", "9999999999"),
    },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 ** 31 }).map(String) },
    { weight: 1, arbitrary: fc.constantFrom("01", "-1", "1.5", "12345678901", "") },
  );
  const data = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 8, arbitrary: fc.tuple(vni, mac).map(([v, m]) => `{"VNI":${v},"VtepMAC":"${m}"}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{"VtepMAC":"c6:d2:32:6f:8f:44","VNI":1}',
        '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44","X":1}',
        '{"VNI":1, "VtepMAC":"c6:d2:32:6f:8f:44"}',
        "null",
        "{}",
        '{"PublicKey":"Zm9vYmFyK2Jhei9xdXV4PT0rKysrKysrKysrKysrKys=","Port":51820}',
      ),
    },
  );
  const type = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(undefined, "vxlan", "host-gw", "ipip", "wireguard") },
    { weight: 1, arbitrary: fc.constantFrom("", "VXLAN", "Vxlan", "a".repeat(32), "a".repeat(33), "x_y") },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,12}$/) },
  );
  const v6 = fc.constantFrom("null", "null", "null", '"fc00::1"', '"nope"');
  const canonical = fc.tuple(ip, v6, type, data).map(([p, six, t, d]) => {
    let v = `{"PublicIP":"${p}","PublicIPv6":${six}`;
    if (t !== undefined) v += `,"BackendType":"${t}"`;
    if (d !== undefined) v += `,"BackendData":${d}`;
    return `${v}}`;
  });
  // Near misses: one byte changed, cut short, or something around it.
  const value = fc.oneof(
    { weight: 6, arbitrary: canonical.map((v) => Buffer.from(v)) },
    {
      weight: 2,
      arbitrary: fc.tuple(canonical, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, at, byte]) => {
        const b = Buffer.from(v);
        b[at % b.length] = byte;
        return b;
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(canonical, fc.nat()).map(([v, at]) => Buffer.from(v).subarray(0, at % v.length)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(canonical, fc.constantFrom(" ", "\n", "\uFEFF", "}", '"'), fc.boolean())
        .map(([v, extra, before]) => Buffer.from(before ? extra + v : v + extra)),
    },
  );
  const lease = fc.oneof(
    fc.constantFrom(0n, 0n, 7n, 2n ** 53n + 1n, 2n ** 63n - 1n, 7587883012345678901n, -1n),
    fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
  );
  const entry = fc.record({ name, value, lease, rev: fc.integer({ min: 1, max: 2 ** 40 }) });
  const dirs = fc.constantFrom(DIR, DIR, DIR, `${P}/other/`, `${P}/subnets`);

  it("fills the columns exactly as the general codec does, for any entry", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(entry, dirs), { maxLength: 40 }), fc.boolean(), (list, viaText) => {
        const entries = list.map(([e, dir]) => ({ ...e, key: Buffer.from(dir + e.name) }));
        const kvs: KeyValue[] = entries.map((e) => ({
          key: e.key.toString(),
          value: e.value,
          createRevision: e.rev,
          modRevision: e.rev + 1,
          version: 1,
          lease: BigInt.asIntN(64, e.lease).toString(),
        }));
        const fast = new LeaseTableBuilder(P);
        const counts = new LeaseTableBuilder(P, { rows: false });
        if (viaText) {
          // A cursor without the reply's bytes for the lease id (etcd3's decoded replies).
          for (const kv of kvs) fast.add(cursorOf(kv));
          for (const kv of kvs) counts.add(cursorOf(kv));
        } else {
          // Bytes after the value and the key that would close them ("}), so no read may run past its end.
          const reply = rangeReply(
            entries.map((e) => ({ ...e, value: Buffer.concat([e.value, Buffer.from('"}')]) })),
          );
          walkRangeResponse(reply, (c) => {
            const inner = { ...c, lease: () => c.lease(), valueEnd: c.valueEnd - 2 };
            fast.add(inner);
            counts.add(inner);
          });
        }
        const t = fast.finish(9);
        const c = counts.finish(9);
        const listing = referenceListing(kvs, 9);
        expect(decodeListing(P, kvs, 9)).toEqual(listing);
        expect(t.listing()).toEqual(listing);
        const ref = LeaseTable.of(listing, P);
        expect(t.size).toBe(ref.size);
        expect(c.size).toBe(ref.size);
        for (let j = 0; j < ref.size; j++) {
          expect(rowOf(t, t.order[j]!)).toEqual(rowOf(ref, j));
          expect(rowOf(c, c.order[j]!)).toEqual(rowOf(ref, j));
          // The VtepMAC column is the codec's own reading of the lease.
          expect(ref.vtepMac(j)).toBe(vtepMacOf(listing.leases[j]!.attrs));
          const i = t.order[j]!;
          if (t.isCanonical(i) && (!t.hasBackendData(i) || t.vtepMac(i) !== null)) {
            expect(canonicalValueOf(t, i)).toBe(listing.leases[j]!.value);
          }
          // The key name's bytes as the JSON writers copy them, kept or given back by the columns.
          const name = Buffer.alloc(t.keyNameLength(i));
          t.copyKeyName(i, name, 0);
          expect(name).toEqual(Buffer.from(listing.leases[j]!.key).subarray(Buffer.byteLength(t.keyDir)));
        }
        expect(t.etcdLeaseIds()).toEqual(ref.etcdLeaseIds());
        expect(c.damaged).toEqual(listing.damaged);
        expect(c.foreign).toEqual(listing.foreign);
      }),
      { numRuns: 400 },
    );
  });

  /** A RangeResponse of `entries` with protobuf a real etcd does not write but may (unknown fields, fields out of order). */
  const oddReply = (
    entries: readonly { key: Buffer; value: Buffer; lease: bigint; rev: number }[],
    odd: { headerLast: boolean; unknown: boolean; more: boolean; pad: number },
  ): Buffer => {
    const w = new WireWriter();
    const header = new WireWriter().uint(1, 5).uint(3, 1000);
    if (!odd.headerLast) w.message(1, header);
    if (odd.pad > 0) w.bytes(15, Buffer.alloc(odd.pad, 7));
    entries.forEach((e, i) => {
      const kv = new WireWriter();
      if (odd.unknown && i % 3 === 0) kv.uint(9, 12345).bytes(11, Buffer.from("x"));
      kv.bytes(1, e.key)
        .uint(2, e.rev)
        .uint(3, e.rev + 1)
        .uint(4, 1)
        .bytes(5, e.value)
        .int64(6, e.lease);
      if (odd.unknown && i % 5 === 1) kv.uint(7, 1);
      w.message(2, kv);
      if (odd.unknown && i % 4 === 2) w.uint(4, 99);
    });
    if (odd.more) w.uint(3, 1);
    if (odd.headerLast) w.message(1, header);
    return Buffer.from(w.finish());
  };

  /** `buf` cut at `cuts` (offsets, any order) into pieces, as the h2 transport hands a reply over. */
  const piecesOf = (buf: Buffer, cuts: readonly number[]): Buffer[] => {
    const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const c of [...at, buf.length]) {
      if (c > from) out.push(Buffer.from(buf.subarray(from, c)));
      from = Math.max(from, c);
    }
    return out;
  };

  /** The tables the per-key path and the bulk reader make of one reply, and what each said of it. */
  const bothWays = (reply: Buffer, pieces: readonly Buffer[], rows: boolean) => {
    const perKey = new LeaseTableBuilder(P, { rows });
    const keyWalk = walkRangeResponse(reply, (c) => perKey.add(c));
    const bulk = new LeaseTableBuilder(P, { rows });
    // How many keys the bulk reader left to the per-key path.
    let handedBack = 0;
    const probe = bulk as unknown as { add: (c: KeyValueCursor) => void };
    const add = probe.add.bind(bulk);
    probe.add = (c) => {
      handedBack++;
      add(c);
    };
    const bulkWalk = bulk.addReply(pieces);
    return {
      handedBack,
      perKey: perKey.finish(9),
      bulk: bulk.finish(9),
      keyWalk,
      bulkWalk,
    };
  };

  /** Every row of `t` in row order (key order), with its key and decoded lease where it keeps rows. */
  const rowsOf = (t: LeaseTable, rows: boolean) =>
    Array.from({ length: t.size }, (_, i) => ({
      ...rowOf(t, i),
      canonical: t.isCanonical(i),
      ...(rows && { key: t.key(i), lease: t.lease(i) }),
    }));

  it("reads a whole reply in bulk into the same table as the per-key path, for any entries and protobuf", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(entry, dirs), { maxLength: 40 }),
        fc.record({
          headerLast: fc.boolean(),
          unknown: fc.boolean(),
          more: fc.boolean(),
          pad: fc.constantFrom(0, 0, 70_000),
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (list, odd, cuts, rows) => {
          const entries = list.map(([e, dir]) => ({ ...e, key: Buffer.from(dir + e.name) }));
          const reply = oddReply(entries, odd);
          const { perKey, bulk, keyWalk, bulkWalk } = bothWays(reply, piecesOf(reply, cuts), rows);
          expect(bulkWalk).toEqual(keyWalk);
          expect(rowsOf(bulk, rows)).toEqual(rowsOf(perKey, rows));
          expect([...bulk.order]).toEqual([...perKey.order]);
          expect(bulk.damaged).toEqual(perKey.damaged);
          expect(bulk.foreign).toEqual(perKey.foreign);
          expect(bulk.etcdLeaseIds()).toEqual(perKey.etcdLeaseIds());
          if (rows) expect(bulk.listing()).toEqual(perKey.listing());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads a reply of megabytes in any pieces, a field larger than its window among them", () => {
    const rnd = seeded(11);
    const types = ["vxlan", "host-gw", "ipip", "wireguard", "udp", "a1", "a2", "a3", "a4", "a5", "a6", "a7"];
    const entries = Array.from({ length: 12_000 }, (_, i) => {
      const name = `10.${i >> 8}.${i & 255}.0-24`;
      const k = Math.floor(rnd() * 100);
      // Mostly vxlan, some of a dozen other types (more than the bulk reader caches), a few damaged.
      const value =
        k < 80
          ? vxlan(`192.0.${k}.${i & 255}`, 1 + (i % 3))
          : k < 97
            ? `{"PublicIP":"192.0.2.${i & 255}","PublicIPv6":null,"BackendType":"${types[k % types.length]}"}`
            : k < 99
              ? "{oops"
              : `{"PublicIP":"192.0.2.9","PublicIPv6":"fc00::9"}`;
      return {
        key: Buffer.from(DIR + name),
        value: Buffer.from(value),
        lease: BigInt(1 + (i % 50)) * 7919n,
        rev: 100 + i,
      };
    });
    const plain = oddReply(entries, { headerLast: false, unknown: false, more: true, pad: 0 });
    const huge = oddReply(entries, { headerLast: true, unknown: true, more: false, pad: 2_500_000 });
    for (const reply of [plain, huge]) {
      // Pieces of 1 byte to 100 KiB.
      const cuts: number[] = [];
      for (let at = 0; at < reply.length; at += 1 + Math.floor(rnd() ** 3 * 100_000)) cuts.push(at);
      for (const rows of [true, false]) {
        const { perKey, bulk, keyWalk, bulkWalk, handedBack } = bothWays(reply, piecesOf(reply, cuts), rows);
        expect(bulkWalk).toEqual(keyWalk);
        // The damaged and dual-stack entries (a row across two pieces is copied, not handed back).
        expect(handedBack).toBeGreaterThan(entries.length * 0.02);
        expect(handedBack).toBeLessThan(entries.length * 0.04);
        expect(bulk.size).toBe(entries.length - entries.filter((e) => e.value.toString() === "{oops").length);
        expect(rowsOf(bulk, rows)).toEqual(rowsOf(perKey, rows));
        // With rows, the bulk reader's radix sort; without, the table's own.
        expect([...bulk.order]).toEqual([...perKey.order]);
        expect(bulk.damaged).toEqual(perKey.damaged);
      }
    }
  });

  it("sorts a large table it read in bulk into the same address order as the table's own sort", () => {
    const rnd = seeded(29);
    const names = new Set<string>();
    while (names.size < 6_000) {
      const len = 8 + Math.floor(rnd() * 25);
      const ip = Math.floor(rnd() * 2 ** 32);
      const net = len === 32 ? ip : ip - (ip % 2 ** (32 - len));
      names.add(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}-${len}`);
    }
    const entries = [...names].map((name, i) => ({
      key: Buffer.from(DIR + name),
      value: Buffer.from(vxlan(`192.0.2.${i & 255}`)),
      lease: 7n,
      rev: 5,
    }));
    const reply = oddReply(entries, { headerLast: false, unknown: false, more: false, pad: 0 });
    const { perKey, bulk, handedBack } = bothWays(reply, piecesOf(reply, [70_000, 400_000]), true);
    expect(handedBack).toBeLessThan(10);
    expect(bulk.size).toBe(6_000);
    expect([...bulk.order]).toEqual([...perKey.order]);
  });

  it("says whether its IPv4 networks are distinct, read in bulk or key by key", () => {
    const base = Array.from({ length: 5_000 }, (_, i) => `10.${1 + (i >> 8)}.${i & 255}.0-24`);
    for (const [what, extra, distinct] of [
      ["distinct", [], true],
      ["another length", ["10.200.0.0-23"], false],
      // A key with host bits is no row (it is foreign), so it changes nothing.
      ["a key with host bits", ["10.3.7.9-24"], true],
    ] as const) {
      const entries = [...base, ...extra].map((name, i) => ({
        key: Buffer.from(DIR + name),
        value: Buffer.from(vxlan(`192.0.2.${i & 255}`)),
        lease: 7n,
        rev: 5,
      }));
      const reply = oddReply(entries, { headerLast: false, unknown: false, more: false, pad: 0 });
      const { perKey, bulk } = bothWays(reply, piecesOf(reply, [90_000]), true);
      // The bulk reader and the per-key path, and a table made from the listing, agree.
      expect(bulk.distinctIPv4(), what).toBe(distinct);
      expect(perKey.distinctIPv4(), what).toBe(distinct);
      expect(LeaseTable.of(perKey.listing()).distinctIPv4(), what).toBe(distinct);
    }
  });

  it("fails a damaged reply in bulk as the per-key path does, wherever it is cut short", () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({
      key: Buffer.from(`${DIR}10.5.${i}.0-24`),
      value: Buffer.from(vxlan(`192.0.2.${i}`)),
      lease: 7n,
      rev: 2,
    }));
    const reply = oddReply(entries, { headerLast: true, unknown: true, more: true, pad: 0 });
    for (let end = 0; end < reply.length; end += 7) {
      const cut = reply.subarray(0, end);
      const perKey = new LeaseTableBuilder(P, { rows: false });
      const bulk = new LeaseTableBuilder(P, { rows: false });
      let keyError: unknown;
      let keyWalk: unknown;
      try {
        keyWalk = walkRangeResponse(cut, (c) => perKey.add(c));
      } catch (err) {
        keyError = err;
      }
      if (keyError !== undefined) expect(() => bulk.addReply([cut])).toThrow((keyError as Error).message);
      else {
        expect(bulk.addReply(piecesOf(cut, [end >> 1]))).toEqual(keyWalk);
        expect(rowsOf(bulk.finish(1), false)).toEqual(rowsOf(perKey.finish(1), false));
      }
    }
  });

  it("reads flannel's own values and their edges without the general codec, and leaves the rest to it", () => {
    const fastRows = (values: string[]): number => {
      const b = new LeaseTableBuilder(P);
      let general = 0;
      const probe = b as unknown as { addDecoded: (c: KeyValueCursor) => void };
      const real = probe.addDecoded.bind(b);
      probe.addDecoded = (c) => {
        general++;
        real(c);
      };
      walkRangeResponse(
        rangeReply(
          values.map((v, i) => ({
            key: Buffer.from(`${DIR}10.5.${i}.0-24`),
            value: Buffer.from(v),
            lease: 7n,
            rev: 2,
          })),
        ),
        (cur) => b.add(cur),
      );
      return values.length - general;
    };
    const own = [
      vxlan("192.0.2.1"),
      vxlan("192.0.2.1", 16_777_216), // a VNI above the kernel's: still the form, judged bad in place
      vxlan("192.0.2.1", 1, "01:00:5e:00:00:01"),
      `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"host-gw"}`,
      `{"PublicIP":"192.0.2.3","PublicIPv6":null}`,
    ];
    expect(fastRows(own)).toBe(own.length);
    const others = [
      `{"PublicIP":"192.0.2.3","PublicIPv6":"fc00::3"}`,
      `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"VXLAN"}`,
      `{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":""}`,
      `{"PublicIP":"192.0.2.3","PublicIPv6":null} `,
      `{"PublicIP":"192.0.2.3","BackendType":"vxlan"}`,
      vxlan("192.0.2.1", 1, "C6:D2:32:6F:8F:44"),
      "{oops",
    ];
    expect(fastRows(others)).toBe(0);
  });
});
