/**
 * Endpoints that misbehave the ways a sick etcd does, on loopback only: a listener that
 * accepts and never answers (plain or TLS clients alike), a TLS server whose handshake waits,
 * an HTTP/1 server, and freezing a real member with SIGSTOP.
 */

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import type { EtcdMember } from "./etcd.js";

/** A listener on 127.0.0.1; `endpoint` is host:port. */
export interface SickEndpoint {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Listens on a free port of 127.0.0.1; `close` destroys every connection still open, then closes. */
export function listen(server: Server, sockets = new Set<Socket>()): Promise<SickEndpoint> {
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") return reject(new Error("no port"));
      resolve({
        endpoint: `127.0.0.1:${addr.port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Accepts TCP connections and never writes a byte (a TLS client waits for its ServerHello forever). */
export function silentListener(): Promise<SickEndpoint> {
  const sockets = new Set<Socket>();
  return listen(
    createNetServer((s) => s.pause()),
    sockets,
  );
}

/** A TLS server (certificate from the harness's `dir`) that waits `delayMs` before each handshake, then says nothing. */
export async function slowTlsServer(tlsDir: string, delayMs: number): Promise<SickEndpoint> {
  const [key, cert] = await Promise.all([
    readFile(join(tlsDir, "server.key")),
    readFile(join(tlsDir, "server.crt")),
  ]);
  const tls = createTlsServer({ key, cert }, (s) => s.pause());
  tls.on("tlsClientError", () => undefined);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const outer = createNetServer((s) => {
    s.pause();
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!s.destroyed) tls.emit("connection", s);
    }, delayMs);
    timers.add(timer);
  });
  const ep = await listen(outer, sockets);
  return {
    endpoint: ep.endpoint,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await ep.close();
    },
  };
}

/** An HTTP/1.1 server that answers every request with 200 and a line of text. */
export function http1Server(): Promise<SickEndpoint> {
  const sockets = new Set<Socket>();
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("hello from an HTTP/1 server\n");
  });
  return listen(server, sockets);
}

/** Stops a member with SIGSTOP: it keeps its sockets (the kernel accepts connections) but answers nothing. */
export function freeze(member: EtcdMember): void {
  if (member.pid === undefined) throw new Error(`${member.name} is not running`);
  process.kill(member.pid, "SIGSTOP");
  // kill() returns before the kernel has stopped it: a request sent at once could still be
  // answered. Wait (bounded) until /proc says it is stopped.
  const until = Date.now() + 2000;
  while (Date.now() < until && !stopped(member.pid)) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/** Whether /proc shows the process stopped (state T) or gone. */
function stopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name's closing parenthesis.
    return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return true;
  }
}

/** Resumes a member frozen by {@link freeze}. */
export function thaw(member: EtcdMember): void {
  if (member.pid !== undefined) process.kill(member.pid, "SIGCONT");
}
