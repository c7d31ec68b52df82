import { describe, expect, it } from "vitest";
import { giveUp, waitFor } from "./wait.js";

describe("waitFor", () => {
  it("returns the first truthy value the condition gives", async () => {
    let calls = 0;
    const v = await waitFor(() => (++calls >= 3 ? { calls } : null), { intervalMs: 1 });
    expect(v).toEqual({ calls: 3 });
    expect(calls).toBe(3);
  });

  it("awaits an async condition and treats a throw as not yet", async () => {
    let calls = 0;
    const v = await waitFor(
      async () => {
        calls++;
        if (calls < 3) throw new Error("not there yet");
        return "there";
      },
      { intervalMs: 1 },
    );
    expect(v).toBe("there");
    expect(calls).toBe(3);
  });

  it("fails on timeout naming what it waited for and the last value seen", async () => {
    let n = 0;
    await expect(
      waitFor(
        () => {
          n++;
          return 0;
        },
        { timeoutMs: 50, intervalMs: 5, what: "the key /a" },
      ),
    ).rejects.toThrow(/timed out .* waiting for the key \/a; last value: 0$/);
    expect(n).toBeGreaterThan(1);
  });

  it("fails on timeout reporting the last error the condition threw", async () => {
    let n = 0;
    const failing = () => {
      n++;
      throw new Error(`attempt ${n} refused`);
    };
    const err = await waitFor(failing, { timeoutMs: 50, intervalMs: 5, what: "etcd up" }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/waiting for etcd up; last error: attempt \d+ refused$/);
    expect((err as Error).message).toContain(`attempt ${n} refused`);
  });

  it("does not let an attempt that never settles outlive the deadline", async () => {
    await expect(
      waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 50, what: "a hung probe" }),
    ).rejects.toThrow(/waiting for a hung probe; last attempt was still running$/);
  });

  it("stops at once when the condition gives up", async () => {
    let calls = 0;
    const err = await waitFor(
      () => {
        calls++;
        return giveUp("the process exited with code 1");
      },
      { timeoutMs: 10_000, what: "the ready line" },
    ).catch((e: Error) => e);
    expect((err as Error).message).toBe("gave up waiting for the ready line: the process exited with code 1");
    expect(calls).toBe(1);
  });

  it("rethrows an Error it gave up with as it is", async () => {
    class Fatal extends Error {}
    const err = await waitFor(() => giveUp(new Fatal("ports taken"))).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Fatal);
    expect((err as Error).message).toBe("ports taken");
  });
});
