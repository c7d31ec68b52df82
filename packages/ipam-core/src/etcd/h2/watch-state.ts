/**
 * One watch's life on its stream, as pure code: what each WatchResponse (and the stream's
 * end) means for the caller. No I/O, no timers: watch-stream.ts feeds it and acts on what it
 * says. A watch never resumes by itself; once it failed or was compacted it says nothing more.
 */
import type { WatchEvent } from "../store.js";
import type { WatchResponse } from "./watch-messages.js";

/** What the stream must do after a response. */
export type WatchOutput =
  /** etcd confirmed the watch under this id. */
  | { readonly kind: "created"; readonly watchId: number }
  /** A batch of events (never empty), all at or below `revision`. */
  | { readonly kind: "events"; readonly events: readonly WatchEvent[]; readonly revision: number }
  /** The revision asked for is compacted: the caller re-lists, then watches again. */
  | { readonly kind: "compacted"; readonly compactRevision: number }
  /** The watch ended; `created` says whether etcd had confirmed it. */
  | { readonly kind: "failed"; readonly error: Error; readonly created: boolean };

/** The error of a stream that ended with status OK: etcd never ends a live watch by itself. */
const endedError = () => new Error("Unavailable: the watch stream ended");

/** See the file's comment. */
export class WatchState {
  private phase: "creating" | "watching" | "done" = "creating";
  private watchId = -1;
  /** Events of a revision etcd split into fragments, joined until the last fragment. */
  private fragments: WatchEvent[] = [];

  /** Whether the watch waits for etcd's confirmation. */
  get creating(): boolean {
    return this.phase === "creating";
  }

  /** Whether etcd confirmed the watch and it still runs. */
  get watching(): boolean {
    return this.phase === "watching";
  }

  /** The id etcd gave the watch; -1 before it confirmed. */
  get id(): number {
    return this.watchId;
  }

  /** Reads one response of the stream. */
  response(res: WatchResponse): WatchOutput[] {
    if (this.phase === "done") return [];
    const out: WatchOutput[] = [];
    if (this.phase === "creating") {
      if (!res.created) {
        // etcd answers a create before anything else on its stream; anything else is no etcd we know.
        return this.fail(new Error(`Unavailable: etcd sent a watch response before confirming the watch`));
      }
      if (res.canceled) return this.fail(new Error(res.cancelReason || "etcd refused the watch"));
      this.phase = "watching";
      this.watchId = res.watchId;
      out.push({ kind: "created", watchId: res.watchId });
      // A create carries no events; a compaction or cancel comes in a response of its own.
      return out;
    }
    if (res.watchId !== this.watchId) return out;
    if (res.events.length > 0 || res.fragment) {
      if (res.fragment) {
        for (const e of res.events) this.fragments.push(e);
      } else {
        const events = this.fragments.length > 0 ? [...this.fragments, ...res.events] : res.events;
        this.fragments = [];
        out.push({ kind: "events", events, revision: res.revision });
      }
    }
    if (res.compactRevision > 0) {
      this.phase = "done";
      out.push({ kind: "compacted", compactRevision: res.compactRevision });
    } else if (res.canceled) {
      out.push(...this.fail(new Error(res.cancelReason || "Unavailable: etcd canceled the watch")));
    }
    return out;
  }

  /** The stream ended: with an error, or (status OK) without one. */
  end(err: Error | undefined): WatchOutput[] {
    if (this.phase === "done") return [];
    return this.fail(err ?? endedError());
  }

  /** The caller cancelled: nothing more is reported. */
  cancel(): void {
    this.phase = "done";
    this.fragments = [];
  }

  private fail(error: Error): WatchOutput[] {
    const created = this.phase === "watching";
    this.phase = "done";
    this.fragments = [];
    return [{ kind: "failed", error, created }];
  }
}
