/**
 * Finds a frozen etcd member out under an open watch: an HTTP/2 PING on the session every
 * `intervalMs` while a watch stream is open on it; a ping not answered within `timeoutMs`
 * destroys the session, which ends every stream on it with an Unavailable error (grpc-js does
 * the same with the keepalive settings podnet gave it). One pinger per session, however many
 * watches share it: etcd answers pings more often than every 5 s with GOAWAY, and pings
 * without an open stream count against the client too.
 */
import type { ClientHttp2Session } from "node:http2";

/** How often to ping and how long to wait for the answer. */
export interface Liveness {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * How a watch's connection is kept honest, on both transports (grpc-js's keepalive takes the
 * same): a ping every 10 s, answered within min(10 s, max(1 s, dial timeout)).
 */
export function livenessFor(dialTimeoutMs: number): Liveness {
  return { intervalMs: 10_000, timeoutMs: Math.min(10_000, Math.max(1000, dialTimeoutMs)) };
}

class Pinger {
  users = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiting = false;

  constructor(
    private readonly session: ClientHttp2Session,
    private readonly liveness: Liveness,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.ping(), this.liveness.intervalMs);
    // The streams hold the process open, not their pings.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private ping(): void {
    const s = this.session;
    if (this.waiting || s.destroyed || s.closed) return;
    this.waiting = true;
    const { timeoutMs } = this.liveness;
    const fail = (why: string) => {
      if (!s.destroyed) s.destroy(new Error(`Unavailable: ${why}`));
    };
    const timer = setTimeout(() => {
      this.waiting = false;
      fail(`etcd did not answer a keepalive ping within ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();
    try {
      s.ping((err) => {
        clearTimeout(timer);
        this.waiting = false;
        if (err !== null && !s.destroyed && !s.closed) fail(`keepalive ping failed: ${err.message}`);
      });
    } catch {
      // A session closing under us: its streams end by themselves.
      clearTimeout(timer);
      this.waiting = false;
    }
  }
}

const pingers = new WeakMap<ClientHttp2Session, Pinger>();

/** Pings `session` while at least one caller holds it; the returned function lets go (once). */
export function keepAlive(session: ClientHttp2Session, liveness: Liveness): () => void {
  let pinger = pingers.get(session);
  if (pinger === undefined) {
    pinger = new Pinger(session, liveness);
    pingers.set(session, pinger);
  }
  const p = pinger;
  if (p.users++ === 0) p.start();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--p.users === 0) p.stop();
  };
}
