import { describe, expect, it } from "vitest";
import { DeadlineError } from "./endpoint-pool.js";
import type { ClientWatchHandlers } from "./etcd-client.js";
import type { Watch, WatchEvent } from "./store.js";
import { WatchAttempts } from "./watch-attempts.js";

const put = (key: string, modRevision: number): WatchEvent => ({
  type: "put",
  kv: { key, value: Buffer.from("v"), createRevision: modRevision, modRevision, version: 1, lease: "0" },
});

/** A watch an attempt opens: confirmed when the test says, recording its cancel. */
function fakeOpen() {
  let confirm!: () => void;
  let handlers!: ClientWatchHandlers;
  let cancelled = 0;
  const watch: Watch = {
    cancel: async () => {
      cancelled++;
    },
  };
  const open = (h: ClientWatchHandlers) => {
    handlers = h;
    return new Promise<Watch>((resolve) => {
      confirm = () => resolve(watch);
    });
  };
  return {
    open,
    confirm: () => confirm(),
    hear: () => handlers,
    cancelled: () => cancelled,
  };
}

function recorder() {
  const heard: string[] = [];
  const handlers: ClientWatchHandlers = {
    events: (events, revision) => heard.push(`events ${events.map((e) => e.kv.key).join(",")} @${revision}`),
    compacted: (rev) => heard.push(`compacted ${rev}`),
    error: (err, lost) => heard.push(`error ${String(err)} ${lost}`),
  };
  return { heard, handlers };
}

describe("WatchAttempts", () => {
  it("hands the winner's early reports over in order when the call is decided, then passes them straight on", async () => {
    const attempts = new WatchAttempts();
    const a = fakeOpen();
    const pending = attempts.attempt(a.open);
    a.confirm();
    // Events in the same chunk as the confirmation, before the call returned.
    a.hear().events([put("/k/1", 5)], 5);
    const won = await pending;
    a.hear().events([put("/k/2", 6)], 6);
    const r = recorder();
    attempts.finish(won, r.handlers);
    a.hear().compacted(9);
    expect(r.heard).toEqual(["events /k/1 @5", "events /k/2 @6", "compacted 9"]);
    expect(a.cancelled()).toBe(0);
  });

  it("cancels a watch that etcd confirms after the call gave up, and nothing it hears reaches anyone", async () => {
    const attempts = new WatchAttempts();
    const late = fakeOpen();
    const pending = attempts.attempt(late.open);
    // The pool's deadline fired first: the call is decided without this attempt.
    attempts.finish(undefined);
    late.confirm();
    await expect(pending).rejects.toThrow(DeadlineError);
    expect(late.cancelled()).toBe(1);
    late.hear().events([put("/k/1", 5)], 5);
  });

  it("cancels every other attempt's watch, confirmed or not, and drops what they heard", async () => {
    const attempts = new WatchAttempts();
    const first = fakeOpen();
    const second = fakeOpen();
    const third = fakeOpen();
    const p1 = attempts.attempt(first.open);
    const p2 = attempts.attempt(second.open);
    const p3 = attempts.attempt(third.open);
    first.confirm();
    await p1;
    first.hear().events([put("/from/first", 3)], 3);
    second.confirm();
    const won = await p2;
    const r = recorder();
    attempts.finish(won, r.handlers);
    expect(first.cancelled()).toBe(1);
    first.hear().events([put("/from/first", 4)], 4);
    third.confirm();
    await expect(p3).rejects.toThrow(DeadlineError);
    expect(third.cancelled()).toBe(1);
    expect(second.cancelled()).toBe(0);
    expect(r.heard).toEqual([]);
  });

  it("refuses a new attempt once the call is decided", async () => {
    const attempts = new WatchAttempts();
    attempts.finish(undefined);
    const a = fakeOpen();
    await expect(attempts.attempt(a.open)).rejects.toThrow(DeadlineError);
  });
});
