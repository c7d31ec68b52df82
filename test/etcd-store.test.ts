import { connect, type Store } from "@podnet/ipam-core";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe.each(["h2", "grpc-js"] as const)("EtcdStore over %s against a real etcd", (transport) => {
  const etcd = useEtcd();
  let store: Store;
  beforeAll(async () => {
    // Small pages, so a test-sized listing takes several.
    store = await connect({
      transport,
      endpoints: etcd().endpoints,
      dialTimeoutMs: 2000,
      commandTimeoutMs: 10_000,
      listPageSize: 5000,
    });
  });
  afterAll(() => store?.close());

  it("lists more keys than one page, in key order, at one revision, with 2.5 KB values past grpc's 4 MB limit", async () => {
    const value = "v".repeat(2500);
    const total = 12_345;
    for (let i = 0; i < total; i += 100) {
      const ops = [];
      for (let j = i; j < Math.min(total, i + 100); j++) {
        ops.push({ put: `/page/k${String(j).padStart(6, "0")}`, value });
      }
      await store.txn([], ops);
    }
    const before = await store.get("/page/k000000");
    // A write after the listing starts must not show up in it.
    const pages: [number, boolean][] = [];
    const listed = await store.list("/page/", { onPage: (keys, last) => pages.push([keys, last]) });
    // Progress: one call per page of 5,000, the keys so far, `last` only on the final page.
    expect(pages).toEqual([
      [5000, false],
      [10000, false],
      [total, true],
    ]);
    await store.txn([], [{ put: "/page/zz-after", value: "x" }]);
    expect(listed.value).toHaveLength(total);
    expect(listed.value[0]?.key).toBe("/page/k000000");
    expect(listed.value[total - 1]?.key).toBe(`/page/k${String(total - 1).padStart(6, "0")}`);
    const keys = listed.value.map((kv) => kv.key);
    expect([...keys].sort()).toEqual(keys);
    expect(new Set(keys).size).toBe(total);
    expect(listed.revision).toBeGreaterThanOrEqual(before.revision);
    // The pinned revision is honoured: listing at the earlier revision omits the later key.
    const again = await store.list("/page/", { revision: listed.revision });
    expect(again.value).toHaveLength(total);
    expect((await store.list("/page/")).value).toHaveLength(total + 1);
    // The hand decoder of range replies gives exactly what etcd3's protobufjs decode gives,
    // leases (63-bit ids), revisions and versions included.
    const leased = await store.grant(600);
    await store.txn([], [{ put: "/page/zz-after", value: "y", lease: leased }]);
    const raw = await store.list("/page/", { revision: listed.revision + 2 });
    // The same listing through etcd3's own decoding (the store option, not an environment switch).
    const slow = await connect({
      endpoints: etcd().endpoints,
      dialTimeoutMs: 2000,
      commandTimeoutMs: 10_000,
      listPageSize: 5000,
      transport: "grpc-js",
      fastDecode: false,
    });
    try {
      const viaProtobufjs = await slow.list("/page/", { revision: listed.revision + 2 });
      // Buffers compared as a whole: toEqual walks 30 MB of them byte by byte.
      const meta = (r: typeof raw) => r.value.map(({ value: _v, ...rest }) => rest);
      expect(raw.revision).toBe(viaProtobufjs.revision);
      expect(meta(raw)).toEqual(meta(viaProtobufjs));
      const bytes = (r: typeof raw) => Buffer.concat(r.value.map((kv) => kv.value));
      expect(bytes(raw).equals(bytes(viaProtobufjs))).toBe(true);
      expect(raw.value[total]).toMatchObject({ key: "/page/zz-after", lease: leased, version: 2 });
      const slowTtls = await slow.timeToLiveMany([leased, "12345"]);
      expect(slowTtls.get("12345")).toBe(-1);
      expect(slowTtls.get(leased)).toBeGreaterThan(590);
    } finally {
      slow.close();
    }
    const ttls = await store.timeToLiveMany([leased, leased, "12345"]);
    expect([...ttls.keys()].sort()).toEqual([leased, "12345"].sort()); // each id once; answers arrive in any order
    expect(ttls.get(leased)).toBeGreaterThan(590);
    expect(ttls.get("12345")).toBe(-1);
  });

  it("names the keys riding on an etcd lease, none for a lease that is gone", async () => {
    const lease = await store.grant(600);
    expect(await store.leaseKeys(lease)).toEqual([]);
    await store.txn(
      [],
      [
        { put: "/riders/a", value: "1", lease },
        { put: "/riders/b", value: "2", lease },
      ],
    );
    expect((await store.leaseKeys(lease)).sort()).toEqual(["/riders/a", "/riders/b"]);
    await store.revoke(lease);
    expect(await store.leaseKeys(lease)).toEqual([]);
    expect(await store.leaseKeys("12345")).toEqual([]);
  });

  it("creates only if absent, and compares on value and lease", async () => {
    expect(
      (await store.txn([{ key: "/c/a", modRevision: 0 }], [{ put: "/c/a", value: "1" }])).succeeded,
    ).toBe(true);
    expect(
      (await store.txn([{ key: "/c/a", modRevision: 0 }], [{ put: "/c/a", value: "2" }])).succeeded,
    ).toBe(false);
    expect((await store.txn([{ key: "/c/a", value: "1" }], [{ put: "/c/a", value: "3" }])).succeeded).toBe(
      true,
    );
    expect((await store.txn([{ key: "/c/a", lease: "0" }], [{ delete: "/c/a" }])).succeeded).toBe(true);
    expect((await store.get("/c/a")).value).toBeUndefined();
  });

  it("scans keys through a cursor with the listing's fields, on both decoders, paged", async () => {
    const lease = await store.grant(600);
    const ops = Array.from({ length: 12 }, (_, i) => ({
      put: `/scan/k${String(i).padStart(2, "0")}`,
      value: `value-${i}`,
      ...(i % 3 === 0 ? { lease } : {}),
    }));
    await store.txn([], ops);
    const listed = await store.list("/scan/");
    const slow = await connect({
      endpoints: etcd().endpoints,
      dialTimeoutMs: 2000,
      commandTimeoutMs: 10_000,
      transport: "grpc-js",
      fastDecode: false,
    });
    try {
      for (const s of [store, slow]) {
        const seen: object[] = [];
        const pages: [number, boolean][] = [];
        const res = await s.scan(
          "/scan/",
          (c) =>
            seen.push({
              key: c.buf.toString("utf8", c.keyStart, c.keyEnd),
              value: Buffer.from(c.buf.subarray(c.valueStart, c.valueEnd)),
              createRevision: c.createRevision,
              modRevision: c.modRevision,
              version: c.version,
              lease: c.lease(),
              hasLease: c.hasLease,
            }),
          { revision: listed.revision, onPage: (keys, last) => pages.push([keys, last]) },
        );
        expect(res).toEqual({ revision: listed.revision, count: 12 });
        expect(pages[pages.length - 1]).toEqual([12, true]);
        expect(seen).toEqual(listed.value.map((kv) => ({ ...kv, hasLease: kv.lease !== "0" })));
      }
      // Pages of 5 keys: three pages, still every key once.
      const paged = await connect({
        transport,
        endpoints: etcd().endpoints,
        dialTimeoutMs: 2000,
        commandTimeoutMs: 10_000,
        listPageSize: 5,
      });
      try {
        const keys: string[] = [];
        const res = await paged.scan("/scan/", (c) =>
          keys.push(c.buf.toString("utf8", c.keyStart, c.keyEnd)),
        );
        expect(res.count).toBe(12);
        expect(keys).toEqual(listed.value.map((kv) => kv.key));
      } finally {
        paged.close();
      }
    } finally {
      slow.close();
    }
  });

  it("counts the keys of a prefix, now and at a revision", async () => {
    await store.txn(
      [],
      [
        { put: "/chg/a", value: "1" },
        { put: "/chg/b", value: "1" },
        { put: "/chg0", value: "1" },
      ],
    );
    const now = await store.count("/chg/");
    expect(now.value).toBe(2);
    await store.txn([], [{ delete: "/chg/a" }]);
    expect((await store.count("/chg/")).value).toBe(1);
    // At the earlier revision the deleted key still counts (the header says the latest revision).
    expect((await store.count("/chg/", { revision: now.revision })).value).toBe(2);
    expect((await store.count("/nothing-here/")).value).toBe(0);
  });

  it("reads keys inside a transaction: a failed compare says what won", async () => {
    await store.txn([], [{ put: "/won/a", value: "winner" }]);
    const res = await store.txn(
      [{ key: "/won/a", modRevision: 0 }],
      [{ put: "/won/a", value: "loser" }],
      [{ get: "/won/a" }, { get: "/won/missing" }],
    );
    expect(res.succeeded).toBe(false);
    expect(res.gets).toHaveLength(2);
    expect(res.gets[0]?.value.toString()).toBe("winner");
    expect(res.gets[1]).toBeUndefined();
    const ok = await store.txn([{ key: "/won/a", value: "winner" }], [{ put: "/won/a", value: "next" }]);
    expect(ok).toMatchObject({ succeeded: true, gets: [] });
  });
  it("grants, renews, looks up and revokes leases; a gone lease is -1, 0 on renewal, and no error on revoke", async () => {
    const lease = await store.grant(600);
    expect(BigInt(lease)).toBeGreaterThan(0n);
    expect(BigInt(lease)).toBeLessThan(2n ** 63n);
    expect(await store.timeToLive(lease)).toBeGreaterThan(590);
    expect(await store.keepAliveOnce(lease)).toBe(600);
    await store.txn([], [{ put: "/leased/a", value: "1", lease }]);
    expect((await store.get("/leased/a")).value?.lease).toBe(lease);
    expect((await store.txn([{ key: "/leased/a", lease }], [{ delete: "/leased/a" }])).succeeded).toBe(true);
    await store.revoke(lease);
    await store.revoke(lease);
    expect(await store.timeToLive(lease)).toBe(-1);
    expect(await store.keepAliveOnce(lease)).toBe(0);
  });

  it("a grant tells etcd's revision: every write answered before it is at or below, none after it", async () => {
    const put = await store.txn([], [{ put: "/granted/a", value: "1" }]);
    const granted = await store.grantAt(600);
    expect(granted.revision).toBe(put.revision); // a grant writes no revision of its own
    const after = await store.txn([], [{ put: "/granted/a", value: "2", lease: granted.lease }]);
    expect(after.revision).toBe(granted.revision + 1);
    expect((await store.get("/granted/a")).value?.lease).toBe(granted.lease);
    await store.revoke(granted.lease);
  });

  it("reports each endpoint's status and compacts", async () => {
    const [st] = await store.status();
    expect(st).toMatchObject({ endpoint: etcd().endpoints[0], version: expect.stringMatching(/^3\./) });
    const s = st as {
      memberId: string;
      leaderId: string;
      revision: number;
      dbSize: number;
      raftTerm: number;
    };
    expect(s.memberId).toMatch(/^[1-9]\d*$/);
    expect(s.leaderId).toBe(s.memberId);
    expect(s.revision).toBeGreaterThan(1);
    expect(s.dbSize).toBeGreaterThan(0);
    expect(s.raftTerm).toBeGreaterThan(0);
    const json = JSON.parse(await etcd().etcdctlOk(["endpoint", "status", "-w", "json"])) as {
      Status: { header: { member_id: number | string } };
    }[];
    expect(
      BigInt(json[0]?.Status.header.member_id as number)
        .toString()
        .slice(0, 12),
    ).toBe(s.memberId.slice(0, 12));
    await store.compact(s.revision);
    await expect(store.get("/c/a", { revision: 1 })).rejects.toThrow(/compacted/);
  });
});

describe("a grant's revision on a three-member cluster", () => {
  const etcd = useEtcd({ members: 3 });

  it("covers every write another member answered before it, whichever member grants", async () => {
    const stores = await Promise.all(
      etcd().members.map((m) =>
        connect({ endpoints: [m.clientUrl], dialTimeoutMs: 5000, commandTimeoutMs: 10_000 }),
      ),
    );
    try {
      for (let round = 0; round < 3; round++) {
        for (const [i, granter] of stores.entries()) {
          const writer = stores[(i + 1) % stores.length]!;
          const put = await writer.txn([], [{ put: `/granted3/${round}-${i}`, value: "x" }]);
          const granted = await granter.grantAt(600);
          // Applied in raft order on the granting member: at or above the write it follows.
          expect(granted.revision).toBeGreaterThanOrEqual(put.revision);
          await granter.revoke(granted.lease);
        }
      }
    } finally {
      for (const s of stores) s.close();
    }
  });
});
