/**
 * The attempts of one Store.watch call, whichever transport opens them: only the watch the
 * call returns ever reports to the caller (what it heard before the call returned is held,
 * then handed over in order), and every other watch an attempt opened is cancelled: one that
 * failed over, and one that etcd confirmed only after its attempt had given up (the endpoint
 * pool's deadline and the attempt's fire together and the confirmation lands between them),
 * which would otherwise run unseen until the process ends.
 */
import { DeadlineError } from "./endpoint-pool.js";
import type { ClientWatchHandlers } from "./etcd-client.js";
import type { Watch, WatchEvent } from "./store.js";

/** One report, held until the call decides whose it is. */
type Report =
  | { readonly kind: "events"; readonly events: readonly WatchEvent[]; readonly revision: number }
  | { readonly kind: "compacted"; readonly compactRevision: number | undefined }
  | { readonly kind: "error"; readonly err: unknown; readonly lost: boolean };

/** Holds one attempt's reports until it is released to the caller or dropped. */
class Holder {
  private readonly queue: Report[] = [];
  private to: ClientWatchHandlers | undefined;
  private dropped = false;

  readonly handlers: ClientWatchHandlers = {
    events: (events, revision) => this.report({ kind: "events", events, revision }),
    compacted: (compactRevision) => this.report({ kind: "compacted", compactRevision }),
    error: (err, lost) => this.report({ kind: "error", err, lost }),
  };

  private report(r: Report): void {
    if (this.dropped) return;
    if (this.to === undefined) this.queue.push(r);
    else deliver(this.to, r);
  }

  release(to: ClientWatchHandlers): void {
    if (this.dropped) return;
    for (const r of this.queue.splice(0)) deliver(to, r);
    this.to = to;
  }

  drop(): void {
    this.dropped = true;
    this.queue.length = 0;
  }
}

function deliver(to: ClientWatchHandlers, r: Report): void {
  if (r.kind === "events") to.events(r.events, r.revision);
  else if (r.kind === "compacted") to.compacted(r.compactRevision);
  else to.error(r.err, r.lost);
}

/** A watch an attempt got. */
export interface AttemptedWatch {
  readonly watch: Watch;
}

interface Opened {
  readonly holder: Holder;
  watch?: Watch;
  result?: AttemptedWatch;
}

/** See the file's comment. */
export class WatchAttempts {
  private readonly opened: Opened[] = [];
  private over = false;

  /** One attempt: `open` gets handlers that hold what they hear until the call is decided. */
  async attempt(open: (handlers: ClientWatchHandlers) => Promise<Watch>): Promise<AttemptedWatch> {
    if (this.over) throw new DeadlineError();
    const entry: Opened = { holder: new Holder() };
    this.opened.push(entry);
    const watch = await open(entry.holder.handlers);
    entry.watch = watch;
    if (this.over) {
      // Confirmed after the call was decided: nobody will ever hold this watch.
      entry.holder.drop();
      void watch.cancel().catch(() => undefined);
      throw new DeadlineError();
    }
    entry.result = { watch };
    return entry.result;
  }

  /**
   * The call is decided: `won` (undefined when every attempt failed) reports to `handlers`
   * from now on, first what it heard so far; every other watch is cancelled, now or as soon as
   * it is confirmed.
   */
  finish(won: AttemptedWatch | undefined, handlers?: ClientWatchHandlers): void {
    this.over = true;
    for (const e of this.opened) {
      if (won !== undefined && e.result === won) {
        if (handlers !== undefined) e.holder.release(handlers);
        continue;
      }
      e.holder.drop();
      if (e.watch !== undefined) void e.watch.cancel().catch(() => undefined);
    }
  }
}
