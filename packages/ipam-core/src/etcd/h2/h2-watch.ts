/**
 * One watch on one endpoint over podnet's own transport (the h2 client's `watch`): a Watch
 * stream of its own, confirmed by `deadline` or cancelled. It never resumes by itself: when
 * its stream fails, the store sets the endpoint aside and the caller watches again from the
 * revision it really saw (lease-watch.ts), so no event comes twice and none is skipped.
 */

import type { ClientWatchHandlers, WatchStart } from "../etcd-client.js";
import { isEndpointFailure } from "../etcd-errors.js";
// etcd-store.js imports this file too; prefixEnd is a function declaration, so the cycle is harmless.
import { prefixEnd } from "../etcd-store.js";
import type { Watch } from "../store.js";
import type { Liveness } from "./liveness.js";
import { type WatchEndpoint, WatchStream } from "./watch-stream.js";

/** How watches on an endpoint run. */
export interface EndpointWatchOptions {
  readonly liveness: Liveness;
  /** Whether calls carry an auth token ("invalid auth token" on create re-authenticates once). */
  readonly authenticated: boolean;
  /** The longest a cancel waits for etcd's answer (a frozen endpoint never gives one). */
  readonly cancelTimeoutMs: number;
}

/**
 * Watches every key under `prefix` from `fromRevision` on `endpoint`; resolves once etcd
 * confirms. The stream is in `running` for as long as it may report (so a closing client can
 * silence it).
 */
export async function watchOnEndpoint(
  endpoint: WatchEndpoint,
  { prefix, fromRevision }: WatchStart,
  handlers: ClientWatchHandlers,
  deadline: number,
  opts: EndpointWatchOptions,
  running: Set<WatchStream> = new Set(),
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
  running.add(stream);
  stream.adopt({
    events: (events, revision) => handlers.events(events, revision),
    compacted: (compactRevision) => {
      running.delete(stream);
      handlers.compacted(compactRevision);
    },
    failed: (err) => {
      running.delete(stream);
      handlers.error(err, isEndpointFailure(err));
    },
  });
  return {
    cancel: () => {
      running.delete(stream);
      return stream.cancel(Date.now() + opts.cancelTimeoutMs);
    },
  };
}
