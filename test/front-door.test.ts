// The library's front door against a real etcd: connecting from the environment, listings in
// address order, AbortSignal on acquire and the watch, and disposal of what holds a connection.
import {
  connectFromEnv,
  encodeVxlanData,
  type LeaseAttrs,
  type LeaseEvent,
  LeaseRegistry,
  watchLeases,
} from "@podnet/ipam-core";
import { useEtcd } from "@podnet/test-harness/vitest";
import { describe, expect, it } from "vitest";
import { network4 } from "../packages/ipam-core/src/lease-network.fixture.js";

const NET = network4("10.9.0.0/16", 24, "10.9.1.0", "10.9.200.0");
const host = (publicIP: string): LeaseAttrs => ({
  publicIP,
  publicIPv6: null,
  backendType: "vxlan",
  backendData: encodeVxlanData({ vni: 1, vtepMac: "02:00:00:00:00:01" }),
});

describe("the library's front door", () => {
  const etcd = useEtcd();

  it("connects from PODNET_ENDPOINTS and PODNET_PREFIX, and closes with await using", async () => {
    const env = { PODNET_ENDPOINTS: etcd().endpoints.join(","), PODNET_PREFIX: "/fd/env/" };
    let closedStore: unknown;
    {
      await using session = await connectFromEnv({}, env);
      expect(session.prefix).toBe("/fd/env");
      expect(session.connection.commandTimeoutMs).toBe(5000);
      await session.store.txn([], [{ put: "/fd/env/probe", value: "1" }]);
      closedStore = session.store;
    }
    // Disposed: the closed client refuses further calls.
    await expect(
      (closedStore as { get(k: string): Promise<unknown> }).get("/fd/env/probe"),
    ).rejects.toThrow();
  });

  it("fails within the dial timeout naming the endpoint when nothing listens", async () => {
    await expect(
      connectFromEnv({ dialTimeout: "300ms" }, { PODNET_ENDPOINTS: "127.0.0.1:1" }),
    ).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining("127.0.0.1:1") });
  });

  it("lists leases in address order, not etcd's key order", async () => {
    await using session = await connectFromEnv({
      endpoints: etcd().endpoints.join(","),
      prefix: "/fd/order",
    });
    const { store, prefix } = session;
    for (const name of ["10.9.114.0-24", "10.9.7.0-24", "10.9.20.0-24"]) {
      await store.txn(
        [],
        [{ put: `${prefix}/subnets/${name}`, value: JSON.stringify({ PublicIP: "192.0.2.1" }) }],
      );
    }
    await using registry = new LeaseRegistry(store, { prefix });
    const listing = await registry.list();
    expect(listing.leases.map((l) => l.key.slice(l.key.lastIndexOf("/") + 1))).toEqual([
      "10.9.7.0-24",
      "10.9.20.0-24",
      "10.9.114.0-24",
    ]);
  });

  it("acquire with an aborted signal writes nothing and rejects with the signal's reason", async () => {
    await using session = await connectFromEnv({
      endpoints: etcd().endpoints.join(","),
      prefix: "/fd/abort",
    });
    const registry = new LeaseRegistry(session.store, { prefix: session.prefix });
    const controller = new AbortController();
    controller.abort(new Error("stop now"));
    await expect(
      registry.acquire({ network: NET, attrs: host("192.0.2.5"), signal: controller.signal }),
    ).rejects.toThrow("stop now");
    expect((await registry.list()).leases).toEqual([]);
    const { lease } = await registry.acquire({ network: NET, attrs: host("192.0.2.5") });
    expect(lease.attrs.publicIP).toBe("192.0.2.5");
  });

  it("a watch stops when its signal aborts, and after await using", async () => {
    await using session = await connectFromEnv({
      endpoints: etcd().endpoints.join(","),
      prefix: "/fd/watch",
    });
    const registry = new LeaseRegistry(session.store, { prefix: session.prefix });
    const seen: LeaseEvent[] = [];
    const controller = new AbortController();
    const watch = await watchLeases(
      session.store,
      session.prefix,
      { snapshot: () => undefined, events: (events) => seen.push(...events) },
      { signal: controller.signal },
    );
    const first = await registry.acquire({ network: NET, attrs: host("192.0.2.6") });
    await expect.poll(() => seen.map((e) => e.type)).toEqual(["added"]);
    controller.abort();
    // A second watch sees the next lease; the aborted one never does.
    const later: LeaseEvent[] = [];
    await using witness = await watchLeases(session.store, session.prefix, {
      snapshot: () => undefined,
      events: (events) => later.push(...events),
    });
    const second = await registry.acquire({ network: NET, attrs: host("192.0.2.7") });
    await expect.poll(() => later.map((e) => e.type === "added" && e.lease.key)).toEqual([second.lease.key]);
    expect(seen.map((e) => e.type === "added" && e.lease.key)).toEqual([first.lease.key]);
    expect(witness.revision).toBeGreaterThan(watch.revision);

    const already = AbortSignal.abort();
    await expect(
      watchLeases(
        session.store,
        session.prefix,
        { snapshot: () => undefined, events: () => undefined },
        {
          signal: already,
        },
      ),
    ).rejects.toThrow();
  });
});
