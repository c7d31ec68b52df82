/**
 * A scan of one key range, whole or cut into sub-ranges fetched at once at one pinned
 * revision: etcd serves the sub-ranges in parallel on its cores (etcd 3.4 reads run
 * concurrently), and the keys of one are visited while etcd still serves the later ones.
 * Sub-ranges are visited in key order (a reply that comes early waits its turn), so the caller
 * sees the keys sorted as one range gives them. Each sub-range pages on etcd's `more` like a
 * whole range does, so any cut is correct and a skewed one only slower; its next page is asked
 * for before the page in hand is walked.
 */
import type { RangeQuery } from "./etcd-client.js";
import type { RangeReply, RangeWalk } from "./reply-decoders.js";
import type { ScanResult, ScanVisitor } from "./store.js";

/** What one scan reads. */
export interface SplitScan {
  /** The range [start, end). */
  readonly start: Buffer;
  readonly end: Buffer;
  /** Where to cut it; keys outside (start, end) and repeats are dropped. */
  readonly splits: readonly Buffer[];
  /** The snapshot; required when there is a cut (each sub-range must read the same one). */
  readonly revision?: number | undefined;
  /** Keys per range request. */
  readonly limit: number;
  readonly keysOnly?: boolean | undefined;
}

/** How a scan reaches etcd: one page per fetch (with the store's fail-over), read by walk. */
export interface ScanIo {
  fetch(query: RangeQuery): Promise<RangeReply>;
  walk(reply: RangeReply, visit: ScanVisitor): RangeWalk;
  /** What walk will say of the reply, without visiting its keys. */
  peek(reply: RangeReply): RangeWalk;
}

/** The bounds of the sub-ranges: start, the cuts strictly inside (ascending, once each), end. */
export function subRangeBounds(start: Buffer, end: Buffer, splits: readonly Buffer[]): Buffer[] {
  const inside = splits
    .filter((s) => Buffer.compare(start, s) < 0 && Buffer.compare(s, end) < 0)
    .sort(Buffer.compare)
    .filter((s, i, all) => i === 0 || !s.equals(all[i - 1] as Buffer));
  return [start, ...inside, end];
}

/**
 * Scans `scan`'s range, visiting every key in key order exactly once. The first failure of
 * any sub-range fails the scan at once (the others' answers are dropped).
 */
export async function runScan(
  scan: SplitScan,
  io: ScanIo,
  visit: ScanVisitor,
  onPage?: (keys: number, last: boolean, share?: number) => void,
): Promise<ScanResult> {
  const bounds = subRangeBounds(scan.start, scan.end, scan.splits);
  const lanes = bounds.length - 1;
  let revision = scan.revision;
  if (lanes > 1 && revision === undefined) throw new Error("a split scan needs a pinned revision");
  const query = (from: Buffer, to: Buffer): RangeQuery => ({
    key: from,
    rangeEnd: to,
    limit: scan.limit,
    ...(revision !== undefined && { revision }),
    ...(scan.keysOnly === true && { keysOnly: true }),
  });
  // Rejects with the first failure of any fetch, so a later sub-range's error is not held up
  // behind an earlier one's wait (and no rejection goes unhandled).
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined);
  const fetch = (q: RangeQuery): Promise<RangeReply> => {
    const p = io.fetch(q);
    p.catch(fail);
    const first = Promise.race([p, failed]);
    // A sub-range the scan no longer waits for (it failed already) must not reject unheard.
    first.catch(() => undefined);
    return first;
  };
  const firsts: (Promise<RangeReply> | undefined)[] = Array.from({ length: lanes }, (_, i) =>
    fetch(query(bounds[i] as Buffer, bounds[i + 1] as Buffer)),
  );
  let count = 0;
  const bulk = visit.reply !== undefined;
  for (let i = 0; i < lanes; i++) {
    const to = bounds[i + 1] as Buffer;
    let reply = await (firsts[i] as Promise<RangeReply>);
    // Each reply (megabytes) is let go once walked, not held by its promise to the scan's end.
    firsts[i] = undefined;
    for (;;) {
      // The next page is asked for as soon as this one is in, before it is walked: etcd serves
      // it while this one is decoded (a serial paging waited for each in turn). A visitor's
      // bulk reader reads a page in milliseconds: the page is read first and says itself
      // whether more follow (peeking through it cost more than the reading it would overlap).
      const walked = bulk ? io.walk(reply, visit) : undefined;
      const head = walked ?? io.peek(reply);
      revision ??= head.revision;
      const next =
        head.more && head.lastKey !== undefined
          ? fetch(query(Buffer.concat([head.lastKey, Buffer.from([0])]), to))
          : undefined;
      count += (walked ?? io.walk(reply, visit)).count;
      onPage?.(count, next === undefined && i === lanes - 1, (next === undefined ? i + 1 : i) / lanes);
      if (next === undefined) break;
      reply = await next;
    }
  }
  return { revision: revision ?? 0, count };
}
