/**
 * The one place that reads etcd3's private fields. The fast path: its connection pool (for the auth metadata
 * and the grpc-js client of a host) and the grpc-js client's makeUnaryRequest, so Range and
 * LeaseTimeToLive replies are decoded by {@link decodeRangeResponse} and {@link decodeTtl}
 * instead of protobufjs (about three times faster on 65,000 leases). The shapes were read from
 * etcd3 1.1.2 with @grpc/grpc-js 1.14, the version package.json pins; when they are not there,
 * {@link fastPathOf} says why and the store falls back to etcd3's public calls. And closing:
 * {@link closeChannels} closes the grpc channels at once (etcd3 waits a second for a connecting one).
 */
import type { Etcd3 } from "etcd3";
import { ttlsOf } from "./lease-ttls.js";
import { decodeRangeResponse, decodeTtl, type RangePage } from "./reply-decoders.js";

/** A grpc-js unary method as a generated client carries it. */
interface RawMethod {
  path: string;
  requestSerialize: (req: unknown) => Buffer;
}

/** What the fast path uses of a grpc-js service client. */
interface RawClient {
  makeUnaryRequest(...args: unknown[]): unknown;
}

/** What the fast path uses of etcd3's ConnectionPool. */
interface RawPool {
  authenticator?: { invalidateMetadata(): void };
  hosts?: {
    getServiceClient(name: string): unknown;
    cachedServices?: Record<string, { close?: () => void } | undefined>;
    closed?: boolean;
  }[];
  withConnection<T>(
    service: string,
    fn: (conn: { client: unknown; metadata: unknown }) => Promise<T>,
  ): Promise<T>;
}

/** Range and LeaseTimeToLive on one etcd3 client, decoded by hand. */
export interface FastPath {
  range(req: Record<string, unknown>, deadline: number): Promise<RangePage>;
  /** The same range, its reply's bytes undecoded (for walkRangeResponse). */
  rangeRaw(req: Record<string, unknown>, deadline: number): Promise<Buffer>;
  /** The TTLs of `ids`, `concurrency` calls in flight on one connection; -1 for a lease that is gone. */
  timeToLiveMany(ids: readonly string[], deadline: number, concurrency: number): Promise<Map<string, number>>;
}

/** The method of a service client, when the generated client still has that shape. */
function methodOf(client: unknown, name: string): RawMethod | undefined {
  const c = client as Record<string, unknown> | null;
  const m = c?.[name] as Partial<RawMethod> | undefined;
  if (typeof c?.["makeUnaryRequest"] !== "function") return undefined;
  if (typeof m?.path !== "string" || typeof m.requestSerialize !== "function") return undefined;
  return m as RawMethod;
}

/**
 * The fast path over `client`, or a sentence saying which private shape is missing.
 * `castGrpcError` and `isInvalidToken` are etcd3's own, so errors look as etcd3's do.
 */
export function fastPathOf(
  client: Etcd3,
  castGrpcError: (err: Error) => Error,
  isInvalidToken: (err: unknown) => boolean,
): FastPath | string {
  // biome-ignore lint/suspicious/noExplicitAny: etcd3's pool is internal; its shape is checked here.
  const pool = (client as any).pool as RawPool | undefined;
  if (typeof pool?.withConnection !== "function") return "etcd3's connection pool has no withConnection";
  const host = pool.hosts?.[0];
  if (typeof host?.getServiceClient !== "function") return "etcd3's hosts have no getServiceClient";
  if (methodOf(host.getServiceClient("KV"), "range") === undefined) {
    return "the grpc-js KV client has no makeUnaryRequest or range method";
  }
  if (methodOf(host.getServiceClient("Lease"), "leaseTimeToLive") === undefined) {
    return "the grpc-js Lease client has no leaseTimeToLive method";
  }

  const unary = <R>(
    raw: unknown,
    method: RawMethod,
    decode: (buf: Buffer) => R,
    req: unknown,
    metadata: unknown,
    deadline: number,
  ) =>
    new Promise<R>((resolve, reject) => {
      (raw as RawClient).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        decode,
        req,
        metadata,
        { deadline },
        (err: Error | null, res?: R) => {
          if (err) reject(castGrpcError(err));
          else if (res === undefined) reject(new Error("empty reply"));
          else resolve(res);
        },
      );
    });

  /** One call through the pool; an expired auth token is dropped and fetched again, once, as etcd3 does. */
  const withRetry = async <R>(service: string, fn: (raw: unknown, metadata: unknown) => Promise<R>) => {
    const once = () => pool.withConnection(service, ({ client: raw, metadata }) => fn(raw, metadata));
    try {
      return await once();
    } catch (err) {
      if (!isInvalidToken(err)) throw err;
      pool.authenticator?.invalidateMetadata();
      return once();
    }
  };

  return {
    range: (req, deadline) =>
      withRetry("KV", (raw, metadata) =>
        unary(raw, methodOf(raw, "range") as RawMethod, decodeRangeResponse, req, metadata, deadline),
      ),
    rangeRaw: (req, deadline) =>
      withRetry("KV", (raw, metadata) =>
        unary(raw, methodOf(raw, "range") as RawMethod, (buf: Buffer) => buf, req, metadata, deadline),
      ),
    timeToLiveMany: (ids, deadline, concurrency) =>
      withRetry("Lease", async (raw, metadata) => {
        const method = methodOf(raw, "leaseTimeToLive") as RawMethod;
        return ttlsOf(ids, concurrency, (id) =>
          unary(raw, method, decodeTtl, { ID: id }, metadata, deadline),
        );
      }),
  };
}

/**
 * Closes every grpc channel of `client` now, ending its calls. etcd3's own close() waits a
 * second before closing a channel that is still connecting (a grpc-js workaround), which
 * is what kept an unreachable etcd's error a second late; it is the fallback here.
 */
export function closeChannels(client: Etcd3): void {
  // biome-ignore lint/suspicious/noExplicitAny: etcd3's pool is internal; its shape is checked here.
  const hosts = ((client as any).pool as RawPool | undefined)?.hosts;
  if (!Array.isArray(hosts) || hosts.some((h) => h.cachedServices === undefined)) {
    client.close();
    return;
  }
  for (const host of hosts) {
    host.closed = true;
    const services = host.cachedServices ?? {};
    host.cachedServices = Object.create(null);
    for (const service of Object.values(services)) service?.close?.();
  }
}

/** grpc-js's connectivityState.READY. */
const READY = 2;

/** Whether any grpc channel of `client` has a live connection (they share one per endpoint). */
export function hasLiveConnection(client: Etcd3): boolean {
  // biome-ignore lint/suspicious/noExplicitAny: etcd3's pool is internal; its shape is checked here.
  const hosts = ((client as any).pool as RawPool | undefined)?.hosts;
  for (const host of hosts ?? []) {
    for (const service of Object.values(host.cachedServices ?? {})) {
      const channel = (
        service as { getChannel?: () => { getConnectivityState(c: boolean): number } } | undefined
      )?.getChannel?.();
      if (channel?.getConnectivityState(false) === READY) return true;
    }
  }
  return false;
}
