import type { PodnetError } from "../errors.js";
import {
  type ConnectionOptions,
  type ResolvedConnectionOptions,
  resolveConnectionOptions,
} from "./connection.js";
import { resolveTransport, userCredentials } from "./credentials.js";
import {
  AllEndpointsFailed,
  type AttemptFailure,
  type CallKind,
  EndpointPool,
  type PooledEndpoint,
  withDeadline,
} from "./endpoint-pool.js";
import type { ClientWatchHandlers, EtcdClient, RangeQuery } from "./etcd-client.js";
import { bestError, isEndpointFailure, translateEtcdError } from "./etcd-errors.js";
import type { Etcd3Setup } from "./etcd3-client.js";
import { H2Endpoint } from "./h2/endpoint.js";
import { H2Client } from "./h2/h2-client.js";
import { randomLeaseId } from "./h2/lease-messages.js";
import { livenessFor } from "./h2/liveness.js";
import { ttlsOf } from "./lease-ttls.js";
import { checkLeaseTtl, checkRequestSize, DEFAULT_MAX_REQUEST_BYTES } from "./limits.js";
import { keyValueAt } from "./reply-decoders.js";
import { readSnapshot } from "./snapshot-read.js";
import { runScan } from "./split-scan.js";
import type {
  Compare,
  EndpointStatus,
  Grant,
  KeyValue,
  Op,
  ReadResult,
  ScanOptions,
  ScanResult,
  ScanVisitor,
  Store,
  TxnResult,
  Watch,
  WatchHandlers,
} from "./store.js";
import { StoreClosedError } from "./store-closed.js";
import { checkTlsFiles } from "./tls-files.js";
import { type AttemptedWatch, WatchAttempts } from "./watch-attempts.js";

/** The transports a store can talk to etcd over. */
export type EtcdTransport = "h2" | "grpc-js";

/**
 * Connects to etcd and checks that an endpoint answers within the dial timeout (and accepts
 * the credentials), so that every later failure is a real one and not a slow start. Every
 * endpoint gets a client of its own: calls fail over between them (see endpoint-pool.ts).
 * The transport is podnet's own gRPC over node:http2 unless `opts.transport` is "grpc-js"
 * (etcd3); on h2, etcd3, grpc-js and protobufjs are never loaded, watches included.
 */
export async function connect(options: ConnectionOptions): Promise<Store> {
  const opts = resolveConnectionOptions(options);
  const { endpoints, tls, caFile, certFile, keyFile } = await resolveTransport(opts);
  checkTlsFiles({ ca: caFile, cert: certFile, key: keyFile }, opts);
  const setup: Etcd3Setup = {
    opts,
    user: userCredentials(opts),
    tls: tls
      ? { ca: caFile, cert: certFile, key: keyFile, insecure: opts.insecureSkipTlsVerify === true }
      : undefined,
  };
  const clients: EtcdClient[] =
    (opts.transport ?? "h2") === "grpc-js"
      ? // Loaded here, not at module load: commands that never touch etcd start without grpc.
        await import("./etcd3-client.js").then((m) => m.createEtcd3Clients(setup, endpoints))
      : endpoints.map(
          (url) =>
            new H2Client(
              new H2Endpoint({ url, tls: setup.tls, user: setup.user, dialTimeoutMs: opts.dialTimeoutMs }),
              {
                liveness: livenessFor(opts.dialTimeoutMs),
                authenticated: setup.user !== undefined,
                // A frozen endpoint never confirms a cancel: wait at most the command timeout.
                cancelTimeoutMs: opts.commandTimeoutMs,
              },
            ),
        );
  const store = new EtcdStore(
    clients.map((client, i) => ({ url: endpoints[i] as string, client })),
    endpoints,
    opts,
  );
  try {
    await store.probe();
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}

/**
 * Keys per range request of a listing: ~6 MB of flannel leases per reply. Few pages matter on
 * etcd 3.4, which gathers the revisions of the whole rest of the range for every limited
 * request and only then cuts it to the limit (so N keys in pages of P cost it ~N²/2P);
 * 32,768 lists 65,000 leases ~20% faster than 5,000 did, at the same peak memory.
 */
const LIST_PAGE = 32_768;

/** TimeToLive calls in flight on one connection (where pipelined) or across calls (the fallback). */
const TTL_CONCURRENCY = 64;
const TTL_CONCURRENCY_FALLBACK = 16;

/** The end of the key range that holds every key starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The key an op works on. */
const opKey = (op: Op): string => ("put" in op ? op.put : "delete" in op ? op.delete : op.get);

type Endpoint = PooledEndpoint<EtcdClient>;

const classify = (err: unknown): AttemptFailure => (isEndpointFailure(err) ? "endpoint" : "final");

/** etcd's answer to a grant whose id exists: here, an earlier attempt of the same grant that won. */
const LEASE_EXISTS = /lease already exists/i;

class EtcdStore implements Store {
  readonly endpoints: readonly string[];
  private readonly pool: EndpointPool<EtcdClient>;
  private closed = false;
  private readonly closeListeners = new Set<() => void>();

  constructor(
    clients: readonly { url: string; client: EtcdClient }[],
    endpoints: readonly string[],
    private readonly opts: ResolvedConnectionOptions,
  ) {
    this.endpoints = endpoints;
    this.pool = new EndpointPool(clients, { callTimeoutMs: opts.commandTimeoutMs }, (e) =>
      this.status1(e).then(() => undefined),
    );
  }

  /** Runs one call with fail-over; every failure becomes one PodnetError sentence. */
  private async call<T>(
    kind: CallKind,
    run: (client: EtcdClient, deadline: number) => Promise<T>,
    key?: string,
  ): Promise<T> {
    if (this.closed) throw new StoreClosedError();
    try {
      return await this.pool.run(
        kind,
        (e, deadline) => e.client.ready(deadline).then(() => run(e.client, deadline)),
        classify,
      );
    } catch (err) {
      throw this.translate(err, this.opts.commandTimeoutMs, key);
    }
  }

  private translate(err: unknown, timeoutMs: number, key?: string, endpoints = this.endpoints): PodnetError {
    // A call the close cut short: the store's fault, not an unreachable etcd.
    if (this.closed) return new StoreClosedError();
    const chosen = err instanceof AllEndpointsFailed ? bestError(err.errors) : err;
    return translateEtcdError(chosen, {
      endpoints,
      timeoutMs,
      optionNames: this.opts.optionNames,
      ...(key !== undefined ? { key } : {}),
    });
  }

  /** One status call on one endpoint, within the dial timeout. */
  private status1(e: Endpoint) {
    const deadline = Date.now() + this.opts.dialTimeoutMs;
    return withDeadline(
      e.client.ready(deadline).then(() => e.client.status(deadline)),
      deadline,
    );
  }

  /**
   * Asks every endpoint at once; done when the first answers (and, with a user, accepts the
   * credentials). The others keep their probe: a silent one is set aside when its time is up.
   */
  async probe(): Promise<void> {
    const timeoutMs = this.opts.dialTimeoutMs;
    const errors: unknown[] = [];
    const one = async (e: Endpoint): Promise<void> => {
      try {
        await this.status1(e);
        if (this.opts.user !== undefined) {
          // Status needs no credentials; a range does, so a wrong password shows here and not later.
          const deadline = Date.now() + timeoutMs;
          await withDeadline(
            e.client.count({ key: Buffer.from("\0podnet-probe") }, deadline),
            deadline,
          ).catch((err: unknown) => {
            // A limited user may not read the probe key; that still proves the credentials work.
            const t = this.translate(err, timeoutMs, undefined, [e.url]);
            if (!(t.code === "permission" && /denied permission/.test(t.message))) throw err;
          });
        }
        this.pool.up(e);
      } catch (err) {
        if (isEndpointFailure(err)) this.pool.aside(e);
        else this.pool.up(e);
        errors.push(err);
        throw err;
      }
    };
    try {
      await Promise.any(this.pool.endpoints.map(one));
    } catch {
      throw this.translate(new AllEndpointsFailed(errors, true), timeoutMs);
    }
  }

  get(key: string, opts?: { revision?: number }): Promise<ReadResult<KeyValue | undefined>> {
    return this.call(
      "read",
      async (client, deadline) => {
        const { revision, kv } = await client.get(key, opts?.revision, deadline);
        return { revision, value: kv };
      },
      key,
    );
  }

  async list(prefix: string, opts?: ScanOptions): Promise<ReadResult<KeyValue[]>> {
    const read = async (): Promise<ReadResult<KeyValue[]>> => {
      const out: KeyValue[] = [];
      const { revision } = await this.scan(prefix, (c) => out.push(keyValueAt(c)), opts);
      return { revision, value: out };
    };
    // Later pages are pinned to the first one's revision: unpinned, a compaction between them reads again.
    return opts?.revision === undefined ? readSnapshot(read) : read();
  }

  async scan(prefix: string, visit: ScanVisitor, opts?: ScanOptions): Promise<ScanResult> {
    // Pages at one pinned revision: one consistent snapshot, without one huge reply and decode
    // for a huge prefix (65,000 leases are ~12 MB on the wire). Each page is a call of its own;
    // with `splits`, the sub-ranges' pages are fetched at once (see split-scan.ts).
    const splits = (opts?.splits ?? []).map((s) => Buffer.from(s));
    let revision = opts?.revision;
    // One key's read pins the snapshot every sub-range reads: etcd looks it up in its index alone.
    if (splits.length > 0 && revision === undefined) revision = (await this.get(prefix)).revision;
    // A reply that does not decode fails the scan as the store's errors do.
    const decoding = <T>(read: () => T): T => {
      try {
        return read();
      } catch (err) {
        throw this.translate(err, this.opts.commandTimeoutMs, prefix);
      }
    };
    return runScan(
      {
        start: Buffer.from(prefix),
        end: prefixEnd(prefix),
        splits,
        revision,
        limit: this.opts.listPageSize ?? LIST_PAGE,
        keysOnly: opts?.keysOnly,
      },
      {
        fetch: (query) => this.call("read", (client, deadline) => client.range(query, deadline), prefix),
        walk: (reply, v) => decoding(() => reply.walk(v)),
        peek: (reply) => decoding(() => reply.peek()),
      },
      visit,
      opts?.onPage,
    );
  }

  count(prefix: string, opts?: { revision?: number }): Promise<ReadResult<number>> {
    const query: RangeQuery = {
      key: Buffer.from(prefix),
      rangeEnd: prefixEnd(prefix),
      ...(opts?.revision !== undefined && { revision: opts.revision }),
    };
    return this.call(
      "read",
      async (client, deadline) => {
        const res = await client.count(query, deadline);
        return { revision: res.revision, value: res.count };
      },
      prefix,
    );
  }

  txn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    const firstKey = success[0] !== undefined ? opKey(success[0]) : undefined;
    const size = [...success, ...failure].reduce(
      (n, op) => n + Buffer.byteLength(opKey(op)) + ("put" in op ? Buffer.byteLength(op.value) : 0),
      compares.reduce(
        (n, c) => n + Buffer.byteLength(c.key) + ("value" in c ? Buffer.byteLength(c.value) : 0),
        0,
      ),
    );
    checkRequestSize(size, this.opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, firstKey ?? "etcd");
    // A retry on another endpoint is harmless: every podnet transaction is guarded by a compare,
    // so an attempt that committed before its answer was lost makes the retry's compare fail.
    return this.call(
      "write",
      (client, deadline) => client.txn({ compares, success, failure }, deadline),
      firstKey,
    );
  }

  /**
   * Grants a lease under an id chosen here, the same for every attempt: a retry after a lost
   * answer that finds "lease already exists" learns that the first attempt won, and no second
   * lease is left behind to expire on its own.
   */
  async grant(ttlSeconds: number): Promise<string> {
    return (await this.grantAt(ttlSeconds)).lease;
  }

  grantAt(ttlSeconds: number): Promise<Grant> {
    checkLeaseTtl(ttlSeconds);
    const id = randomLeaseId();
    let attempts = 0;
    return this.call("write", async (client, deadline) => {
      const first = attempts++ === 0;
      try {
        return { lease: id, ...(await client.grant(ttlSeconds, id, deadline)) };
      } catch (err) {
        // On the first attempt it would be another client's lease (a 2^-63 chance): not ours.
        if (first || !LEASE_EXISTS.test(err instanceof Error ? err.message : String(err))) throw err;
        return { lease: id, revision: 0, ttl: 0 };
      }
    });
  }

  revoke(lease: string): Promise<void> {
    return this.call("write", async (client, deadline) => {
      try {
        await client.revoke(lease, deadline);
      } catch (err) {
        if (/lease not found/i.test(err instanceof Error ? err.message : String(err))) return;
        throw err;
      }
    });
  }

  keepAliveOnce(lease: string): Promise<number> {
    return this.call("write", (client, deadline) => client.keepAliveOnce(lease, deadline));
  }

  leaseKeys(lease: string): Promise<string[]> {
    return this.call("read", (client, deadline) => client.leaseKeys(lease, deadline));
  }

  timeToLive(lease: string): Promise<number> {
    return this.call("read", (client, deadline) => client.timeToLive(lease, deadline));
  }

  /**
   * The TTLs of many leases: pipelined on one connection (64 in flight) where the transport
   * can; else 16 calls at a time.
   */
  async timeToLiveMany(leases: readonly string[]): Promise<Map<string, number>> {
    const ids = [...new Set(leases)];
    if (ids.length === 0) return new Map();
    if (this.pool.endpoints.every((e) => e.client.timeToLiveMany !== undefined)) {
      return this.call("read", (client, deadline) =>
        (client.timeToLiveMany as NonNullable<EtcdClient["timeToLiveMany"]>).call(
          client,
          ids,
          deadline,
          TTL_CONCURRENCY,
        ),
      );
    }
    return ttlsOf(ids, TTL_CONCURRENCY_FALLBACK, (id) => this.timeToLive(id));
  }

  /**
   * Watches on one endpoint: the first that confirms the watch within the command timeout.
   * A watch stream that fails sets its endpoint aside; the caller watches again, elsewhere.
   */
  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    // Only the watch this call returns reports; any other an attempt opened is cancelled.
    const attempts = new WatchAttempts();
    let won: { attempted: AttemptedWatch; endpoint: Endpoint | undefined } | undefined;
    try {
      won = await this.call("write", async (client, deadline) => ({
        attempted: await attempts.attempt((hooks) => client.watch({ prefix, fromRevision }, hooks, deadline)),
        endpoint: this.pool.endpoints.find((e) => e.client === client),
      }));
    } finally {
      attempts.finish(won?.attempted, won && this.hooks(won.endpoint, fromRevision, handlers));
    }
    return won.attempted.watch;
  }

  /** What the winning watch's reports become for the caller. */
  private hooks(
    endpoint: Endpoint | undefined,
    fromRevision: number,
    handlers: WatchHandlers,
  ): ClientWatchHandlers {
    return {
      events: (events, revision) => handlers.events(events, revision),
      compacted: (compactRevision) => handlers.compacted(compactRevision ?? fromRevision),
      error: (err, lost) => {
        if (lost && endpoint !== undefined && !this.closed) this.pool.aside(endpoint);
        // A silent endpoint under a watch is one that left a keepalive ping unanswered this long.
        const timeoutMs = livenessFor(this.opts.dialTimeoutMs).timeoutMs;
        handlers.error(this.translate(err, timeoutMs));
      },
    };
  }

  compact(revision: number): Promise<void> {
    return this.call("write", (client, deadline) => client.compact(revision, deadline));
  }

  /** Each endpoint's status within the dial timeout; a silent one is an error saying how long it was waited for. */
  async status(): Promise<(EndpointStatus | { endpoint: string; error: Error })[]> {
    return Promise.all(
      this.pool.endpoints.map(async (e) => {
        try {
          const res = await this.status1(e);
          this.pool.up(e);
          return {
            endpoint: e.url,
            version: res.version,
            memberId: res.memberId,
            leaderId: res.leader,
            dbSize: res.dbSize,
            revision: res.revision,
            raftTerm: res.raftTerm,
          };
        } catch (err) {
          if (isEndpointFailure(err)) this.pool.aside(e);
          return { endpoint: e.url, error: this.translate(err, this.opts.dialTimeoutMs, undefined, [e.url]) };
        }
      }),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const listeners = [...this.closeListeners];
    this.closeListeners.clear();
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // One listener's failure must not keep the others from hearing it.
      }
    }
    for (const e of this.pool.endpoints) e.client.close();
  }

  onClose(listener: () => void): () => void {
    if (this.closed) {
      queueMicrotask(listener);
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
