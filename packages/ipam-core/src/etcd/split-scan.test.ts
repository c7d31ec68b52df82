import { describe, expect, it } from "vitest";
import type { RangeQuery } from "./etcd-client.js";
import type { RangeReply, RangeWalk } from "./reply-decoders.js";
import { runScan, type ScanIo, subRangeBounds } from "./split-scan.js";
import type { KeyValueCursor } from "./store.js";

const b = (s: string) => Buffer.from(s);

/** A fake etcd over sorted keys: pages of `limit`, replies released in the order the test says. */
class FakeRanges implements ScanIo {
  readonly queries: RangeQuery[] = [];
  private readonly held: { resolve: () => void; query: RangeQuery }[] = [];

  constructor(
    private readonly keys: readonly string[],
    private readonly opts: { hold?: boolean; failKey?: string } = {},
  ) {}

  fetch(query: RangeQuery): Promise<RangeReply> {
    this.queries.push(query);
    const from = query.key.toString();
    const to = query.rangeEnd?.toString() ?? "\uffff";
    const inRange = this.keys.filter((k) => k >= from && k < to);
    const page = inRange.slice(0, query.limit ?? inRange.length);
    const last = page[page.length - 1];
    const summary: RangeWalk = {
      revision: 9,
      more: inRange.length > page.length,
      count: page.length,
      ...(last !== undefined && { lastKey: b(last) }),
    };
    const reply: RangeReply = {
      peek: () => summary,
      walk: (visit: (kv: KeyValueCursor) => void): RangeWalk => {
        for (const k of page) {
          const buf = b(k);
          visit({
            buf,
            keyStart: 0,
            keyEnd: buf.length,
            valueStart: 0,
            valueEnd: 0,
            createRevision: 1,
            modRevision: 1,
            version: 1,
            hasLease: false,
            lease: () => "0",
          });
        }
        return summary;
      },
    };
    if (this.opts.failKey !== undefined && from === this.opts.failKey) {
      return Promise.reject(new Error(`failed at ${from}`));
    }
    if (this.opts.hold !== true) return Promise.resolve(reply);
    return new Promise((resolve) => this.held.push({ resolve: () => resolve(reply), query }));
  }

  walk(reply: RangeReply, visit: (kv: KeyValueCursor) => void): RangeWalk {
    return reply.walk(visit);
  }

  peek(reply: RangeReply): RangeWalk {
    return reply.peek();
  }

  /** Releases the held replies, last asked first. */
  releaseBackwards(): number {
    const n = this.held.length;
    for (const h of this.held.splice(0).reverse()) h.resolve();
    return n;
  }
}

const keys = ["/d/a", "/d/b", "/d/c", "/d/d", "/d/e", "/d/f", "/d/g", "/d/h"];
const keyOf = (c: KeyValueCursor) => c.buf.toString("utf8", c.keyStart, c.keyEnd);

describe("a scan cut into sub-ranges", () => {
  it("bounds: cuts strictly inside the range, sorted, each once", () => {
    expect(
      subRangeBounds(b("/d/"), b("/d0"), [
        b("/d/m"),
        b("/a"),
        b("/d/c"),
        b("/d/m"),
        b("/d/"),
        b("/d0"),
        b("/z"),
      ]).map(String),
    ).toEqual(["/d/", "/d/c", "/d/m", "/d0"]);
  });

  it("asks for every sub-range at once at the pinned revision and visits in key order whatever order replies come in", async () => {
    const io = new FakeRanges(keys, { hold: true });
    const seen: string[] = [];
    const pages: [number, boolean][] = [];
    const done = runScan(
      { start: b("/d/"), end: b("/d0"), splits: [b("/d/f"), b("/d/c")], revision: 5, limit: 100 },
      io,
      (c) => seen.push(keyOf(c)),
      (n, last) => pages.push([n, last]),
    );
    await Promise.resolve();
    // All three asked before any answer came.
    expect(io.queries.map((q) => [q.key.toString(), q.rangeEnd?.toString(), q.revision])).toEqual([
      ["/d/", "/d/c", 5],
      ["/d/c", "/d/f", 5],
      ["/d/f", "/d0", 5],
    ]);
    expect(io.releaseBackwards()).toBe(3);
    expect(await done).toEqual({ revision: 5, count: 8 });
    expect(seen).toEqual(keys);
    expect(pages).toEqual([
      [2, false],
      [5, false],
      [8, true],
    ]);
  });

  it("a sub-range that holds more than a page pages on from its last key, within its own bounds", async () => {
    const io = new FakeRanges(keys);
    const seen: string[] = [];
    const res = await runScan(
      { start: b("/d/"), end: b("/d0"), splits: [b("/d/f")], revision: 5, limit: 2 },
      io,
      (c) => seen.push(keyOf(c)),
    );
    expect(res.count).toBe(8);
    expect(seen).toEqual(keys);
    expect(io.queries.slice(2).map((q) => [q.key.toString(), q.rangeEnd?.toString()])).toEqual([
      ["/d/b\0", "/d/f"],
      ["/d/d\0", "/d/f"],
      ["/d/g\0", "/d0"],
    ]);
  });

  it("asks for a sub-range's next page before walking the page in hand", async () => {
    const io = new FakeRanges(keys);
    const askedWhenWalked: number[] = [];
    const inner = io.walk.bind(io);
    io.walk = (reply, visit) => {
      askedWhenWalked.push(io.queries.length);
      return inner(reply, visit);
    };
    const seen: string[] = [];
    const res = await runScan({ start: b("/d/"), end: b("/d0"), splits: [], limit: 3 }, io, (c) =>
      seen.push(keyOf(c)),
    );
    expect(res).toEqual({ revision: 9, count: 8 });
    expect(seen).toEqual(keys);
    // Pages of 3, 3 and 2: each walk starts with the next page asked for already (none after the last).
    expect(askedWhenWalked).toEqual([2, 3, 3]);
    expect(io.queries.map((q) => q.revision)).toEqual([undefined, 9, 9]);
  });

  it("skewed cuts (every key in one sub-range, empty ones around it) still give every key once", async () => {
    const seen: string[] = [];
    const res = await runScan(
      { start: b("/d/"), end: b("/d0"), splits: [b("/d/0"), b("/d/1"), b("/d/z")], revision: 5, limit: 3 },
      new FakeRanges(keys),
      (c) => seen.push(keyOf(c)),
    );
    expect(res).toEqual({ revision: 5, count: 8 });
    expect(seen).toEqual(keys);
  });

  it("a later sub-range's failure fails the scan without waiting for the earlier ones", async () => {
    const io = new FakeRanges(keys, { hold: true, failKey: "/d/f" });
    await expect(
      runScan(
        { start: b("/d/"), end: b("/d0"), splits: [b("/d/f")], revision: 5, limit: 100 },
        io,
        () => undefined,
      ),
    ).rejects.toThrow("failed at /d/f");
    // The first sub-range's answer never came.
    expect(io.releaseBackwards()).toBe(1);
  });

  it("unsplit, the first page is read at the latest revision and the rest at the first's", async () => {
    const io = new FakeRanges(keys);
    const res = await runScan({ start: b("/d/"), end: b("/d0"), splits: [], limit: 5 }, io, () => undefined);
    expect(res).toEqual({ revision: 9, count: 8 });
    expect(io.queries.map((q) => q.revision)).toEqual([undefined, 9]);
    await expect(
      runScan({ start: b("/d/"), end: b("/d0"), splits: [b("/d/c")], limit: 5 }, io, () => undefined),
    ).rejects.toThrow(/pinned revision/);
  });
});
