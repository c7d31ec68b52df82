import {
  connect,
  type Lease,
  type LeaseEvent,
  type LeaseListing,
  type LeaseWatch,
  type Store,
  subnetsPrefix,
  watchLeases,
} from "@podnet/ipam-core";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { useEtcd } from "@podnet/test-harness/vitest";
import { giveUp, waitFor } from "@podnet/test-harness/wait";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

// The spec's literal lease values (flannel-compat.md section 4).
const VXLAN =
  '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const VXLAN2 =
  '{"PublicIP":"192.168.64.4","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:45"}}';
const PLAIN = '{"PublicIP":"1.2.3.4","PublicIPv6":null}';

/** Waits for `cond`; a condition that throws (replay() on a contradiction) fails at once. */
async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    () => {
      try {
        return cond();
      } catch (e) {
        return giveUp(e instanceof Error ? e.message : String(e));
      }
    },
    { what, timeoutMs },
  );
}

/** Records what a watch hands over. */
function recorder() {
  const rec = {
    snapshots: [] as LeaseListing[],
    events: [] as LeaseEvent[],
    errors: [] as Error[],
    handlers: {
      snapshot: (l: LeaseListing) => rec.snapshots.push(l),
      events: (e: LeaseEvent[]) => rec.events.push(...e),
      error: (e: Error) => rec.errors.push(e),
    },
  };
  return rec;
}

/** One line per event, keyed by the lease name, for whole-sequence comparisons. */
function describeEvent(e: LeaseEvent): string {
  const name = (key: string) => key.slice(key.lastIndexOf("/") + 1);
  switch (e.type) {
    case "added":
      return `added ${name(e.lease.key)} ${e.lease.attrs.publicIP}`;
    case "changed":
      return `changed ${name(e.lease.key)} ${e.previous?.attrs.publicIP}->${e.lease.attrs.publicIP}`;
    case "removed":
      return `removed ${name(e.key)} ${e.previous?.attrs.publicIP ?? "-"}${e.expired ? " expired" : ""}`;
    default:
      return `${e.type} ${name(e.key)}`;
  }
}

const keyOf = (e: LeaseEvent): string => ("lease" in e ? e.lease.key : e.key);

/** The lease name of the closing write (see closingWrite). */
const CLOSING = "10.5.250.0-24";

/** Applies events to a snapshot (key → value), checking each `previous` against the model. */
function replay(snapshot: readonly Lease[], events: readonly LeaseEvent[]): Map<string, string> {
  const model = new Map(snapshot.map((l) => [l.key, l.value]));
  for (const e of events) {
    const key = keyOf(e);
    const was = model.get(key);
    if (e.type === "added") {
      if (was !== undefined) throw new Error(`added ${key} while the model holds it`);
      model.set(key, e.lease.value);
    } else if (e.type === "changed") {
      if (was !== e.previous?.value) throw new Error(`changed ${key}: previous does not match`);
      model.set(key, e.lease.value);
    } else if (e.type === "removed" || e.type === "damaged") {
      if (was !== e.previous?.value) throw new Error(`${e.type} ${key}: previous does not match`);
      model.delete(key);
    }
  }
  return model;
}

describe.skipIf(!etcdAvailable())("watchLeases against a real etcd", () => {
  const etcd = useEtcd();
  let store: Store;
  const watches: LeaseWatch[] = [];
  const watch = async (...args: Parameters<typeof watchLeases>): Promise<LeaseWatch> => {
    const w = await watchLeases(...args);
    watches.push(w);
    return w;
  };

  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
  });
  afterEach(async () => {
    await Promise.all(watches.splice(0).map((w) => w.stop()));
  });
  afterAll(() => store?.close());

  const put = (key: string, value: string, ...flags: string[]) =>
    etcd().etcdctlOk(["put", ...flags, key, "--", value]);
  const del = (key: string) => etcd().etcdctlOk(["del", key]);
  const revisionNow = async () => (await store.get("/")).revision;
  /**
   * Writes one last lease and waits for its event: events arrive in revision order, so every
   * event for the writes before it is in by then. Returns the events before it, and it.
   */
  const closingWrite = async (rec: { events: LeaseEvent[] }, dir: string) => {
    const key = `${dir}${CLOSING}`;
    await put(key, PLAIN);
    await until("the closing write's event", () => rec.events.some((e) => keyOf(e) === key));
    const at = rec.events.findIndex((e) => keyOf(e) === key);
    return { before: rec.events.slice(0, at), closing: rec.events[at]!, key };
  };

  it("hands over a snapshot, then puts and deletes in order with the lease they replaced", async () => {
    const prefix = "/t1/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    await put(`${dir}10.5.52.0-24`, VXLAN);
    const rec = recorder();
    const w = await watch(store, prefix, rec.handlers);
    expect(rec.snapshots).toHaveLength(1);
    const snap = rec.snapshots[0]!;
    expect(snap.leases.map((l) => l.key)).toEqual([`${dir}10.5.52.0-24`]);
    expect(snap.leases[0]!.value).toBe(VXLAN);
    expect(w.revision).toBe(snap.revision);

    await put(`${dir}10.5.53.0-24`, PLAIN);
    await put(`${dir}10.5.52.0-24`, VXLAN2);
    await del(`${dir}10.5.53.0-24`);
    await del(`${dir}10.5.52.0-24`);
    await until("four events", () => rec.events.length >= 4);
    const { before, closing, key } = await closingWrite(rec, dir);
    expect(before.map(describeEvent)).toEqual([
      "added 10.5.53.0-24 1.2.3.4",
      "changed 10.5.52.0-24 192.168.64.3->192.168.64.4",
      "removed 10.5.53.0-24 1.2.3.4",
      "removed 10.5.52.0-24 192.168.64.4",
    ]);
    const changed = rec.events[1];
    expect(changed?.type === "changed" && changed.previous?.value).toBe(VXLAN);
    expect(changed?.type === "changed" && changed.lease.value).toBe(VXLAN2);
    const revisions = before.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).toBe(4);
    expect(w.revision).toBe(closing.revision);
    expect([...w.current().keys()]).toEqual([key]);
    expect(rec.snapshots).toHaveLength(1);
  });

  it("sees a key written between the listing and the watch exactly once", async () => {
    const prefix = "/t2/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    // Deterministic: the listing is taken before the write, the watch starts after it.
    const before = await revisionNow();
    await put(`${dir}10.5.1.0-24`, VXLAN);
    const rec = recorder();
    await watch(store, prefix, rec.handlers, { fromRevision: before + 1 });
    expect(rec.snapshots[0]!.leases).toHaveLength(0);
    expect(rec.snapshots[0]!.revision).toBe(before);
    await until("the added event", () => rec.events.length >= 1);

    // Racing: many writers while a second watch starts; each key is in the snapshot or an event, once.
    const rec2 = recorder();
    const keys = Array.from({ length: 80 }, (_, i) => `${dir}10.6.${i}.0-24`);
    let written = 0;
    const writing = (async () => {
      for (const key of keys) {
        await store.txn([{ key, modRevision: 0 }], [{ put: key, value: PLAIN }]);
        written++;
      }
    })();
    // Start the watch once the writers are under way, so the listing lands among the writes.
    await until("the first racing writes", () => written >= 5);
    await watch(store, prefix, rec2.handlers);
    await writing;
    const seen = (): string[] => [
      ...rec2.snapshots[0]!.leases.map((l) => l.key),
      ...rec2.events.filter((e) => e.type === "added").map(keyOf),
    ];
    await until("every racing key", () => keys.every((k) => seen().includes(k)));
    await closingWrite(rec2, dir);
    const all = seen().filter((k) => k.includes("10.6."));
    expect(all.sort()).toEqual([...keys].sort());
    expect(rec2.events.every((e) => e.type === "added")).toBe(true);
    expect(describeEvent(rec.events[0]!)).toBe("added 10.5.1.0-24 192.168.64.3");
    expect(rec.events.filter((e) => keyOf(e).endsWith("10.5.1.0-24"))).toHaveLength(1);
  });

  it("reports a TTL expiry as an expired removal, an explicit delete as a plain one", async () => {
    const prefix = "/t3/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    const rec = recorder();
    await watch(store, prefix, rec.handlers);
    const grant = async (ttl: number): Promise<string> => {
      const out = await etcd().etcdctlOk(["lease", "grant", String(ttl)]);
      const id = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
      if (id === undefined) throw new Error(`unexpected etcdctl output: ${out}`);
      return id;
    };
    await put(`${dir}10.5.60.0-24`, VXLAN, `--lease=${await grant(2)}`);
    await put(`${dir}10.5.61.0-24`, PLAIN, `--lease=${await grant(600)}`);
    await del(`${dir}10.5.61.0-24`);
    await until("the expiry", () => rec.events.length >= 4, 30_000);
    expect(rec.events.map(describeEvent)).toEqual([
      "added 10.5.60.0-24 192.168.64.3",
      "added 10.5.61.0-24 1.2.3.4",
      "removed 10.5.61.0-24 1.2.3.4",
      "removed 10.5.60.0-24 192.168.64.3 expired",
    ]);
  });

  it("with keepLeases false: no previous leases, yet changes, removals and expiries as before", async () => {
    const prefix = "/t3k/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    await put(`${dir}10.5.70.0-24`, VXLAN);
    const rec = recorder();
    const w = await watch(store, prefix, rec.handlers, { keepLeases: false });
    expect(rec.snapshots[0]!.leases.map((l) => l.key)).toEqual([`${dir}10.5.70.0-24`]);
    const out = await etcd().etcdctlOk(["lease", "grant", "2"]);
    const id = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
    if (id === undefined) throw new Error(`unexpected etcdctl output: ${out}`);
    await put(`${dir}10.5.70.0-24`, VXLAN2);
    await put(`${dir}10.5.71.0-24`, PLAIN, `--lease=${id}`);
    await del(`${dir}10.5.70.0-24`);
    await until("the expiry", () => rec.events.length >= 4, 30_000);
    expect(rec.events.map(describeEvent)).toEqual([
      "changed 10.5.70.0-24 undefined->192.168.64.4",
      "added 10.5.71.0-24 1.2.3.4",
      "removed 10.5.70.0-24 -",
      "removed 10.5.71.0-24 - expired",
    ]);
    expect(() => w.current()).toThrow(TypeError);
  });

  it("resyncs after compaction with exactly the differences, then watches on", async () => {
    const prefix = "/t4/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    const rec = recorder();
    const first = await watch(store, prefix, rec.handlers);
    await put(`${dir}10.5.1.0-24`, VXLAN);
    await put(`${dir}10.5.2.0-24`, PLAIN);
    await put(`${dir}10.5.3.0-24`, PLAIN);
    await until("three leases", () => rec.events.length >= 3);
    await first.stop();
    const resumeFrom = first.revision + 1;
    const known: Lease[] = [...first.current().values()];
    expect(known).toHaveLength(3);

    // While nobody watches: change, delete, add, add-and-delete; then compact it all away.
    await put(`${dir}10.5.1.0-24`, VXLAN2);
    await del(`${dir}10.5.2.0-24`);
    await put(`${dir}10.5.4.0-24`, VXLAN);
    await put(`${dir}10.5.5.0-24`, PLAIN);
    await del(`${dir}10.5.5.0-24`);
    await put(`${dir}garbage`, "x");
    const compactAt = await revisionNow();
    await etcd().etcdctlOk(["compaction", String(compactAt)]);

    const rec2 = recorder();
    const second = await watch(store, prefix, rec2.handlers, { fromRevision: resumeFrom, known });
    expect(rec2.snapshots).toHaveLength(0);
    await until("the resync", () => rec2.events.length >= 4);
    await put(`${dir}10.5.6.0-24`, PLAIN);
    await until("a write after the resync", () => rec2.events.length >= 5);
    const { key } = await closingWrite(rec2, dir);
    expect(rec2.events.map(describeEvent)).toEqual([
      "changed 10.5.1.0-24 192.168.64.3->192.168.64.4",
      "removed 10.5.2.0-24 1.2.3.4",
      "added 10.5.4.0-24 192.168.64.3",
      "foreign garbage",
      "added 10.5.6.0-24 1.2.3.4",
      `added ${CLOSING} 1.2.3.4`,
    ]);
    expect([...second.current().keys()].sort()).toEqual(
      [...["10.5.1.0-24", "10.5.3.0-24", "10.5.4.0-24", "10.5.6.0-24"].map((n) => dir + n), key].sort(),
    );

    // Without known leases, a compacted fromRevision falls back to a snapshot of now.
    const rec3 = recorder();
    await watch(store, prefix, rec3.handlers, { fromRevision: resumeFrom });
    expect(rec3.snapshots[0]!.leases).toHaveLength(5);
    expect(rec3.snapshots[0]!.revision).toBeGreaterThanOrEqual(compactAt);
  });

  it("survives an etcd restart: later writes arrive, none repeated", async () => {
    const prefix = "/t5/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    const rec = recorder();
    const w = await watch(store, prefix, rec.handlers, { backoff: { initialMs: 100, maxMs: 1000 } });
    await put(`${dir}10.5.1.0-24`, VXLAN);
    await until("the first event", () => rec.events.length >= 1);
    const member = etcd().members[0]!;
    await member.stop();
    await member.restart();
    await put(`${dir}10.5.2.0-24`, PLAIN);
    await put(`${dir}10.5.1.0-24`, VXLAN2);
    await until("writes after the restart", () => rec.events.length >= 3, 30_000);
    await closingWrite(rec, dir);
    expect(rec.events.map(describeEvent)).toEqual([
      "added 10.5.1.0-24 192.168.64.3",
      "added 10.5.2.0-24 1.2.3.4",
      "changed 10.5.1.0-24 192.168.64.3->192.168.64.4",
      `added ${CLOSING} 1.2.3.4`,
    ]);
    expect(w.current().size).toBe(3);
  });

  it("survives a restart followed by writes and a compaction before it reconnects", async () => {
    const prefix = "/t7/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    await put(`${dir}10.5.1.0-24`, VXLAN);
    await put(`${dir}10.5.2.0-24`, PLAIN);
    const rec = recorder();
    await watch(store, prefix, rec.handlers);
    const member = etcd().members[0]!;
    await member.stop();
    // Until the client has seen etcd gone a few times (its reconnect backoff has grown), so the
    // writes below can land before the watch is back.
    let failedReads = 0;
    await waitFor(
      async () => {
        await store.get("/").then(
          () => undefined,
          () => failedReads++,
        );
        return failedReads >= 3;
      },
      { what: "three failed reads while etcd is down" },
    );
    await member.restart();
    await put(`${dir}10.5.1.0-24`, VXLAN2);
    await del(`${dir}10.5.2.0-24`);
    await put(`${dir}10.5.3.0-24`, PLAIN);
    await put(`${dir}10.5.4.0-24`, PLAIN);
    await del(`${dir}10.5.4.0-24`);
    await etcd().etcdctlOk(["compaction", String(await revisionNow())]);
    await put(`${dir}10.5.5.0-24`, VXLAN);
    // Whether the watch resumed before the compaction or resynced after it, the result is the same.
    const want = new Map(
      [
        ["10.5.1.0-24", VXLAN2],
        ["10.5.3.0-24", PLAIN],
        ["10.5.5.0-24", VXLAN],
      ].map(([n, v]) => [dir + n, v] as [string, string]),
    );
    const model = () => replay(rec.snapshots[0]!.leases, rec.events);
    await until(
      "the state after the restart",
      () => JSON.stringify([...model()].sort()) === JSON.stringify([...want].sort()),
      40_000,
    );
    const { key } = await closingWrite(rec, dir);
    want.set(key, PLAIN);
    expect([...model()].sort()).toEqual([...want].sort());
    const revisions = rec.events.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    const changes = rec.events.filter((e) => keyOf(e).endsWith("10.5.1.0-24"));
    expect(changes.map(describeEvent)).toEqual(["changed 10.5.1.0-24 192.168.64.3->192.168.64.4"]);
  });

  it("reports foreign keys and damaged values without removing or hiding real leases", async () => {
    const prefix = "/t6/coreos.com/network";
    const dir = subnetsPrefix(prefix);
    await put(`${dir}10.5.52.0-24`, VXLAN);
    await put(`${dir}garbage`, "whatever");
    const rec = recorder();
    const w = await watch(store, prefix, rec.handlers);
    const snap = rec.snapshots[0]!;
    expect(snap.leases.map((l) => l.key)).toEqual([`${dir}10.5.52.0-24`]);
    expect(snap.foreign.map((f) => f.key)).toEqual([`${dir}garbage`]);

    await put(`${dir}garbage`, VXLAN);
    await put(`${dir}10.5.53.0-24`, PLAIN);
    await del(`${dir}garbage`);
    await put(`${dir}10.5.53.0-24`, "not json");
    await until("four events", () => rec.events.length >= 4);
    const { before, key } = await closingWrite(rec, dir);
    expect(before.map(describeEvent)).toEqual([
      "foreign garbage",
      "added 10.5.53.0-24 1.2.3.4",
      "foreign garbage",
      "damaged 10.5.53.0-24",
    ]);
    const damaged = rec.events[3];
    expect(damaged?.type === "damaged" && damaged.previous?.value).toBe(PLAIN);
    expect([...w.current().keys()]).toEqual([`${dir}10.5.52.0-24`, key]);
    expect(w.current().get(`${dir}10.5.52.0-24`)?.value).toBe(VXLAN);
  });
});
