import type { Lease, Store } from "@podnet/ipam-core";
import { describe, expect, it } from "vitest";
import { lookupTtls, ttlModeOf, ttlOf } from "./ttl-policy.js";

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
