/**
 * The agent's HTTP endpoints: `/healthz` (200 while the loop runs), `/readyz` (200 only once
 * the subnet file is written and the peers are programmed, 503 with the reason otherwise) and
 * `/metrics` (Prometheus text). Unlike flanneld's, the answers say something.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PodnetError } from "@podnet/ipam-core";

/** What the endpoints report, asked at each request. */
export interface HealthSource {
  /** Null while healthy, else why not. */
  health(): string | null;
  /** Null once ready, else why not yet. */
  readiness(): string | null;
  /** The Prometheus text for /metrics. */
  metrics(): string;
}

/** A listening health server. */
export interface HealthServer {
  /** `127.0.0.1:9100`, with the port actually bound. */
  readonly address: string;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Starts the server on host:port (port 0 picks a free port); rejects with a clear error when it cannot bind. */
export function startHealthServer(host: string, port: number, source: HealthSource): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "only GET and HEAD\n");
    if (path === "/healthz") {
      const why = source.health();
      return why === null ? reply(200, "ok\n") : reply(503, `${why}\n`);
    }
    if (path === "/readyz") {
      const why = source.readiness();
      return why === null ? reply(200, "ready\n") : reply(503, `not ready: ${why}\n`);
    }
    if (path === "/metrics") return reply(200, source.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    return reply(404, "not found; try /healthz, /readyz or /metrics\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new PodnetError(
          "usage",
          `cannot serve health checks on ${host}:${port}: ${err.code ?? err.message}; choose another --healthz-ip or --healthz-port`,
        ),
      );
    });
    server.listen(port, host, () => {
      const addr = server.address() as AddressInfo;
      resolve({
        address: `${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
