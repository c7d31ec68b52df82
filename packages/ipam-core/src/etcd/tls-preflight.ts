/**
 * A TLS handshake of podnet's own before grpc-js dials an https:// endpoint. grpc-js cannot
 * abandon a handshake it started: against an endpoint that accepts and never answers (a frozen
 * TLS etcd, a silent listener) its socket stays open after the channel is closed, and the
 * process never exits. This handshake has a deadline and is destroyed either way, so grpc-js
 * only dials endpoints that just finished one. It also names certificate problems in Node's words.
 */
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { DeadlineError } from "./endpoint-pool.js";

/** The client's TLS material, as grpc gets it. */
export interface TlsMaterial {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** --insecure-skip-tls-verify: accept any server certificate, as grpc then does. */
  readonly insecure?: boolean;
}

/** Completes one TLS handshake with `url` (https://host:port) by `deadline`, then closes it. */
export function tlsHandshake(url: string, tls: TlsMaterial, deadline: number): Promise<void> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  return new Promise<void>((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(port),
      // As grpc-js verifies: the endpoint's host name (an IP is matched against the certificate's IP SANs).
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ALPNProtocols: ["h2"],
      ...(tls.insecure === true ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
    });
    const timer = setTimeout(
      () => {
        socket.destroy();
        reject(new DeadlineError());
      },
      Math.max(0, deadline - Date.now()),
    );
    timer.unref();
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
