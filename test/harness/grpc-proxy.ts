/**
 * A gRPC proxy in front of one etcd member, on loopback, that can lose answers: it ends the
 * client's HTTP/2 and opens its own to the member, so it sees each call's method. It forwards
 * every call unless told otherwise; a {@link LostReplies} rule makes it forward a call and drop
 * the member's reply (the write commits, the client never hears of it), and {@link GrpcProxy.hold}
 * makes it neither forward nor answer new calls (a frozen member, for this endpoint only).
 * Any gRPC client works through it: etcd3's grpc-js and podnet's own HTTP/2 transport alike.
 */
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  createServer,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { listen } from "./sick-endpoints.js";

/** Which calls lose their reply: the next `count` calls of `method` (a gRPC path), over every proxy sharing it. */
export class LostReplies {
  /** The methods whose reply was dropped, once the member's whole reply had come. */
  readonly lost: string[] = [];
  private left: number;

  constructor(
    /** e.g. `/etcdserverpb.KV/Txn`. */
    readonly method: string,
    count = 1,
  ) {
    this.left = count;
  }

  /** Whether a call of `path` is to lose its reply (counts it when so). */
  take(path: string): boolean {
    if (path !== this.method || this.left <= 0) return false;
    this.left--;
    return true;
  }
}

/** etcd's gRPC methods the tests name. */
export const GRPC = {
  txn: "/etcdserverpb.KV/Txn",
  range: "/etcdserverpb.KV/Range",
  revoke: "/etcdserverpb.Lease/LeaseRevoke",
  grant: "/etcdserverpb.Lease/LeaseGrant",
} as const;

/** A running proxy. */
export interface GrpcProxy {
  /** `http://127.0.0.1:PORT`, to pass as an endpoint. */
  readonly url: string;
  /** The method of every call that came in, in order. */
  readonly calls: readonly string[];
  /** How many calls were held (never forwarded, never answered). */
  readonly held: number;
  /** New calls are neither forwarded nor answered until {@link forward}. */
  hold(): void;
  /** New calls are forwarded again. */
  forward(): void;
  close(): Promise<void>;
}

const PSEUDO = /^:/;

function plain(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!PSEUDO.test(k) && v !== undefined) out[k] = v;
  return out;
}

/** Starts a proxy on 127.0.0.1 to the member at `target` (an `http://` client URL). */
export async function grpcProxy(
  target: string,
  opts: {
    lose?: LostReplies;
    /** Awaited before a call of `path` is forwarded (the call waits; a failure refuses it): e.g. compact etcd between two reads. */
    before?: (path: string) => Promise<void> | undefined;
  } = {},
): Promise<GrpcProxy> {
  const calls: string[] = [];
  const streams = new Set<ServerHttp2Stream>();
  let holding = false;
  let held = 0;
  let upstream: ClientHttp2Session | undefined;
  const member = (): ClientHttp2Session => {
    if (upstream === undefined || upstream.closed || upstream.destroyed) {
      const s = connect(target);
      s.on("error", () => undefined);
      s.on("close", () => {
        if (upstream === s) upstream = undefined;
      });
      upstream = s;
    }
    return upstream;
  };
  const server = createServer();
  server.on("session", (s) => s.on("error", () => undefined));
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const path = String(headers[":path"] ?? "");
    calls.push(path);
    streams.add(stream);
    stream.on("error", () => undefined);
    stream.on("close", () => streams.delete(stream));
    if (holding) {
      held++;
      stream.pause();
      return;
    }
    const waiting = opts.before?.(path);
    if (waiting === undefined) pass(stream, path, headers);
    else {
      stream.pause();
      waiting.then(
        () => pass(stream, path, headers),
        () => stream.close(constants.NGHTTP2_REFUSED_STREAM),
      );
    }
  });
  /** Forwards one call to the member and its reply back (or drops the reply, when it is to be lost). */
  const pass = (stream: ServerHttp2Stream, path: string, headers: IncomingHttpHeaders): void => {
    if (stream.closed) return;
    let out: ClientHttp2Stream;
    try {
      out = member().request({ ":method": "POST", ":path": path, ...plain(headers) });
    } catch {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    out.on("error", () => {
      if (!stream.closed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    stream.on("close", () => {
      if (!out.closed) out.close(constants.NGHTTP2_CANCEL);
    });
    stream.pipe(out);
    const lose = opts.lose?.take(path) ?? false;
    if (lose) {
      // The member answers; nobody hears it. The client gives up at its deadline.
      out.resume();
      out.on("end", () => opts.lose?.lost.push(path));
      return;
    }
    let trailers: OutgoingHttpHeaders = {};
    out.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = plain(t);
    });
    out.on("response", (h: IncomingHttpHeaders, flags: number) => {
      if (stream.closed) return;
      const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(
        { ":status": h[":status"] ?? 200, ...plain(h) },
        { endStream, waitForTrailers: !endStream },
      );
      if (endStream) return;
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      out.pipe(stream);
    });
  };
  const ep = await listen(server);
  return {
    url: `http://${ep.endpoint}`,
    calls,
    get held() {
      return held;
    },
    hold: () => {
      holding = true;
    },
    forward: () => {
      holding = false;
    },
    close: async () => {
      for (const s of streams) s.close(constants.NGHTTP2_CANCEL);
      upstream?.destroy();
      await ep.close();
    },
  };
}
