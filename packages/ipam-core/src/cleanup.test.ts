import { describe, expect, it } from "vitest";
import { deleteUnchanged } from "./cleanup.js";
import { isPodnetError } from "./errors.js";
import type { Compare, KeyValue, Op, Store } from "./etcd/store.js";

/** Just enough of a store for deleteUnchanged: get and txn over a map of key → modRevision. */
function fakeStore(keys: Record<string, number>): Store & { keys: Map<string, number> } {
  const map = new Map(Object.entries(keys));
  const kv = (key: string, modRevision: number): KeyValue => ({
    key,
    value: Buffer.from("v"),
    createRevision: 1,
    modRevision,
    version: 1,
    lease: "0",
  });
  const store = {
    keys: map,
    endpoints: [],
    async get(key: string) {
      const rev = map.get(key);
      return { revision: 100, value: rev === undefined ? undefined : kv(key, rev) };
    },
    async txn(compares: readonly Compare[], ops: readonly Op[]) {
      const ok = compares.every((c) =>
        "lease" in c ? c.lease === "0" : "modRevision" in c && (map.get(c.key) ?? 0) === c.modRevision,
      );
      if (ok) for (const op of ops) if ("delete" in op) map.delete(op.delete);
      return { succeeded: ok, revision: 101, gets: [] };
    },
  };
  return store as unknown as Store & { keys: Map<string, number> };
}

const P = "/p";
const k = (name: string) => `${P}/subnets/${name}`;

describe("deleteUnchanged", () => {
  it("deletes unchanged keys, skips changed and gone ones, one key at a time", async () => {
    const store = fakeStore({ [k("a")]: 5, [k("b")]: 9, [k("c")]: 7 });
    const out = await deleteUnchanged(store, P, [
      { key: k("a"), modRevision: 5 },
      { key: k("b"), modRevision: 6 },
      { key: k("gone"), modRevision: 3 },
      { key: k("c"), modRevision: 7 },
    ]);
    expect(out.map((o) => o.status)).toEqual(["deleted", "changed", "gone", "deleted"]);
    expect(out[1]?.currentModRevision).toBe(9);
    expect([...store.keys.keys()]).toEqual([k("b")]);
  });

  it("never deletes a key on a live etcd lease whose expiry the report did not record", async () => {
    const store = fakeStore({ [k("a")]: 5 });
    const get = store.get.bind(store);
    store.get = async (key: string) => {
      const res = await get(key);
      return { ...res, value: res.value && { ...res.value, lease: "7" } };
    };
    const out = await deleteUnchanged(store, P, [{ key: k("a"), modRevision: 5, etcdLease: "7" }]);
    expect(out.map((o) => o.status)).toEqual(["unverified"]);
    expect(store.keys.has(k("a"))).toBe(true);
  });

  it("a delete that landed with its answer lost (the retry's compare fails) is reported deleted", async () => {
    const store = fakeStore({ [k("a")]: 5 });
    const txn = store.txn.bind(store);
    // The first attempt commits, its answer is lost; the retry finds the key gone.
    store.txn = async (compares, ops) => ({ ...(await txn(compares, ops)), succeeded: false });
    const out = await deleteUnchanged(store, P, [{ key: k("a"), modRevision: 5 }]);
    expect(out.map((o) => o.status)).toEqual(["deleted"]);
  });

  it("a key that expired meanwhile is gone, not deleted by us", async () => {
    const store = fakeStore({ [k("a")]: 5 });
    const get = store.get.bind(store);
    store.get = async (key: string) => {
      const res = await get(key);
      return { ...res, value: res.value && { ...res.value, lease: "7" } };
    };
    // Its etcd lease runs out between the read and the delete: the key goes with it.
    store.timeToLive = async () => (store.keys.has(k("a")) ? 30 : -1);
    store.txn = async () => {
      store.keys.delete(k("a"));
      return { succeeded: false, revision: 101, gets: [] };
    };
    const out = await deleteUnchanged(store, P, [
      { key: k("a"), modRevision: 5, etcdLease: "7", expiresAt: new Date(Date.now() + 60_000).toISOString() },
    ]);
    expect(out.map((o) => o.status)).toEqual(["gone"]);
  });

  it("deletes nothing on a dry run", async () => {
    const store = fakeStore({ [k("a")]: 5, [k("b")]: 9 });
    const out = await deleteUnchanged(
      store,
      P,
      [
        { key: k("a"), modRevision: 5 },
        { key: k("b"), modRevision: 6 },
      ],
      { dryRun: true },
    );
    expect(out.map((o) => o.status)).toEqual(["would-delete", "changed"]);
    expect(store.keys.size).toBe(2);
  });

  it("refuses a key outside <prefix>/subnets/ before touching anything", async () => {
    const store = fakeStore({ [k("a")]: 5, "/p/config": 2 });
    await expect(
      deleteUnchanged(store, P, [
        { key: k("a"), modRevision: 5 },
        { key: "/p/config", modRevision: 2 },
      ]),
    ).rejects.toSatisfy((e) => isPodnetError(e, "usage"));
    expect(store.keys.size).toBe(2);
  });
});
