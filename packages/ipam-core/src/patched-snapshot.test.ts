import { storedEntry } from "@podnet/test-harness/flannel";
import { describe, expect, it } from "vitest";
import type { KeyValue } from "./etcd/store.js";
import { LeaseSnapshot } from "./lease-cache.js";
import { parseLeaseKey } from "./lease-codec.js";
import { PatchedSnapshot } from "./patched-snapshot.js";

const PREFIX = "/coreos.com/network";
const DIR = `${PREFIX}/subnets/`;

const kv = (name: string, value: string, lease = "0", rev = 5): KeyValue =>
  storedEntry(DIR, name, value, lease, rev);
const nameOf = (key: string): string => key.slice(DIR.length);

describe("PatchedSnapshot", () => {
  const v = (ip: string): string => `{"PublicIP":"${ip}","PublicIPv6":null}`;
  const base = (): LeaseSnapshot =>
    new LeaseSnapshot(
      PREFIX,
      [kv("10.5.1.0-24", v("1.1.1.1"), "7", 3), kv("10.5.3.0-24", v("3.3.3.3"), "7", 4)],
      10,
    );
  const put = (name: string, ip: string, revision: number) => ({
    key: DIR + name,
    kv: kv(name, v(ip), "9", revision),
    revision,
  });

  it("is exact up to the last revision without a gap, and lists the writes in key order", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    expect(view.revision).toBe(10);
    view.apply(put("10.5.4.0-24", "4.4.4.4", 12));
    expect(view.revision).toBe(10); // revision 11 is someone else's until it turns up
    view.apply(put("10.5.2.0-24", "2.2.2.2", 11));
    expect(view.revision).toBe(12);
    expect(view.listing().revision).toBe(12);
    expect(view.listing().leases.map((l) => nameOf(l.key))).toEqual([
      "10.5.1.0-24",
      "10.5.2.0-24",
      "10.5.3.0-24",
      "10.5.4.0-24",
    ]);
    expect(view.leasesOf("2.2.2.2").map((l) => l.modRevision)).toEqual([11]);
    expect(view.occupied().overlaps(parseLeaseKey("10.5.4.0-24")!)).toBe(true);
  });

  it("drops deleted keys, keeps the newer of two writes of a key, and ignores what the listing holds", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    expect(view.occupied().overlaps(parseLeaseKey("10.5.1.0-24")!)).toBe(true);
    view.apply({ key: `${DIR}10.5.1.0-24`, kv: undefined, revision: 11 });
    view.apply(put("10.5.3.0-24", "9.9.9.9", 13));
    view.apply(put("10.5.3.0-24", "8.8.8.8", 12)); // answered late: the older write
    view.apply(put("10.5.1.0-24", "5.5.5.5", 9)); // at or below the listing's revision: already in it
    expect(view.revision).toBe(13);
    expect(view.occupied().overlaps(parseLeaseKey("10.5.1.0-24")!)).toBe(false);
    expect(view.leasesOf("1.1.1.1")).toEqual([]);
    expect(view.leasesOf("5.5.5.5")).toEqual([]);
    expect(view.leasesOf("9.9.9.9").map((l) => nameOf(l.key))).toEqual(["10.5.3.0-24"]);
    expect(view.listing().leases.map((l) => l.attrs.publicIP)).toEqual(["9.9.9.9"]);
  });

  it("expects the count etcd would give at a revision if only the writes it knows happened", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    expect(view.sizeAt(10)).toBe(2);
    expect(view.sizeAt(9)).toBeUndefined(); // older than the listing: cannot say
    view.apply(put("10.5.4.0-24", "4.4.4.4", 12)); // a create
    view.apply(put("10.5.3.0-24", "9.9.9.9", 13)); // a change of a key it holds: no new key
    view.apply({ key: `${DIR}10.5.1.0-24`, kv: undefined, revision: 14 }); // a delete
    expect([view.sizeAt(11), view.sizeAt(12), view.sizeAt(13), view.sizeAt(14)]).toEqual([2, 3, 3, 2]);
  });

  it("patches in a key learned from a lost create without calling itself exact past it", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    const theirs = { ...kv("10.5.7.0-24", v("7.7.7.7"), "5", 11), createRevision: 11 };
    view.apply({ key: theirs.key, kv: theirs, revision: 11 }, true);
    expect(view.revision).toBe(10); // revision 11 may have written more than that key
    expect(view.occupied().overlaps(parseLeaseKey("10.5.7.0-24")!)).toBe(true);
    expect(view.leasesOf("7.7.7.7").map((l) => nameOf(l.key))).toEqual(["10.5.7.0-24"]);
    expect(view.sizeAt(11)).toBe(3); // etcd counts it from its creation on
    // Learned again, or a key the listing already holds as it is: nothing changes.
    view.apply({ key: theirs.key, kv: theirs, revision: 11 }, true);
    const listed = kv("10.5.1.0-24", v("1.1.1.1"), "7", 3);
    view.apply({ key: listed.key, kv: listed, revision: 3 }, true);
    expect(view.sizeAt(11)).toBe(3);
    // An own write at 11 would be news; the learned key did not fill that gap.
    view.apply(put("10.5.8.0-24", "8.8.8.8", 12));
    expect(view.revision).toBe(10);
  });

  it("folds past its exact revision once writes pile up, and is exact nowhere from then on", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    // Someone else's revision 11 keeps the view from ever being exact past 10.
    view.settle(5000);
    for (let i = 0; i < 4200; i++) {
      const name = `10.${6 + (i >> 8)}.${i & 255}.0-24`;
      view.apply(put(name, `6.0.${i >> 8}.${i & 255}`, 12 + i));
    }
    expect(view.revision).toBe(-1);
    expect(view.sizeAt(4211)).toBe(2 + 4200);
    expect(view.leasesOf("6.0.0.7").map((l) => nameOf(l.key))).toEqual(["10.6.7.0-24"]);
    expect(view.occupied().overlaps(parseLeaseKey("10.22.103.0-24")!)).toBe(true);
    expect(() => view.listing()).toThrow(/exact nowhere/);
  });

  it("keeps what is occupied right through a fold: the base and the patches together hold the same keys", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    const names = ["10.5.1.0-24", "10.5.3.0-24"];
    expect(view.occupied().ip4).toHaveLength(2); // from now on patched in place
    for (let i = 0; i < 4200; i++) {
      const name = `10.${6 + (i >> 8)}.${i & 255}.0-24`;
      names.push(name);
      view.apply(put(name, `6.0.${i >> 8}.${i & 255}`, 11 + i));
      view.settle(11 + i);
    }
    expect(view.revision).toBe(4210); // folded once, still exact
    const occupied = (o: { ip4: readonly number[]; len4: readonly number[] }) =>
      o.ip4.map((ip, i) => `${ip}/${o.len4[i]}`).sort();
    const fresh = new LeaseSnapshot(
      PREFIX,
      names.map((n) => kv(n, v("1.1.1.1"))),
      1,
    ).occupied();
    expect(occupied(view.occupied())).toEqual(occupied(fresh));
    // A delete after the fold frees its subnet.
    view.apply({ key: DIR + "10.6.9.0-24", kv: undefined, revision: 4211 });
    expect(view.occupied().overlaps(parseLeaseKey("10.6.9.0-24")!)).toBe(false);
    expect(view.occupied().overlaps(parseLeaseKey("10.6.10.0-24")!)).toBe(true);
  });

  it("stays vouched for by a count while only its own writes follow", () => {
    const view = new PatchedSnapshot(PREFIX, base());
    expect(view.vouched).toBe(10);
    view.apply(put("10.5.4.0-24", "4.4.4.4", 12)); // 11 was someone else's
    expect([view.revision, view.vouched]).toEqual([10, 10]);
    view.vouch(12); // a count at 12 matched
    expect([view.revision, view.vouched]).toEqual([10, 12]);
    view.apply(put("10.5.5.0-24", "5.5.5.5", 14));
    expect(view.vouched).toBe(12); // 13 was someone else's again
    view.apply(put("10.5.6.0-24", "6.6.6.6", 13)); // no: an own write answered late
    expect(view.vouched).toBe(14);
    expect(view.revision).toBe(10); // revision 11 never fills: exact no further
  });
});
