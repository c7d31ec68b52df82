/**
 * A snapshot read in two reads, the second pinned to the first one's revision, when etcd
 * compacts that revision in between (auto-compaction on a busy cluster, `etcdctl compact`):
 * read again at a fresh revision, a bounded number of times. A real etcd; the store is wrapped
 * only to run the compaction right after the snapshot's first, unpinned read (or, for one
 * listing's pages, a gRPC proxy compacts before the second page is forwarded).
 */
import {
  connect,
  isPodnetError,
  type LeaseListing,
  LeaseRegistry,
  readSnapshot,
  SNAPSHOT_ATTEMPTS,
  type Store,
} from "@podnet/ipam-core";
import { readNetwork } from "@podnet/netcfg";
import { GRPC, grpcProxy } from "@podnet/test-harness/grpc-proxy";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTableAtConfig } from "../packages/cli/src/commands/lease/lease-context.js";
import type { Context } from "../packages/cli/src/context.js";
import { NET_10_5 } from "../packages/ipam-core/src/lease-network.fixture.js";

const PREFIX = "/snap/coreos.com/network";
const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const lease = (i: number) =>
  `{"PublicIP":"192.0.2.${i}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}`;

/** A store that, after each of its first `times` unpinned reads, writes elsewhere and compacts etcd to that write. */
function compactingAfterFirstRead(store: Store, times: number): { store: Store; compactedAt: number[] } {
  const compactedAt: number[] = [];
  const compact = async () => {
    const { revision } = await store.txn(
      [],
      [{ put: "/snap-elsewhere/tick", value: `${compactedAt.length}` }],
    );
    await store.compact(revision);
    compactedAt.push(revision);
  };
  const after = async <T>(pinned: boolean, read: Promise<T>): Promise<T> => {
    const answer = await read;
    if (!pinned && compactedAt.length < times) await compact();
    return answer;
  };
  const wrapped: Store = Object.create(store, {
    get: {
      value: (key: string, opts?: { revision?: number }) =>
        after(opts?.revision !== undefined, store.get(key, opts)),
    },
    list: {
      value: (prefix: string, opts?: { revision?: number }) =>
        after(opts?.revision !== undefined, store.list(prefix, opts)),
    },
    scan: {
      value: (prefix: string, visit: Parameters<Store["scan"]>[1], opts?: Parameters<Store["scan"]>[2]) =>
        after(opts?.revision !== undefined, store.scan(prefix, visit, opts)),
    },
  });
  return { store: wrapped, compactedAt };
}

/** The context readTableAtConfig reads: the store and the prefix (nothing else of a command's). */
const contextOf = (store: Store): Context =>
  ({ globals: { prefix: PREFIX }, store: async () => store }) as unknown as Context;

describe("a two-read snapshot whose revision etcd compacts in between", () => {
  const etcd = useEtcd();
  let store: Store;
  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 2000, commandTimeoutMs: 10_000 });
    const ops = [{ put: `${PREFIX}/config`, value: CONFIG }];
    for (let i = 1; i <= 40; i++) ops.push({ put: `${PREFIX}/subnets/10.5.${i}.0-24`, value: lease(i) });
    await store.txn([], ops);
  });
  afterAll(() => store?.close());

  it("the config, then the lease table at its revision (ipam show, check, route): read again at a fresh revision", async () => {
    const before = await readTableAtConfig(contextOf(store));
    const { store: compacting, compactedAt } = compactingAfterFirstRead(store, 1);
    const after = await readTableAtConfig(contextOf(compacting));
    expect(compactedAt).toHaveLength(1);
    const compacted = compactedAt[0] ?? 0;
    // The second attempt's snapshot: one revision for both reads, after the compaction.
    expect(after.networkState.revision).toBeGreaterThanOrEqual(compacted);
    expect(after.table.revision).toBe(after.networkState.revision);
    expect(after.table.revision).toBeGreaterThan(before.table.revision);
    // The same data as before.
    expect(after.networkState.state).toBe("valid");
    expect(after.table.size).toBe(40);
    expect(after.table.listing().leases).toEqual(before.table.listing().leases);
  });

  it("the leases, then the config at the listing's revision (doctor's order): read again at a fresh revision", async () => {
    const { store: compacting, compactedAt } = compactingAfterFirstRead(store, 1);
    let attempts = 0;
    const { listing, state } = await readSnapshot(async () => {
      attempts++;
      const listing: LeaseListing = await new LeaseRegistry(compacting, { prefix: PREFIX }).list();
      return { listing, state: await readNetwork(compacting, PREFIX, { revision: listing.revision }) };
    });
    expect(attempts).toBe(2);
    expect(listing.revision).toBeGreaterThanOrEqual(compactedAt[0] ?? Number.POSITIVE_INFINITY);
    expect(state.revision).toBe(listing.revision);
    expect(state.state).toBe("valid");
    expect(listing.leases).toHaveLength(40);
  });

  it("a revision compacted on every attempt fails with etcd's compacted error after a bounded number of attempts", async () => {
    const { store: compacting, compactedAt } = compactingAfterFirstRead(store, Number.POSITIVE_INFINITY);
    const err = await readTableAtConfig(contextOf(compacting)).catch((e: unknown) => e);
    expect(isPodnetError(err, "compacted"), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/etcd has compacted that revision/);
    expect(compactedAt).toHaveLength(SNAPSHOT_ATTEMPTS);
  });

  /**
   * A store (pages of 7 keys) through a proxy that, before the second range read, writes
   * elsewhere and compacts etcd to that write; that read and every later one wait for it.
   */
  const pagedThroughCompaction = async () => {
    let ranges = 0;
    let compaction: Promise<number> | undefined;
    const proxy = await grpcProxy(etcd().members[0]?.clientUrl ?? "", {
      before: (path) => {
        if (path !== GRPC.range || ++ranges < 2) return undefined;
        compaction ??= (async () => {
          const { revision } = await store.txn([], [{ put: "/snap-elsewhere/tick", value: "x" }]);
          await store.compact(revision);
          return revision;
        })();
        return compaction.then(() => undefined);
      },
    });
    const paged = await connect({
      endpoints: [proxy.url],
      dialTimeoutMs: 2000,
      commandTimeoutMs: 10_000,
      listPageSize: 7,
    });
    return {
      store: paged,
      compactedAt: () => compaction ?? Promise.reject(new Error("the proxy never compacted")),
      close: async () => {
        paged.close();
        await proxy.close();
      },
    };
  };

  for (const [what, read] of [
    [
      "Store.list",
      (s: Store) =>
        s.list(`${PREFIX}/subnets/`).then((r) => ({ revision: r.revision, size: r.value.length })),
    ],
    ["LeaseRegistry.table", (s: Store) => new LeaseRegistry(s, { prefix: PREFIX }).table()],
    [
      "LeaseRegistry.table in sub-ranges",
      (s: Store) => new LeaseRegistry(s, { prefix: PREFIX }).table({ network: NET_10_5 }),
    ],
  ] as const) {
    it(`${what} unpinned, compacted between its pages: read again at a fresh revision`, async () => {
      const paged = await pagedThroughCompaction();
      try {
        const answer = await read(paged.store);
        expect(answer.size).toBe(40);
        expect(answer.revision).toBeGreaterThanOrEqual(await paged.compactedAt());
      } finally {
        await paged.close();
      }
    });
  }
});
