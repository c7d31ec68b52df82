import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseIPv4Cidr } from "./address.js";
import type { KeyValue, Op, Store } from "./etcd/store.js";
import type { LeaseNetwork } from "./lease.js";
import { LeaseRegistry } from "./registry.js";

const net = parseIPv4Cidr("10.5.0.0/16")!;
/** 10.5.0.0/16 in /24s from 10.5.1.0, as flannel's defaults cut it. */
const NET: LeaseNetwork = {
  ipv4: { network: net, subnetLen: 24, min: net.ip + 256, max: net.ip + 255 * 256 },
};

/** An in-process store of plain keys (creates only), counting the listings it serves. */
function fakeStore(): { store: Store; lists: () => number } {
  const keys = new Map<string, KeyValue>();
  let revision = 1;
  let lists = 0;
  let leases = 0;
  const sorted = () => [...keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const store = {
    endpoints: ["fake"],
    get: async () => ({ revision, value: undefined }),
    list: async () => {
      lists++;
      return { revision, value: sorted() };
    },
    scan: async () => ({ revision, count: keys.size }),
    count: async () => ({ revision, value: keys.size }),
    grantAt: async (ttl: number) => ({ lease: String(++leases), revision, ttl }),
    txn: async (compares: readonly { key: string }[], success: readonly Op[]) => {
      const key = compares[0]!.key;
      if (keys.has(key)) return { succeeded: false, revision, gets: [keys.get(key)] };
      const put = success[0] as { put: string; value: string; lease: string };
      revision++;
      keys.set(key, {
        key,
        value: Buffer.from(put.value),
        createRevision: revision,
        modRevision: revision,
        version: 1,
        lease: put.lease,
      });
      return { succeeded: true, revision, gets: [] };
    },
    revoke: async () => undefined,
  } as unknown as Store;
  return { store, lists: () => lists };
}

const host = (i: number) => ({ publicIP: `192.0.2.${i}`, publicIPv6: null });

describe("an uncached registry's live listing", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is kept while in use and let go 10 s after its last use, not its first", async () => {
    const { store, lists } = fakeStore();
    const registry = new LeaseRegistry(store, { prefix: "/idle" });
    await registry.acquire({ network: NET, attrs: host(1) }); // a scan for this host
    await registry.acquire({ network: NET, attrs: host(2) }); // the listing kept from now on
    expect(lists()).toBe(1);
    for (let i = 3; i <= 5; i++) {
      vi.advanceTimersByTime(9_000);
      await registry.acquire({ network: NET, attrs: host(i) });
    }
    expect(lists()).toBe(1); // 27 s since the listing, never 10 s unused
    vi.advanceTimersByTime(9_000);
    expect(lists()).toBe(1);
    vi.advanceTimersByTime(1_500);
    const got = await registry.acquire({ network: NET, attrs: host(6) });
    expect(lists()).toBe(2);
    expect(got.outcome).toBe("new");
    await registry.close();
  });
});
