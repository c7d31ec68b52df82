/**
 * One etcd endpoint over node:http2: its session (dialled on demand within the call's
 * deadline, dropped when it errors, gets GOAWAY or closes, and redialled by the next call),
 * its TLS checks (Node's: a host name is verified against its name; an IP endpoint sends no
 * SNI and is verified against its IP), and its auth token (fetched within the dial timeout,
 * fetched again once when etcd calls it invalid). A session holds the process open only while
 * a call runs on it; close() ends it at once.
 */
import { type ClientHttp2Session, connect as h2connect, type SecureClientSessionOptions } from "node:http2";
import { checkServerIdentity } from "node:tls";
import { DeadlineError } from "../endpoint-pool.js";
import { ipLiteralOf } from "../ip-literal.js";
import type { TlsMaterial } from "../tls-preflight.js";
import { AUTHENTICATE, decodeAuthenticate, encodeAuthenticate } from "./auth-messages.js";
import {
  type GrpcStream,
  joinPieces,
  type MessagePieces,
  type Metadata,
  openStream,
  type StreamHandlers,
  unary,
  unaryPieces,
} from "./grpc.js";

/** How to reach and authenticate to one endpoint. */
export interface EndpointOptions {
  /** http://host:port or https://host:port. */
  readonly url: string;
  /** TLS material for an https:// endpoint. */
  readonly tls?: TlsMaterial | undefined;
  readonly user?: { readonly username: string; readonly password: string } | undefined;
  /** The bound of each authentication (etcd3's auth deadline is the dial timeout too). */
  readonly dialTimeoutMs: number;
}

/**
 * Whether an error says the token must be fetched again: etcd's "invalid auth token" (expired
 * or revoked) or "revision of auth store is old" (users or roles changed since it was issued;
 * Go's clientv3 authenticates again on both).
 */
export const isInvalidToken = (err: unknown): boolean =>
  err instanceof Error && /invalid auth token|revision of auth store is old/i.test(err.message);

/** A session that is not yet, or no longer, usable. */
const gone = (s: ClientHttp2Session) => s.closed || s.destroyed;

/** One endpoint's session and token; see the file's comment. */
export class H2Endpoint {
  private dialing: Promise<ClientHttp2Session> | undefined;
  private live: ClientHttp2Session | undefined;
  private token: Promise<string> | undefined;
  /** Calls running on each session: a session holds the process open only while it has one. */
  private readonly active = new Map<ClientHttp2Session, number>();
  private closed = false;

  constructor(readonly opts: EndpointOptions) {}

  /** The endpoint's URL. */
  get url(): string {
    return this.opts.url;
  }

  /** Whether a session is connected now (a call would not dial). */
  get connected(): boolean {
    return this.live !== undefined && !gone(this.live);
  }

  /** A connected session (its server's HTTP/2 settings received), dialled by `deadline` if needed. */
  session(deadline: number): Promise<ClientHttp2Session> {
    if (this.closed) return Promise.reject(new Error("Unavailable: the store is closed"));
    if (this.live !== undefined && !gone(this.live)) return Promise.resolve(this.live);
    this.dialing ??= this.dial(deadline).finally(() => {
      this.dialing = undefined;
    });
    const dial = this.dialing;
    // A dial started by an earlier call keeps its own deadline; this call waits at most its own.
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new DeadlineError()), Math.max(0, deadline - Date.now()));
      timer.unref();
      dial.then(
        (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private dial(deadline: number): Promise<ClientHttp2Session> {
    const { url, tls } = this.opts;
    const options: SecureClientSessionOptions = {};
    if (tls !== undefined) {
      if (tls.ca !== undefined) options.ca = tls.ca;
      if (tls.cert !== undefined) options.cert = tls.cert;
      if (tls.key !== undefined) options.key = tls.key;
      const ip = ipLiteralOf(url);
      if (tls.insecure === true) {
        options.rejectUnauthorized = false;
        options.checkServerIdentity = () => undefined;
      } else if (ip !== undefined) {
        // Node sends no SNI for an IP (RFC 6066 allows host names only); the certificate must name the IP.
        options.checkServerIdentity = (_name, cert) => checkServerIdentity(ip, cert);
      }
    }
    return new Promise<ClientHttp2Session>((resolve, reject) => {
      const s = h2connect(url, options);
      let ready = false;
      const fail = (err: Error) => {
        clearTimeout(timer);
        if (this.live === s) this.live = undefined;
        if (!ready) {
          s.destroy();
          reject(err);
        }
      };
      // A silent listener, a handshake that never ends, an HTTP/1 server: no settings by the deadline.
      const timer = setTimeout(() => fail(new DeadlineError()), Math.max(0, deadline - Date.now()));
      timer.unref();
      s.on("error", (err) => fail(err));
      // A TLS alert after the handshake (a refused client certificate, TLS 1.3) reaches the socket
      // and not the session: end the session with it, so its calls end too.
      s.socket.on("error", (err) => {
        fail(err);
        s.destroy(err);
      });
      s.on("goaway", () => {
        if (this.live === s) this.live = undefined;
      });
      s.on("close", () => fail(new Error("Unavailable: the connection closed before it was ready")));
      s.once("remoteSettings", () => {
        clearTimeout(timer);
        if (this.closed) {
          s.destroy();
          reject(new Error("Unavailable: the store is closed"));
          return;
        }
        ready = true;
        // A new session has no call yet (a call on an older, dying one holds only that one).
        s.unref();
        this.live = s;
        resolve(s);
      });
    });
  }

  /** The auth metadata (`token`) of a call, authenticating first if needed; none without a user. */
  async metadata(deadline: number): Promise<Metadata | undefined> {
    const user = this.opts.user;
    if (user === undefined) return undefined;
    this.token ??= this.authenticate(user, Math.min(deadline, Date.now() + this.opts.dialTimeoutMs)).catch(
      (err: unknown) => {
        this.token = undefined;
        throw err;
      },
    );
    return { token: await this.token };
  }

  /** Forgets the token, so the next call authenticates again (after "invalid auth token"). */
  reauthenticate(): void {
    this.token = undefined;
  }

  private async authenticate(
    user: { username: string; password: string },
    deadline: number,
  ): Promise<string> {
    const reply = await this.run(
      (s) => unary(s, AUTHENTICATE, encodeAuthenticate(user.username, user.password), { deadline }),
      deadline,
    );
    return decodeAuthenticate(reply);
  }

  /** Runs `fn` on the session, holding the process open while it runs. */
  private async run<T>(fn: (s: ClientHttp2Session) => Promise<T>, deadline: number): Promise<T> {
    const s = await this.session(deadline);
    this.hold(s);
    try {
      return await fn(s);
    } finally {
      this.release(s);
    }
  }

  /** Calls and streams running on this endpoint's sessions: it holds the process open while any is. */
  get running(): number {
    let n = 0;
    for (const count of this.active.values()) n += count;
    return n;
  }

  private hold(s: ClientHttp2Session): void {
    const n = (this.active.get(s) ?? 0) + 1;
    this.active.set(s, n);
    if (n === 1 && !gone(s)) s.ref();
  }

  private release(s: ClientHttp2Session): void {
    const n = (this.active.get(s) ?? 1) - 1;
    if (n > 0) {
      this.active.set(s, n);
      return;
    }
    this.active.delete(s);
    if (!gone(s)) s.unref();
  }

  /**
   * Runs `fn` with the auth metadata; on "invalid auth token" the token is fetched again and
   * `fn` run once more, as etcd3 does.
   */
  async withToken<T>(deadline: number, fn: (metadata: Metadata | undefined) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.metadata(deadline));
    } catch (err) {
      if (!isInvalidToken(err) || this.opts.user === undefined) throw err;
      this.reauthenticate();
      return fn(await this.metadata(deadline));
    }
  }

  /** One unary call with the auth token (see {@link withToken}). */
  async unary(path: string, request: Buffer, deadline: number): Promise<Buffer> {
    return joinPieces(await this.unaryPieces(path, request, deadline));
  }

  /** {@link unary} with the reply as the pieces it came in (see grpc.ts's MessageDecoder). */
  unaryPieces(path: string, request: Buffer, deadline: number): Promise<MessagePieces> {
    return this.withToken(deadline, (metadata) =>
      this.run((s) => unaryPieces(s, path, request, { deadline, ...(metadata && { metadata }) }), deadline),
    );
  }

  /**
   * Opens a stream with `metadata` (by default the auth token, authenticating by `deadline`);
   * the process is held open until the stream ends.
   */
  async stream(
    path: string,
    handlers: StreamHandlers,
    deadline: number,
    metadata?: Metadata,
  ): Promise<GrpcStream> {
    const headers = metadata ?? (await this.metadata(deadline));
    const s = await this.session(deadline);
    this.hold(s);
    let released = false;
    return openStream(s, path, headers !== undefined ? { metadata: headers } : {}, {
      message: (m) => handlers.message(m),
      end: (err) => {
        if (!released) {
          released = true;
          this.release(s);
        }
        handlers.end(err);
      },
    });
  }

  /** Ends the session and every call on it now. */
  close(): void {
    this.closed = true;
    this.token = undefined;
    const s = this.live;
    this.live = undefined;
    s?.destroy();
    this.dialing?.then(
      (d) => d.destroy(),
      () => undefined,
    );
  }
}
