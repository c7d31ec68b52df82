import { describe, expect, it } from "vitest";
import { PodnetError } from "./errors.js";
import type { KeyValue, Store, TxnResult } from "./etcd/store.js";
import { deleteLanded, guardedWrite, putLanded } from "./lost-answer.js";

const kv = (value: string, lease = "0", createRevision = 3): KeyValue => ({
  key: "k",
  value: Buffer.from(value),
  createRevision,
  modRevision: 9,
  version: 2,
  lease,
});

/** A store holding at most key "k", and etcd leases with their TTLs. */
function fakeStore(key: KeyValue | undefined, ttls: Record<string, number> = {}): Store {
  return {
    get: async () => ({ revision: 10, value: key }),
    timeToLive: async (id: string) => ttls[id] ?? -1,
  } as unknown as Store;
}

const failed: TxnResult = { succeeded: false, revision: 10, gets: [] };

describe("guardedWrite", () => {
  it("a write that answered needs no read", async () => {
    let reads = 0;
    const out = await guardedWrite(
      async () => ({ succeeded: true, revision: 7, gets: [] }),
      async () => {
        reads++;
        return true;
      },
    );
    expect(out).toEqual({ kind: "written", revision: 7 });
    expect(reads).toBe(0);
  });

  it("a failed compare is ours when the key shows our write, else lost", async () => {
    expect(
      await guardedWrite(
        async () => failed,
        async () => "found",
      ),
    ).toEqual({ kind: "landed", found: "found" });
    expect(
      await guardedWrite(
        async () => failed,
        async () => undefined,
      ),
    ).toEqual({ kind: "lost" });
  });

  it("no answer: ours when a read shows the write landed, else the no-answer error as it was", async () => {
    const noAnswer = new PodnetError("unavailable", "cannot reach etcd");
    const threw = async (): Promise<TxnResult> => {
      throw noAnswer;
    };
    expect(await guardedWrite(threw, async () => 1)).toEqual({ kind: "landed", found: 1 });
    await expect(guardedWrite(threw, async () => undefined)).rejects.toBe(noAnswer);
    await expect(
      guardedWrite(threw, async () => {
        throw new PodnetError("unavailable", "still cannot reach etcd");
      }),
    ).rejects.toBe(noAnswer);
  });

  it("a refusal is not a lost answer: rethrown without reading", async () => {
    let reads = 0;
    const denied = new PodnetError("permission", "denied");
    await expect(
      guardedWrite(
        async () => {
          throw denied;
        },
        async () => {
          reads++;
          return true;
        },
      ),
    ).rejects.toBe(denied);
    expect(reads).toBe(0);
  });
});

describe("putLanded and deleteLanded", () => {
  it("a put landed only when value, etcd lease and (if given) creation all match", async () => {
    expect(await putLanded(fakeStore(kv("v", "5")), "k", "v", "5")).toBeDefined();
    expect(await putLanded(fakeStore(kv("v", "5")), "k", "v", "0")).toBeUndefined();
    expect(await putLanded(fakeStore(kv("w", "5")), "k", "v", "5")).toBeUndefined();
    expect(await putLanded(fakeStore(kv("v", "0", 3)), "k", "v", "0", 4)).toBeUndefined();
    expect(await putLanded(fakeStore(undefined), "k", "v", "0")).toBeUndefined();
  });

  it("a delete landed when the key is gone and was not expired", async () => {
    expect(await deleteLanded(fakeStore(undefined), "k", "0")).toBe(true);
    expect(await deleteLanded(fakeStore(undefined, { "5": 30 }), "k", "5")).toBe(true);
    // Its etcd lease is gone too: it expired (or was revoked), which is not our delete.
    expect(await deleteLanded(fakeStore(undefined), "k", "5")).toBeUndefined();
    expect(await deleteLanded(fakeStore(kv("v")), "k", "0")).toBeUndefined();
  });
});
