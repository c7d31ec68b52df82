import { connect, type KeyValueCursor, leaseKeySplits, type Store } from "@podnet/ipam-core";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NET_10_8 } from "../packages/ipam-core/src/lease-network.fixture.js";

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

  it("connects with etcdctl's timeouts when the caller gives none", async () => {
    // A plain JavaScript caller that leaves the timeouts out gets a working store, not one
    // whose every call is past its deadline at once.
    const plain = await connect({ transport, endpoints: etcd().endpoints });
    try {
      await plain.txn([], [{ put: "/defaults/k", value: "v" }]);
      expect((await plain.get("/defaults/k")).value?.value.toString()).toBe("v");
    } finally {
      plain.close();
    }
    await expect(connect({ transport, endpoints: etcd().endpoints, dialTimeoutMs: 0 })).rejects.toThrow(
      /^dialTimeoutMs must be a positive number of milliseconds, not 0$/,
    );
  });

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

  it("scans a prefix cut into sub-ranges: exactly one range's keys and values, in key order, at one revision, while others write", async () => {
    const dir = "/split/subnets/";
    // 7,000 leases on /24s of 10.0.0.0/8, spread as flannel picks them, and keys of every other
    // shape among and around them: foreign names, subnets outside the network, dual stack, IPv6.
    const names = new Set<string>();
    for (let i = 0; names.size < 7000; i++) {
      const n = (i * 40_503) % 65_536;
      names.add(`10.${n >> 8}.${n & 255}.0-24`);
    }
    const odd = [
      "",
      "!",
      "0",
      "10.",
      "10.0.0.0-24x",
      "10.1.2.0-24&fc00::-64",
      "0.0.0.0-0&fc00:0:0:1::-64",
      "9.255.255.0-24",
      "192.168.0.0-16",
      "Z",
      "~",
      "zz/nested/key",
      "\u00ff",
    ];
    const all = [...names, ...odd];
    for (let i = 0; i < all.length; i += 100) {
      await store.txn(
        [],
        all
          .slice(i, i + 100)
          .map((n) => ({ put: dir + n, value: `{"PublicIP":"192.0.2.${n.length}","name":"${n}"}` })),
      );
    }
    await store.txn(
      [],
      [
        { put: "/split/subnet", value: "outside" },
        { put: "/split/subnets0", value: "outside" },
      ],
    );
    const network = NET_10_8;
    const cutsOf: [string, string[]][] = [
      ["the network's quantiles", leaseKeySplits("/split", network, 4)],
      ["eight parts", leaseKeySplits("/split", network, 8)],
      // One sub-range holds nearly everything (more than a page of 5,000): it pages on.
      ["skewed", [`${dir}10.99`]],
      // Cuts outside the prefix, repeated, unsorted and on foreign keys.
      ["odd", ["/a", `${dir}~`, `${dir}10.5`, `${dir}10.5`, `${dir}!`, "/zzz", `${dir}`, `${dir}0.0.0.0-0&`]],
    ];
    expect(cutsOf[0]?.[1]).toHaveLength(3);
    const copy = (c: KeyValueCursor) =>
      `${c.buf.toString("latin1", c.keyStart, c.keyEnd)} ${c.modRevision} ${c.buf.toString("latin1", c.valueStart, c.valueEnd)}`;
    const ordered = [...all]
      .map((n) => Buffer.from(dir + n))
      .sort(Buffer.compare)
      .map((k) => k.toString("latin1"));
    for (const [what, splits] of cutsOf) {
      // A writer changes, adds and deletes keys in every sub-range while the scan runs.
      let writing = true;
      let firstWrite: () => void = () => undefined;
      const wrote = new Promise<void>((resolve) => {
        firstWrite = resolve;
      });
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const n = all[(i * 37) % all.length] as string;
          await store.txn(
            [],
            [
              { put: dir + n, value: `changed ${i}` },
              { put: `${dir}10.${i % 256}.new-${i}`, value: "new" },
            ],
          );
          if (i % 3 === 0) await store.txn([], [{ delete: `${dir}10.${(i + 253) % 256}.new-${i - 3}` }]);
          firstWrite();
        }
      })();
      await wrote;
      const seen: string[] = [];
      const pages: [number, boolean][] = [];
      let res: Awaited<ReturnType<Store["scan"]>>;
      try {
        res = await store.scan(dir, (c) => seen.push(copy(c)), {
          splits,
          onPage: (n, last) => pages.push([n, last]),
        });
      } finally {
        writing = false;
        await writer;
      }
      const latest = await store.get(dir);
      // Writes landed after the snapshot the scan read, in every sub-range.
      expect(latest.revision, what).toBeGreaterThan(res.revision);
      const whole: string[] = [];
      const one = await store.scan(dir, (c) => whole.push(copy(c)), { revision: res.revision });
      expect(res.count, what).toBe(one.count);
      expect(seen, what).toEqual(whole);
      expect(pages[pages.length - 1], what).toEqual([res.count, true]);
      expect(
        pages.filter(([, last]) => last),
        what,
      ).toHaveLength(1);
      // The keys in etcd's byte order, the foreign ones included, outside keys not.
      const keys = seen.map((s) => s.slice(0, s.indexOf(" ")));
      expect(
        keys.filter((k) => !k.includes(".new-")),
        what,
      ).toEqual(ordered);
      if (what === "skewed") expect(pages.length, what).toBeGreaterThan(2);
    }
  });

  it("a split scan of a compacted revision fails as an unsplit one does", async () => {
    await store.txn([], [{ put: "/compacted/subnets/10.1.0.0-24", value: "a" }]);
    const old = (await store.get("/compacted/")).revision;
    await store.txn([], [{ put: "/compacted/subnets/10.2.0.0-24", value: "b" }]);
    await store.compact((await store.get("/compacted/")).revision);
    const unsplit = await store
      .scan("/compacted/subnets/", () => undefined, { revision: old })
      .then(
        () => "no error",
        (err: unknown) => String(err),
      );
    expect(unsplit).toMatch(/compacted/);
    await expect(
      store.scan("/compacted/subnets/", () => undefined, {
        revision: old,
        splits: ["/compacted/subnets/10.15"],
      }),
    ).rejects.toThrow(unsplit.replace(/^\w*Error: /, ""));
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
