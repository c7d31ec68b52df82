/**
 * One etcd watch on one endpoint: its own Watch stream on the endpoint's session, confirmed
 * by `deadline` or cancelled, kept honest by pings (liveness.ts), never resumed by itself
 * (watch-state.ts). What it hears between etcd's confirmation and its adoption (events in the
 * same chunk as the confirmation) is queued and handed over in order; one never adopted is
 * cancelled without a word reaching anyone (the store's WatchAttempts sees to it).
 */
import type { ClientHttp2Session } from "node:http2";
import { DeadlineError } from "../endpoint-pool.js";
import type { WatchEvent } from "../store.js";
import { isInvalidToken } from "./endpoint.js";
import type { GrpcStream, StreamHandlers } from "./grpc.js";
import { keepAlive, type Liveness } from "./liveness.js";
import {
  decodeWatchResponse,
  encodeWatchCancel,
  encodeWatchCreate,
  type WatchCreate,
} from "./watch-messages.js";
import { type WatchOutput, WatchState } from "./watch-state.js";

/** etcd's Watch method. */
export const WATCH = "/etcdserverpb.Watch/Watch";

/** What a watch needs of an endpoint (h2/endpoint.ts's H2Endpoint has it). */
export interface WatchEndpoint {
  readonly url: string;
  session(deadline: number): Promise<ClientHttp2Session>;
  stream(path: string, handlers: StreamHandlers, deadline: number): Promise<GrpcStream>;
  reauthenticate(): void;
}

/** What the adopted watch reports; errors are etcd's or the transport's, untranslated. */
export interface WatchSink {
  events(events: readonly WatchEvent[], revision: number): void;
  compacted(compactRevision: number): void;
  failed(err: Error): void;
}

/** How one watch stream runs. */
export interface WatchStreamOptions {
  readonly create: WatchCreate;
  /** etcd must confirm the watch by then. */
  readonly deadline: number;
  readonly liveness: Liveness;
  /** Whether calls carry an auth token (then "invalid auth token" re-authenticates once). */
  readonly authenticated: boolean;
}

/** See the file's comment. */
export class WatchStream {
  /** Resolves when etcd confirmed the watch; rejects with the reason it will not be. */
  readonly confirmed: Promise<void>;
  private resolveConfirmed!: () => void;
  private rejectConfirmed!: (err: Error) => void;
  private state = new WatchState();
  private stream: GrpcStream | undefined;
  private sink: WatchSink | undefined;
  private readonly queue: WatchOutput[] = [];
  private cancelled = false;
  private ended = false;
  private readonly endedWaiters: (() => void)[] = [];
  private reauthenticated = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly endpoint: WatchEndpoint,
    private readonly opts: WatchStreamOptions,
  ) {
    this.confirmed = new Promise<void>((resolve, reject) => {
      this.resolveConfirmed = resolve;
      this.rejectConfirmed = reject;
    });
    // Handled here: the caller may have stopped listening (its call gave up) before this settles.
    this.confirmed.catch(() => undefined);
    this.timer = setTimeout(() => this.giveUp(new DeadlineError()), Math.max(0, opts.deadline - Date.now()));
    this.timer.unref();
    void this.open();
  }

  /** The endpoint the watch runs on. */
  get url(): string {
    return this.endpoint.url;
  }

  /** Opens the stream and sends the create request (again after a re-authentication). */
  private async open(): Promise<void> {
    const { deadline } = this.opts;
    const state = this.state;
    let finished = false;
    let release: (() => void) | undefined;
    const handlers: StreamHandlers = {
      message: (msg) => {
        if (state === this.state) this.message(state, msg);
      },
      end: (err) => {
        finished = true;
        release?.();
        release = undefined;
        if (state === this.state) this.streamEnded(state, err);
      },
    };
    let stream: GrpcStream | undefined;
    let session: ClientHttp2Session;
    try {
      stream = await this.endpoint.stream(WATCH, handlers, deadline);
      // The live session now is the one the stream opened on (a dead one would have ended it).
      session = await this.endpoint.session(deadline);
    } catch (err) {
      stream?.cancel();
      if (state === this.state) this.giveUp(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (finished) return;
    if (this.cancelled || this.state !== state || !state.creating) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.ended = false;
    release = keepAlive(session, this.opts.liveness);
    stream.write(encodeWatchCreate(this.opts.create));
  }

  private message(state: WatchState, msg: Buffer): void {
    let res: ReturnType<typeof decodeWatchResponse>;
    try {
      res = decodeWatchResponse(msg);
    } catch (err) {
      this.stream?.cancel();
      this.act(state.end(err as Error));
      return;
    }
    if (this.cancelled) {
      // The answer to our cancel_request: the watch is gone, the stream may go too.
      if (res.canceled) this.stream?.cancel();
      return;
    }
    this.act(state.response(res));
  }

  private streamEnded(state: WatchState, err: Error | undefined): void {
    this.ended = true;
    for (const wake of this.endedWaiters.splice(0)) wake();
    this.act(state.end(err));
  }

  private act(outputs: readonly WatchOutput[]): void {
    for (const out of outputs) {
      if (out.kind === "created") {
        clearTimeout(this.timer);
        this.resolveConfirmed();
        continue;
      }
      if (out.kind === "failed" && !out.created) {
        this.stream?.cancel();
        if (
          this.opts.authenticated &&
          !this.reauthenticated &&
          !this.cancelled &&
          isInvalidToken(out.error) &&
          Date.now() < this.opts.deadline
        ) {
          // An expired token: fetch another and ask again, once.
          this.reauthenticated = true;
          this.endpoint.reauthenticate();
          this.state = new WatchState();
          void this.open();
          continue;
        }
        clearTimeout(this.timer);
        this.rejectConfirmed(out.error);
        continue;
      }
      // A watch that is over closes its stream: etcd keeps a stream open until the client resets it.
      if (out.kind !== "events") this.stream?.cancel();
      if (this.sink !== undefined) this.deliver(this.sink, out);
      else this.queue.push(out);
    }
  }

  private deliver(sink: WatchSink, out: WatchOutput): void {
    if (out.kind === "events") sink.events(out.events, out.revision);
    else if (out.kind === "compacted") sink.compacted(out.compactRevision);
    else if (out.kind === "failed") sink.failed(out.error);
  }

  /** Ends an unconfirmed watch with `err` (its deadline, a failed dial). */
  private giveUp(err: Error): void {
    if (this.state.watching) return;
    const outputs = this.state.end(err);
    this.stream?.cancel();
    this.act(outputs);
  }

  /** Starts reporting to `sink`: first what was heard since the confirmation, then as it comes. */
  adopt(sink: WatchSink): void {
    if (this.cancelled) return;
    this.sink = sink;
    for (const out of this.queue.splice(0)) {
      if (this.cancelled) return;
      this.deliver(sink, out);
    }
  }

  /**
   * Stops the watch: nothing more is reported. A confirmed watch is cancelled on etcd
   * (cancel_request) and its stream reset once etcd confirms, or at `deadline` at the latest.
   */
  async cancel(deadline: number): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.sink = undefined;
    this.queue.length = 0;
    clearTimeout(this.timer);
    const watching = this.state.watching;
    const id = this.state.id;
    this.state.cancel();
    this.rejectConfirmed(new Error("Cancelled: the watch was cancelled"));
    const stream = this.stream;
    if (stream === undefined || this.ended) return;
    if (!watching) {
      stream.cancel();
      return;
    }
    stream.write(encodeWatchCancel(id));
    const ended = new Promise<void>((resolve) => this.endedWaiters.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      timer.unref();
    });
    await Promise.race([ended, late]);
    clearTimeout(timer);
    // A frozen endpoint never confirms the cancel: the stream is reset anyway.
    stream.cancel();
  }
}
