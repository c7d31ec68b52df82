import { once } from "node:events";
import {
  type ClientHttp2Session,
  connect,
  constants,
  createServer,
  type Http2Server,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DeadlineError } from "../endpoint-pool.js";
import { frameMessage, GrpcError, joinPieces, MessageDecoder, openStream, unary } from "./grpc.js";

let server: Http2Server | undefined;
let session: ClientHttp2Session | undefined;

afterEach(async () => {
  session?.destroy();
  session = undefined;
  if (server !== undefined) {
    const s = server;
    server = undefined;
    await new Promise((r) => s.close(r));
  }
});

/** A local HTTP/2 server whose every stream `handle` answers; returns a connected session. */
async function serve(handle: (stream: ServerHttp2Stream, body: Buffer) => void): Promise<ClientHttp2Session> {
  server = createServer();
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => handle(stream, Buffer.concat(chunks)));
    stream.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  session = connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  return session;
}

const okHeaders = { ":status": 200, "content-type": "application/grpc" };
const deadline = () => Date.now() + 5000;

describe("MessageDecoder", () => {
  it("joins a message split across chunks and splits several in one chunk", () => {
    const got: string[] = [];
    const d = new MessageDecoder((m) => got.push(joinPieces(m).toString()));
    const all = Buffer.concat([
      frameMessage(Buffer.from("hello")),
      frameMessage(Buffer.from("")),
      frameMessage(Buffer.from("world!")),
    ]);
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    expect(got).toEqual(["hello", "", "world!"]);
    expect(d.partial).toBe(false);
    d.push(frameMessage(Buffer.from("cut")).subarray(0, 6));
    expect(d.partial).toBe(true);
  });

  it("gives the same messages whatever the chunk size", () => {
    const msgs = ["a", "", "x".repeat(70_000), "tail", ""].map((t) => Buffer.from(t));
    const all = Buffer.concat(msgs.map(frameMessage));
    for (const size of [1, 2, 4, 5, 6, 7, 16_384, 70_004, 70_010, all.length]) {
      const got: Buffer[] = [];
      const d = new MessageDecoder((m) => got.push(Buffer.from(joinPieces(m))));
      for (let i = 0; i < all.length; i += size) d.push(all.subarray(i, i + size));
      expect(
        got.map((m) => m.toString()),
        `chunks of ${size}`,
      ).toEqual(msgs.map((m) => m.toString()));
      expect(d.partial).toBe(false);
    }
  });

  it("gives a message split across chunks as views of them, in order, and holds only what came", () => {
    const got: (readonly Buffer[])[] = [];
    const d = new MessageDecoder((m) => got.push(m));
    const body = Buffer.alloc(5000, 7);
    body.write("first", 0);
    body.write("last", 4996);
    const framed = Buffer.concat([frameMessage(body), frameMessage(Buffer.from("next"))]);
    const chunks: Buffer[] = [];
    for (let at = 0; at < framed.length; at += 1250) chunks.push(Buffer.from(framed.subarray(at, at + 1250)));
    for (const c of chunks) d.push(c);
    expect(got.map((m) => joinPieces(m))).toEqual([body, Buffer.from("next")]);
    // Each piece is a view of the chunk it came in: nothing copied.
    const first = got[0] as readonly Buffer[];
    expect(first).toHaveLength(Math.ceil((5 + 5000) / 1250));
    for (const [i, piece] of first.entries()) expect(piece.buffer).toBe((chunks[i] as Buffer).buffer);
    // A prefix claiming 4 GiB, then a few bytes: only those few are held.
    const before = process.memoryUsage().arrayBuffers;
    const lie = Buffer.alloc(5 + 10);
    lie.writeUInt32BE(0xffffffff, 1);
    const liar = new MessageDecoder(() => undefined);
    liar.push(lie);
    expect(liar.partial).toBe(true);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(100 << 20);
  });

  it("copies small parts together, so tiny DATA frames are not held as one view each", () => {
    const body = Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
    const framed = frameMessage(body);
    // One-byte chunks: 40,005 parts, held as a few 16 KiB blocks.
    const tiny: (readonly Buffer[])[] = [];
    const d = new MessageDecoder((m) => tiny.push(m));
    for (let at = 0; at < framed.length; at++) d.push(framed.subarray(at, at + 1));
    expect(tiny).toHaveLength(1);
    expect(joinPieces(tiny[0] as readonly Buffer[])).toEqual(body);
    expect((tiny[0] as readonly Buffer[]).length).toBeLessThanOrEqual(4);
    // Small and large parts mixed, in every order: the bytes stay in order.
    for (const sizes of [
      [1, 2000, 3, 1500, 700],
      [1023, 1024, 1, 1025],
      [5, 17_000, 2, 2, 20_000],
    ]) {
      const got: (readonly Buffer[])[] = [];
      const m = new MessageDecoder((msg) => got.push(msg));
      for (let at = 0, k = 0; at < framed.length; k++) {
        const n = sizes[k % sizes.length] as number;
        m.push(Buffer.from(framed.subarray(at, at + n)));
        at += n;
      }
      expect(
        got.map((msg) => joinPieces(msg)),
        String(sizes),
      ).toEqual([body]);
      expect(m.partial).toBe(false);
    }
  });

  it("refuses a compressed message", () => {
    const d = new MessageDecoder(() => undefined);
    expect(() => d.push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(GrpcError);
  });
});

describe("unary", () => {
  it("echoes a request whose reply comes in many small DATA frames, status in trailers", async () => {
    const s = await serve((stream, body) => {
      const req = body.subarray(5);
      const reply = frameMessage(Buffer.concat([Buffer.from("re:"), req]));
      stream.respond(okHeaders, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      for (let i = 0; i < reply.length; i += 2) stream.write(reply.subarray(i, i + 2));
      stream.end();
    });
    const out = await unary(s, "/x.Y/Z", Buffer.from("ping"), { deadline: deadline() });
    expect(out.toString()).toBe("re:ping");
  });

  it("sends gRPC headers and the metadata", async () => {
    let seen: Record<string, unknown> = {};
    const s = await serve((stream) => {
      stream.respond({ ...okHeaders, "grpc-status": "0" }, { endStream: true });
    });
    server?.once("stream", (_st, headers) => {
      seen = headers;
    });
    await expect(
      unary(s, "/x.Y/Z", Buffer.from(""), { deadline: deadline(), metadata: { token: "abc" } }),
    ).rejects.toThrow(/no reply message/);
    expect(seen[":path"]).toBe("/x.Y/Z");
    expect(seen["content-type"]).toBe("application/grpc");
    expect(seen["te"]).toBe("trailers");
    expect(seen["token"]).toBe("abc");
  });

  it("reports a trailers-only error with its percent-encoded message as <Code>: <message>", async () => {
    const s = await serve((stream) => {
      stream.respond(
        { ...okHeaders, "grpc-status": "14", "grpc-message": "etcdserver:%20leader%20changed" },
        { endStream: true },
      );
    });
    const err = await unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: deadline() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect((err as GrpcError).message).toBe("Unavailable: etcdserver: leader changed");
    expect((err as GrpcError).code).toBe(14);
  });

  it("reports an error status in the trailers after a message", async () => {
    const s = await serve((stream) => {
      stream.respond(okHeaders, { waitForTrailers: true });
      stream.on("wantTrailers", () =>
        stream.sendTrailers({ "grpc-status": "16", "grpc-message": "etcdserver: invalid auth token" }),
      );
      stream.end(frameMessage(Buffer.from("x")));
    });
    await expect(unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: deadline() })).rejects.toThrow(
      "Unauthenticated: etcdserver: invalid auth token",
    );
  });

  it("reports an HTTP status other than 200", async () => {
    const s = await serve((stream) => stream.respond({ ":status": 404 }, { endStream: true }));
    await expect(unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: deadline() })).rejects.toThrow(
      /Unimplemented: Received HTTP status code 404/,
    );
  });

  it("reports a reset stream", async () => {
    const s = await serve((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    await expect(unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: deadline() })).rejects.toThrow(
      /Unavailable: Stream refused/,
    );
  });

  it("reports a GOAWAY that ends the stream", async () => {
    const s = await serve((stream) => stream.session?.destroy(undefined, constants.NGHTTP2_PROTOCOL_ERROR));
    const err = await unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: deadline() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect((err as GrpcError).message).toMatch(/^Unavailable: /);
  });

  it("cancels the stream at the deadline and rejects with a DeadlineError", async () => {
    const s = await serve((stream) => stream.respond(okHeaders));
    // Taken when the stream opens, not when its request ends: on a slow host the deadline may come first.
    const cancelled = new Promise<number | undefined>((resolve) =>
      server?.once("stream", (stream) => stream.on("close", () => resolve(stream.rstCode))),
    );
    const err = await unary(s, "/x.Y/Z", Buffer.from("a"), { deadline: Date.now() + 200 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeadlineError);
    expect(await cancelled).toBe(constants.NGHTTP2_CANCEL);
  });
});

describe("openStream", () => {
  it("carries several messages each way and ends with the status", async () => {
    server = createServer();
    server.on("stream", (stream) => {
      stream.respond(okHeaders, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const d = new MessageDecoder((pieces) => {
        const m = joinPieces(pieces).toString();
        // Two replies per request, in one write.
        stream.write(
          Buffer.concat([frameMessage(Buffer.from(`${m}-1`)), frameMessage(Buffer.from(`${m}-2`))]),
        );
      });
      stream.on("data", (c: Buffer) => d.push(c));
      stream.on("end", () => stream.end());
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const got: string[] = [];
    const ended = new Promise<Error | undefined>((resolve) => {
      const st = openStream(
        session as ClientHttp2Session,
        "/x.Y/W",
        {},
        {
          message: (m) => {
            got.push(m.toString());
            if (got.length === 2) st.write(Buffer.from("b"));
            if (got.length === 4) st.end();
          },
          end: resolve,
        },
      );
      st.write(Buffer.from("a"));
    });
    expect(await ended).toBeUndefined();
    expect(got).toEqual(["a-1", "a-2", "b-1", "b-2"]);
  });

  it("cancel() resets the stream and ends it with Cancelled", async () => {
    let rst: Promise<number> | undefined;
    server = createServer();
    server.on("stream", (stream) => {
      stream.respond(okHeaders);
      rst = new Promise((r) => stream.on("close", () => r(stream.rstCode)));
      stream.on("error", () => undefined);
      stream.write(frameMessage(Buffer.from("first")));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const ended = new Promise<Error | undefined>((resolve) => {
      const st = openStream(
        session as ClientHttp2Session,
        "/x.Y/W",
        {},
        {
          message: () => st.cancel(),
          end: resolve,
        },
      );
    });
    expect((await ended)?.message).toBe("Cancelled: Call cancelled");
    expect(await rst).toBe(constants.NGHTTP2_CANCEL);
  });
});
