/**
 * gRPC over one node:http2 session: length-prefixed messages (a 1-byte compression flag and a
 * 4-byte big-endian length, split across DATA frames or several to a frame), the status in the
 * trailers or in a trailers-only reply, and HTTP-level failures (a status other than 200,
 * RST_STREAM, GOAWAY, a session error) as a {@link GrpcError} whose message etcd-errors.ts
 * recognises (`Unavailable: etcdserver: leader changed`). No protobuf here: messages are bytes.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, constants } from "node:http2";
import { DeadlineError } from "../endpoint-pool.js";

/** gRPC's status codes by number, named as grpc-js and etcd3 name them in messages. */
const CODE_NAMES = [
  "OK",
  "Cancelled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
] as const;

/** gRPC status codes podnet tells apart. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A call that ended with a gRPC status other than OK; the message reads `<CodeName>: <details>`. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${CODE_NAMES[code] ?? `Code${code}`}: ${details}`);
    this.name = "GrpcError";
  }
}

/** Request headers of a call beyond gRPC's own (etcd's auth `token`). */
export type Metadata = Readonly<Record<string, string>>;

/** What a stream reports: each reply message, then its end once (undefined for status OK). */
export interface StreamHandlers {
  message(msg: Buffer): void;
  end(err: Error | undefined): void;
}

/** A running call: request messages go in with write(), end() half-closes, cancel() resets it. */
export interface GrpcStream {
  write(msg: Buffer): void;
  end(): void;
  /** Resets the stream (NGHTTP2_CANCEL); `end` is then called with `err`, or a Cancelled error. */
  cancel(err?: Error): void;
}

/** One message as gRPC frames it: uncompressed flag, 4-byte length, bytes. */
export function frameMessage(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** A message as the pieces it came in (views of the DATA chunks, in order); see {@link MessageDecoder}. */
export type MessagePieces = readonly Buffer[];

/** A message's pieces as one buffer: the piece itself when there is one, else a copy of them joined. */
export function joinPieces(pieces: MessagePieces): Buffer {
  return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
}

/**
 * A part of a chunk shorter than this is gathered with its neighbours (up to {@link SMALL_BLOCK}
 * at a time) and copied out as one piece rather than kept as a view: a view costs ~100 bytes
 * of heap, so an endpoint sending a reply in one-byte DATA frames would otherwise make podnet
 * hold many times what it sent.
 */
const SMALL_PART = 1024;
const SMALL_BLOCK = 16 << 10;

/**
 * Reassembles length-prefixed messages from DATA chunks of any size, each message as the
 * pieces it came in: views of the chunks, never copied or joined here. So a reply of megabytes
 * is held once, as node:http2 read it (each socket read a fresh buffer, DATA chunks views of
 * it), not once as chunks waiting for the GC and again as a joined copy; a reader that wants one
 * buffer joins them ({@link joinPieces}). Parts under {@link SMALL_PART} are copied together
 * instead. Nothing is allocated from a declared length: an endpoint makes podnet hold only
 * what it really sends.
 */
export class MessageDecoder {
  /** Bytes of the next 5-byte prefix seen so far. */
  private readonly head = Buffer.alloc(5);
  private headLength = 0;
  /** The pieces of the message being read, once its prefix is in, and how many bytes they hold. */
  private pieces: Buffer[] | undefined;
  private filled = 0;
  /** The message's declared length. */
  private need = 0;
  /** Where small parts of chunks are gathered (see {@link SMALL_PART}), and how much of it is used. */
  private small: Buffer | undefined;
  private smallUsed = 0;

  constructor(private readonly onMessage: (msg: MessagePieces) => void) {}

  /** Feeds one chunk; throws a GrpcError on a compressed message (none was asked for). */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.pieces === undefined) {
        const n = Math.min(5 - this.headLength, chunk.length - at);
        chunk.copy(this.head, this.headLength, at, at + n);
        this.headLength += n;
        at += n;
        if (this.headLength < 5) return;
        if (this.head[0] !== 0)
          throw new GrpcError(GrpcStatus.INTERNAL, "compressed message without negotiation");
        const need = this.head.readUInt32BE(1);
        this.headLength = 0;
        if (chunk.length - at >= need) {
          const msg = chunk.subarray(at, at + need);
          at += need;
          this.onMessage([msg]);
          continue;
        }
        this.need = need;
        this.filled = 0;
        this.pieces = [];
      }
      const n = Math.min(this.need - this.filled, chunk.length - at);
      if (n >= SMALL_PART) {
        this.flushSmall();
        this.pieces.push(chunk.subarray(at, at + n));
      } else this.addSmall(chunk, at, n);
      this.filled += n;
      at += n;
      if (this.filled < this.need) continue;
      this.flushSmall();
      const msg = this.pieces;
      this.pieces = undefined;
      this.onMessage(msg);
    }
  }

  /** Copies a small part of a chunk into {@link small}, the decoder's own block, reused. */
  private addSmall(chunk: Buffer, at: number, n: number): void {
    if (SMALL_BLOCK - this.smallUsed < n) this.flushSmall();
    this.small ??= Buffer.allocUnsafe(SMALL_BLOCK);
    chunk.copy(this.small, this.smallUsed, at, at + n);
    this.smallUsed += n;
  }

  /** Ends the small parts gathered so far as a piece (a copy of them), in its place among the pieces. */
  private flushSmall(): void {
    if (this.smallUsed === 0 || this.small === undefined) return;
    this.pieces?.push(Buffer.from(this.small.subarray(0, this.smallUsed)));
    this.smallUsed = 0;
  }

  /** Whether a message was cut off by the end of the stream. */
  get partial(): boolean {
    return this.headLength > 0 || this.pieces !== undefined;
  }
}

/** The status of an HTTP reply that is not 200, as grpc-js maps it. */
function httpStatusError(status: number): GrpcError {
  const code =
    status === 400
      ? GrpcStatus.INTERNAL
      : status === 401
        ? GrpcStatus.UNAUTHENTICATED
        : status === 403
          ? GrpcStatus.PERMISSION_DENIED
          : status === 404
            ? GrpcStatus.UNIMPLEMENTED
            : status === 429 || status === 502 || status === 503 || status === 504
              ? GrpcStatus.UNAVAILABLE
              : GrpcStatus.UNKNOWN;
  return new GrpcError(code, `Received HTTP status code ${status}`);
}

/** A stream reset by the server (or by nghttp2) without a gRPC status. */
function rstError(rstCode: number): GrpcError {
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) {
    return new GrpcError(GrpcStatus.UNAVAILABLE, "Stream refused by server");
  }
  if (rstCode === constants.NGHTTP2_CANCEL) return new GrpcError(GrpcStatus.CANCELLED, "Call cancelled");
  if (rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM) {
    return new GrpcError(GrpcStatus.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
  }
  // A protocol error or an internal one: the endpoint is no etcd podnet can talk to; try another.
  return new GrpcError(GrpcStatus.UNAVAILABLE, `Received RST_STREAM with code ${rstCode}`);
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The status in headers or trailers, when there is one. */
function statusOf(headers: Record<string, string | string[] | undefined>): Error | undefined | null {
  const raw = headers["grpc-status"];
  if (raw === undefined) return null;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isInteger(code))
    return new GrpcError(GrpcStatus.UNKNOWN, `malformed grpc-status ${String(raw)}`);
  return code === GrpcStatus.OK ? undefined : new GrpcError(code, decodeGrpcMessage(headers["grpc-message"]));
}

/**
 * Opens a call on `session` to `path` (`/etcdserverpb.Watch/Watch`). Each reply message goes to
 * `handlers.message`; `handlers.end` runs once, with undefined when the server's status is OK
 * and an Error otherwise (a GrpcError, or the session's own error). Nothing is retried here.
 */
export function openStream(
  session: ClientHttp2Session,
  path: string,
  opts: { readonly metadata?: Metadata },
  handlers: StreamHandlers,
): GrpcStream {
  return openCall(session, path, opts, {
    message: (pieces) => handlers.message(joinPieces(pieces)),
    end: (err) => handlers.end(err),
  });
}

/** {@link openStream} with each reply message as its pieces. */
function openCall(
  session: ClientHttp2Session,
  path: string,
  opts: { readonly metadata?: Metadata },
  handlers: {
    message(msg: MessagePieces): void;
    end(err: Error | undefined): void;
  },
): GrpcStream {
  let done = false;
  let status: Error | undefined | null = null;
  let failure: Error | undefined;
  const finish = (err: Error | undefined) => {
    if (done) return;
    done = true;
    handlers.end(err);
  };
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(
      {
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
        te: "trailers",
        ...opts.metadata,
      },
      { endStream: false },
    );
  } catch (err) {
    // A session that is closing or destroyed: nothing was sent.
    const e = new GrpcError(GrpcStatus.UNAVAILABLE, `no connection: ${(err as Error).message}`);
    queueMicrotask(() => finish(e));
    return { write: () => undefined, end: () => undefined, cancel: () => undefined };
  }
  const decoder = new MessageDecoder((msg) => {
    if (!done && failure === undefined) handlers.message(msg);
  });
  stream.on("response", (headers) => {
    const code = Number(headers[constants.HTTP2_HEADER_STATUS]);
    if (code !== 200) {
      failure ??= httpStatusError(code);
      stream.close(constants.NGHTTP2_CANCEL);
      return;
    }
    const type = String(headers[constants.HTTP2_HEADER_CONTENT_TYPE] ?? "");
    if (!type.startsWith("application/grpc")) {
      failure ??= new GrpcError(GrpcStatus.UNKNOWN, `Received HTTP reply of content-type "${type}"`);
      stream.close(constants.NGHTTP2_CANCEL);
      return;
    }
    // Trailers-only: an error (or an empty OK) in the reply's only headers.
    const s = statusOf(headers);
    if (s !== null) status = s;
  });
  stream.on("trailers", (trailers) => {
    const s = statusOf(trailers);
    status = s === null ? new GrpcError(GrpcStatus.UNKNOWN, "trailers without grpc-status") : s;
  });
  stream.on("data", (chunk: Buffer) => {
    if (failure !== undefined) return;
    try {
      decoder.push(chunk);
    } catch (err) {
      failure = err as Error;
      stream.close(constants.NGHTTP2_CANCEL);
    }
  });
  stream.on("error", (err: Error) => {
    // A session error or GOAWAY ends its streams with it; keep the first cause.
    failure ??=
      (err as NodeJS.ErrnoException).code === "ERR_HTTP2_STREAM_ERROR"
        ? rstError(stream.rstCode ?? constants.NGHTTP2_INTERNAL_ERROR)
        : new GrpcError(GrpcStatus.UNAVAILABLE, err.message);
  });
  stream.on("close", () => {
    if (failure !== undefined) return finish(failure);
    if (status !== null) {
      if (status === undefined && decoder.partial) {
        return finish(new GrpcError(GrpcStatus.INTERNAL, "the reply ended inside a message"));
      }
      return finish(status);
    }
    const rst = stream.rstCode;
    // A session that closed (GOAWAY, a reset connection) ends its streams with NGHTTP2_CANCEL.
    const sessionGone = session.closed || session.destroyed;
    finish(
      rst !== undefined && rst !== constants.NGHTTP2_NO_ERROR && !sessionGone
        ? rstError(rst)
        : new GrpcError(
            GrpcStatus.UNAVAILABLE,
            "the connection closed before the call's status (GOAWAY or reset)",
          ),
    );
  });
  // The reply is read as it comes; a paused stream would hold etcd's flow control window.
  stream.resume();
  return {
    write: (msg) => {
      if (!done && !stream.destroyed) stream.write(frameMessage(msg));
    },
    end: () => {
      if (!stream.destroyed) stream.end();
    },
    cancel: (err) => {
      failure ??= err ?? new GrpcError(GrpcStatus.CANCELLED, "Call cancelled");
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    },
  };
}

/**
 * One request, one reply: the reply's message bytes, or a rejection with the call's status.
 * At `deadline` the stream is cancelled (NGHTTP2_CANCEL) and the call rejects with a
 * DeadlineError, as endpoint-pool's deadlines do.
 */
export async function unary(
  session: ClientHttp2Session,
  path: string,
  request: Buffer,
  opts: { readonly deadline: number; readonly metadata?: Metadata },
): Promise<Buffer> {
  return joinPieces(await unaryPieces(session, path, request, opts));
}

/** {@link unary} with the reply as the pieces it came in (for a reply of megabytes, read in place). */
export function unaryPieces(
  session: ClientHttp2Session,
  path: string,
  request: Buffer,
  opts: { readonly deadline: number; readonly metadata?: Metadata },
): Promise<MessagePieces> {
  return new Promise<MessagePieces>((resolve, reject) => {
    let reply: MessagePieces | undefined;
    let extra = false;
    const stream = openCall(session, path, opts.metadata !== undefined ? { metadata: opts.metadata } : {}, {
      message: (msg) => {
        if (reply === undefined) reply = msg;
        else extra = true;
      },
      end: (err) => {
        clearTimeout(timer);
        if (err !== undefined) reject(err);
        else if (reply === undefined) reject(new GrpcError(GrpcStatus.UNIMPLEMENTED, "no reply message"));
        else if (extra) reject(new GrpcError(GrpcStatus.UNIMPLEMENTED, "more than one reply message"));
        else resolve(reply);
      },
    });
    const timer = setTimeout(
      () => stream.cancel(new DeadlineError()),
      Math.max(0, opts.deadline - Date.now()),
    );
    timer.unref();
    stream.write(request);
    stream.end();
  });
}
