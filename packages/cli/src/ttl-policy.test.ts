import type { Lease, Store } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { lookupTtls, TtlPrefetch, ttlModeOf, ttlOf } from "./ttl-policy.js";

const lease = (i: number, etcdLease: string): Lease => ({
  key: `/p/subnets/10.5.${i}.0-24`,
  subnet: { ipv4: { ip: (10 << 24) | (5 << 16) | (i << 8), prefix: 24 } },
  attrs: { publicIP: `192.0.2.${i}`, publicIPv6: null },
  value: "{}",
  etcdLease,
  modRevision: 1,
  createRevision: 1,
});

function fakeStore(): Store & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    timeToLiveMany: async (ids: readonly string[]) => {
      asked.push([...ids]);
      return new Map(ids.map((id) => [id, id === "99" ? -1 : 3600]));
    },
  } as unknown as Store & { asked: string[][] };
}

describe("the TTL policy", () => {
  const listing = {
    leases: [lease(1, "11"), lease(2, "11"), lease(3, "12"), lease(4, "0"), lease(5, "99")],
    damaged: [],
  };

  it("auto fetches each distinct etcd lease once when they are few; reservations need none", async () => {
    const store = fakeStore();
    const got = await lookupTtls(store, listing, "auto", { limit: 3 });
    expect(store.asked).toEqual([["11", "12", "99"]]);
    expect(got.note).toBeUndefined();
    expect(ttlOf(got, "11")).toBe(3600);
    expect(ttlOf(got, "99")).toBe(-1);
    expect(ttlOf(got, "0")).toBeNull();
  });

  it("auto above the limit fetches nothing and says how many and that --ttl fetches them", async () => {
    const store = fakeStore();
    const got = await lookupTtls(store, listing, "auto", { limit: 2 });
    expect(store.asked).toEqual([]);
    expect(got.skipped).toBe(3);
    expect(got.note).toMatch(/3 etcd leases.*--ttl/);
    expect(ttlOf(got, "11")).toBeUndefined();
    expect(ttlOf(got, "0")).toBeNull();
  });

  it("--ttl always fetches, --no-ttl never does (and needs no note)", async () => {
    const always = fakeStore();
    expect((await lookupTtls(always, listing, "always", { limit: 0 })).ttls?.size).toBe(3);
    const never = fakeStore();
    const got = await lookupTtls(never, listing, "never");
    expect(never.asked).toEqual([]);
    expect(got.note).toBeUndefined();
    expect(ttlModeOf(true)).toBe("always");
    expect(ttlModeOf(false)).toBe("never");
    expect(ttlModeOf(undefined)).toBe("auto");
  });

  it("takes the limit from --ttl-auto-max when it is a whole number", () => {
    expect(ttlModeOf(undefined, "2")).toEqual({ autoMax: 2 });
    expect(ttlModeOf(true, "2")).toBe("always");
    expect(() => ttlModeOf(undefined, "lots")).toThrow(/--ttl-auto-max "lots" is not a whole number/);
  });
});

describe("TTLs looked up as the listing comes in", () => {
  const ids = (...xs: number[]) => new Set(xs.map(String));
  // The requests made, in any order (the prefetched ones run on a chain of their own).
  const batches = (asked: string[][]) => asked.map((b) => b.join(",")).sort();

  it("uses what was fetched of the ids the listing holds, fetches the rest, and drops the others", async () => {
    const store = fakeStore();
    const prefetch = new TtlPrefetch(store, "always");
    prefetch.add(["11", "12", "0"], 0.25);
    prefetch.add(["12", "13"], 0.5);
    const got = await lookupTtls(store, ids(11, 13, 14, 99), "always", { prefetch });
    // One request per batch as it came, repeats and reservations left out, then what was missing.
    expect(batches(store.asked)).toEqual(["11,12", "13", "14,99"]);
    expect([...(got.ttls?.keys() ?? [])].sort()).toEqual(["11", "13", "14", "99"]);
    expect(ttlOf(got, "11")).toBe(3600);
    expect(ttlOf(got, "99")).toBe(-1);
  });

  it("in auto mode fetches only while the projected count stays within the limit", async () => {
    const store = fakeStore();
    const prefetch = new TtlPrefetch(store, { autoMax: 8 });
    prefetch.add(["1", "2"], 0.25); // 8 projected: fetched
    prefetch.add(["3", "4", "5"], 0.5); // 10 projected: it stops here, for good
    prefetch.add(["6"], 1);
    const within = await lookupTtls(store, ids(1, 2, 3, 4, 5, 6), { autoMax: 8 }, { prefetch });
    expect(batches(store.asked)).toEqual(["1,2", "3,4,5,6"]);
    expect(within.ttls?.size).toBe(6);

    const over = fakeStore();
    const past = new TtlPrefetch(over, { autoMax: 2 });
    past.add(["1", "2"], 0.5);
    const skipped = await lookupTtls(over, ids(1, 2, 3), { autoMax: 2 }, { prefetch: past });
    expect(over.asked).toEqual([]);
    expect(skipped.skipped).toBe(3);
  });

  it("in auto mode waits for the whole listing when its progress is not known; never fetches with --no-ttl", async () => {
    const store = fakeStore();
    const prefetch = new TtlPrefetch(store, "auto");
    prefetch.add(["1"], undefined);
    prefetch.add(["2"], 0);
    expect(store.asked).toEqual([]);
    await lookupTtls(store, ids(1, 2), "auto", { prefetch });
    expect(store.asked).toEqual([["1", "2"]]);

    const never = fakeStore();
    const off = new TtlPrefetch(never, "never");
    off.add(["1"], 1);
    expect((await lookupTtls(never, ids(1), "never", { prefetch: off })).skipped).toBe(1);
    expect(never.asked).toEqual([]);
  });

  it("a failed lookup fails the view that needs it, and no one else", async () => {
    const failing = {
      timeToLiveMany: async () => {
        throw new Error("etcd went away");
      },
    } as unknown as Store;
    const prefetch = new TtlPrefetch(failing, "always");
    prefetch.add(["1"], 0.5);
    await expect(lookupTtls(failing, ids(1), "always", { prefetch })).rejects.toThrow("etcd went away");
    // Fed and never asked for: its failure goes nowhere (vitest fails a run on an unhandled rejection).
    new TtlPrefetch(failing, "always").add(["2"], 0.5);
    await new Promise((resolve) => setImmediate(resolve));
  });
});
