import { describe, expect, it } from "vitest";
import type { WatchEvent } from "../store.js";
import type { WatchResponse } from "./watch-messages.js";
import { WatchState } from "./watch-state.js";

const response = (o: Partial<WatchResponse>): WatchResponse => ({
  revision: 10,
  watchId: 0,
  created: false,
  canceled: false,
  compactRevision: 0,
  cancelReason: "",
  fragment: false,
  events: [],
  ...o,
});
const put = (key: string, modRevision: number): WatchEvent => ({
  type: "put",
  kv: { key, value: Buffer.from("v"), createRevision: modRevision, modRevision, version: 1, lease: "0" },
});

/** A state that etcd confirmed under `id`. */
function created(id = 0): WatchState {
  const s = new WatchState();
  expect(s.response(response({ created: true, watchId: id }))).toEqual([{ kind: "created", watchId: id }]);
  return s;
}

describe("WatchState", () => {
  it("is confirmed by the created response, then hands over each non-empty batch with the header revision", () => {
    const s = created(3);
    expect(s.watching).toBe(true);
    expect(s.id).toBe(3);
    const a = [put("/k/1", 11), put("/k/2", 11)];
    expect(s.response(response({ watchId: 3, revision: 12, events: a }))).toEqual([
      { kind: "events", events: a, revision: 12 },
    ]);
    // A progress notification (no events) is nothing to report.
    expect(s.response(response({ watchId: 3, revision: 13 }))).toEqual([]);
  });

  it("joins the fragments of a revision etcd split, and reports them once, in order", () => {
    const s = created();
    expect(s.response(response({ fragment: true, events: [put("/a", 20)] }))).toEqual([]);
    expect(s.response(response({ fragment: true, events: [put("/b", 20)] }))).toEqual([]);
    expect(s.response(response({ revision: 21, events: [put("/c", 20)] }))).toEqual([
      { kind: "events", events: [put("/a", 20), put("/b", 20), put("/c", 20)], revision: 21 },
    ]);
    expect(s.response(response({ events: [put("/d", 22)] }))).toEqual([
      { kind: "events", events: [put("/d", 22)], revision: 10 },
    ]);
  });

  it("reports a compaction after the confirmation, and nothing after it", () => {
    const s = created();
    expect(s.response(response({ canceled: true, compactRevision: 7 }))).toEqual([
      { kind: "compacted", compactRevision: 7 },
    ]);
    expect(s.watching).toBe(false);
    expect(s.response(response({ events: [put("/late", 30)] }))).toEqual([]);
    expect(s.end(new Error("gone"))).toEqual([]);
  });

  it("reports a create etcd refused as a failure before confirmation, with etcd's reason", () => {
    const s = new WatchState();
    const [out] = s.response(
      response({ created: true, canceled: true, watchId: -1, cancelReason: "etcdserver: permission denied" }),
    );
    expect(out).toMatchObject({ kind: "failed", created: false });
    expect(out?.kind === "failed" && out.error.message).toBe("etcdserver: permission denied");
    expect(s.watching).toBe(false);
  });

  it("reports a cancel by etcd for another reason as a failure of a confirmed watch", () => {
    const s = created();
    const [out] = s.response(response({ canceled: true, cancelReason: "rpc error: no leader" }));
    expect(out).toMatchObject({ kind: "failed", created: true });
    expect(out?.kind === "failed" && out.error.message).toBe("rpc error: no leader");
    expect(s.response(response({ events: [put("/late", 30)] }))).toEqual([]);
  });

  it("reports the end of the stream once, with its error or as unavailable when etcd ended it cleanly", () => {
    const before = new WatchState();
    expect(before.end(new Error("Deadline exceeded"))).toMatchObject([{ kind: "failed", created: false }]);
    expect(before.end(new Error("again"))).toEqual([]);
    const after = created();
    const [out] = after.end(undefined);
    expect(out).toMatchObject({ kind: "failed", created: true });
    expect(out?.kind === "failed" && out.error.message).toMatch(/^Unavailable/);
  });

  it("drops a fragment cut off by the stream's end, and a response before the confirmation is a failure", () => {
    const s = created();
    expect(s.response(response({ fragment: true, events: [put("/a", 20)] }))).toEqual([]);
    expect(s.end(new Error("reset"))).toMatchObject([{ kind: "failed", created: true }]);
    const early = new WatchState();
    expect(early.response(response({ events: [put("/a", 1)] }))).toMatchObject([
      { kind: "failed", created: false },
    ]);
  });

  it("says nothing once cancelled, and ignores responses for another watch id", () => {
    const s = created(1);
    expect(s.response(response({ watchId: 2, events: [put("/other", 5)] }))).toEqual([]);
    s.cancel();
    expect(s.response(response({ watchId: 1, events: [put("/a", 20)] }))).toEqual([]);
    expect(s.response(response({ watchId: 1, canceled: true }))).toEqual([]);
    expect(s.end(undefined)).toEqual([]);
  });
});
