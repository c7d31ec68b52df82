/**
 * One watch on one endpoint over podnet's own transport (the h2 client's `watch`): a Watch
 * stream of its own, confirmed by `deadline` or cancelled. It never resumes by itself: when
 * its stream fails, the store sets the endpoint aside and the caller watches again from the
 * revision it really saw (lease-watch.ts), so no event comes twice and none is skipped.
 */
import { isEndpointFailure } from "../etcd-errors.js";
// etcd-store.js imports this file too; prefixEnd is a function declaration, so the cycle is harmless.
import { prefixEnd } from "../etcd-store.js";
import type { Watch, WatchEvent } from "../store.js";
import type { Liveness } from "./liveness.js";
import { type WatchEndpoint, WatchStream } from "./watch-stream.js";

/** What a watch on one endpoint reports; the store turns errors into sentences. */
export interface EndpointWatchHandlers {
  events(events: readonly WatchEvent[], revision: number): void;
  /** The revision asked for is compacted (etcd's compact revision when it said). */
  compacted(compactRevision?: number): void;
  /** The stream failed; `lost` says the endpoint did not answer and should be set aside. */
  error(err: unknown, lost: boolean): void;
}

/** How watches on an endpoint run. */
export interface EndpointWatchOptions {
  readonly liveness: Liveness;
  /** Whether calls carry an auth token ("invalid auth token" on create re-authenticates once). */
  readonly authenticated: boolean;
  /** The longest a cancel waits for etcd's answer (a frozen endpoint never gives one). */
  readonly cancelTimeoutMs: number;
}

/** Watches every key under `prefix` from `fromRevision` on `endpoint`; resolves once etcd confirms. */
export async function watchOnEndpoint(
  endpoint: WatchEndpoint,
  prefix: string,
  fromRevision: number,
  handlers: EndpointWatchHandlers,
  deadline: number,
  opts: EndpointWatchOptions,
): Promise<Watch> {
  const stream = new WatchStream(endpoint, {
    create: {
      key: Buffer.from(prefix),
      rangeEnd: prefixEnd(prefix),
      startRevision: fromRevision,
      fragment: true,
    },
    deadline,
    liveness: opts.liveness,
    authenticated: opts.authenticated,
  });
  await stream.confirmed;
  stream.adopt({
    events: (events, revision) => handlers.events(events, revision),
    compacted: (compactRevision) => handlers.compacted(compactRevision),
    failed: (err) => handlers.error(err, isEndpointFailure(err)),
  });
  return { cancel: () => stream.cancel(Date.now() + opts.cancelTimeoutMs) };
}
