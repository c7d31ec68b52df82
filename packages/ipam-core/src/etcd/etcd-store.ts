import { createRequire } from "node:module";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Etcd3, IKeyValue, IOptions, IRangeResponse, IRequestOp, IStatusResponse, Watcher } from "etcd3";
import { PodnetError } from "../errors.js";
import type { ConnectionOptions } from "./connection.js";
import { resolveTransport, userCredentials } from "./credentials.js";
import {
  AllEndpointsFailed,
  type AttemptFailure,
  type CallKind,
  EndpointPool,
  type PooledEndpoint,
  withDeadline,
} from "./endpoint-pool.js";
import { bestError, isEndpointFailure, translateEtcdError } from "./etcd-errors.js";
import { closeChannels, type FastPath, fastPathOf, hasLiveConnection } from "./etcd3-internals.js";
import { ipLiteralOf } from "./ip-literal.js";
import { checkLeaseTtl, checkRequestSize, DEFAULT_MAX_REQUEST_BYTES } from "./limits.js";
import { type RangePage, type RangeWalk, walkRangeResponse } from "./reply-decoders.js";
import type {
  Compare,
  EndpointStatus,
  KeyValue,
  KeyValueCursor,
  Op,
  ReadResult,
  ScanResult,
  Store,
  TxnResult,
  Watch,
  WatchEvent,
  WatchHandlers,
} from "./store.js";
import { checkTlsFiles } from "./tls-files.js";
import { type TlsMaterial, tlsHandshake } from "./tls-preflight.js";

/**
 * Connects to etcd and checks that an endpoint answers within the dial timeout (and accepts
 * the credentials), so that every later failure is a real one and not a slow start. Every
 * endpoint gets a client of its own: calls fail over between them (see endpoint-pool.ts).
 */
export async function connect(opts: ConnectionOptions): Promise<Store> {
  const { endpoints, tls, caFile, certFile, keyFile } = await resolveTransport(opts);
  checkTlsFiles({ ca: caFile, cert: certFile, key: keyFile }, opts);
  // Loaded here, not at module load: commands that never touch etcd start without grpc.
  const [etcd3, cockatiel] = await Promise.all([import("etcd3"), import("cockatiel")]);
  const dialTimeoutMs = opts.dialTimeoutMs;
  const options: Omit<IOptions, "hosts"> = {
    dialTimeout: dialTimeoutMs,
    faultHandling: {
      // podnet's endpoint pool does the fail-over; etcd3 makes one attempt on its one host.
      global: cockatiel.noop,
      host: () => cockatiel.noop,
      // etcd3 types this as an IBackoff but uses it as cockatiel's factory, its own default.
      watchBackoff: new cockatiel.ExponentialBackoff({ initialDelay: 100, maxDelay: 5000 }) as never,
    },
    grpcOptions: {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
      // Listings are paged, but a watch catching up after an outage can still bring a large batch.
      "grpc.max_receive_message_length": -1,
      // A frozen member keeps its sockets: pings on open streams (the watch) find it out. etcd
      // refuses pings more often than every 5 s.
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": Math.min(10_000, Math.max(1000, dialTimeoutMs)),
    },
  };
  if (tls) {
    // grpc uses the system's roots when no CA is given; flannel ignored a lone CA file, podnet does not.
    options.credentials = {
      rootCertificate: caFile as Buffer,
      ...(keyFile !== undefined ? { privateKey: keyFile } : {}),
      ...(certFile !== undefined ? { certChain: certFile } : {}),
    };
  }
  const user = userCredentials(opts);
  if (user !== undefined) {
    // A factory: each authentication (also a token refresh hours later) gets a fresh deadline.
    options.auth = {
      ...user,
      callOptions: (() => ({ deadline: Date.now() + dialTimeoutMs })) as never,
    };
  }
  const insecure = tls && opts.insecureSkipTlsVerify === true;
  const clients = endpoints.map((url) => {
    const ip = tls ? ipLiteralOf(url) : undefined;
    // grpc-js names an IP endpoint as the TLS server name, which Node 26 refuses (and RFC 6066
    // forbids): such a client sends a placeholder name and checks the certificate against the IP.
    const grpcOptions =
      ip === undefined
        ? options.grpcOptions
        : { ...options.grpcOptions, "grpc.ssl_target_name_override": IP_ENDPOINT_SERVERNAME };
    const build = () => new etcd3.Etcd3({ ...options, grpcOptions, hosts: [url] });
    const verify: VerifyOptions | undefined = insecure
      ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
      : ip !== undefined
        ? { checkServerIdentity: (_name, cert) => checkServerIdentity(ip, cert) }
        : undefined;
    return { url, client: verify === undefined ? build() : withVerifyOptions(build, verify) };
  });
  const isInvalidToken = (err: unknown) => err instanceof etcd3.EtcdInvalidAuthTokenError;
  const fast =
    opts.fastDecode === false
      ? []
      : clients.map((c) => fastPathOf(c.client, etcd3.castGrpcError, isInvalidToken));
  const missing = fast.find((f): f is string => typeof f === "string");
  if (missing !== undefined) {
    (opts.onWarning ?? ((m: string) => process.emitWarning(m)))(
      `etcd3's internals changed (${missing}): listings and TTL look-ups use the slower protobufjs decoding`,
    );
  }
  const store = new EtcdStore(
    clients.map((c, i) => ({
      ...c,
      client: { etcd: c.client, fast: missing === undefined ? (fast[i] as FastPath | undefined) : undefined },
    })),
    endpoints,
    opts,
    tls ? { ca: caFile, cert: certFile, key: keyFile, insecure } : undefined,
  );
  try {
    await store.probe();
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}

/** The TLS server name an IP endpoint's client sends (SNI carries host names only; etcd ignores it). */
export const IP_ENDPOINT_SERVERNAME = "etcd-by-ip.podnet.invalid";

/** What grpc's createSsl takes to check a server's certificate. */
interface VerifyOptions {
  rejectUnauthorized?: boolean;
  checkServerIdentity?: (name: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * Builds a client whose TLS credentials check the server with `verify`. etcd3 hands its
 * `credentials` to grpc's createSsl without verify options, so that one call is given them for
 * the synchronous construction (which is where etcd3 builds its credentials), then restored.
 * The one place podnet reaches into grpc; tested against real TLS etcds (connection-security).
 */
function withVerifyOptions<T>(build: () => T, verify: VerifyOptions): T {
  const grpc = createRequire(createRequire(import.meta.url).resolve("etcd3"))("@grpc/grpc-js") as {
    credentials: { createSsl: (...args: unknown[]) => unknown };
  };
  const createSsl = grpc.credentials.createSsl;
  if (typeof createSsl !== "function") {
    throw new PodnetError(
      "failed",
      "grpc-js no longer has credentials.createSsl: podnet cannot set up TLS checks",
    );
  }
  grpc.credentials.createSsl = (root, key, cert) => createSsl(root, key, cert, verify);
  try {
    return build();
  } finally {
    grpc.credentials.createSsl = createSsl;
  }
}

/**
 * Keys per range request of a listing: ~6 MB of flannel leases per reply. Few pages matter on
 * etcd 3.4, which gathers the revisions of the whole rest of the range for every limited
 * request and only then cuts it to the limit (so N keys in pages of P cost it ~N²/2P);
 * 32,768 lists 65,000 leases ~20% faster than 5,000 did, at the same peak memory.
 */
const LIST_PAGE = 32_768;

/** TimeToLive calls in flight on one connection (the fast path) or across calls (the fallback). */
const TTL_CONCURRENCY = 64;
const TTL_CONCURRENCY_FALLBACK = 16;

const toKeyValue = (kv: IKeyValue): KeyValue => ({
  key: kv.key.toString(),
  value: kv.value,
  createRevision: Number(kv.create_revision),
  modRevision: Number(kv.mod_revision),
  version: Number(kv.version),
  lease: kv.lease ?? "0",
});

function fromRangeResponse(res: IRangeResponse): RangePage {
  return { revision: Number(res.header.revision), more: res.more, kvs: res.kvs.map(toKeyValue) };
}

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

/** Visits decoded kvs through a cursor, as walkRangeResponse does with a reply's bytes (the fallback). */
function walkKeyValues(res: IRangeResponse, visit: (kv: KeyValueCursor) => void): RangeWalk {
  for (const kv of res.kvs) {
    const key = kv.key;
    const buf = Buffer.concat([key, kv.value]);
    const lease = kv.lease ?? "0";
    visit({
      buf,
      keyStart: 0,
      keyEnd: key.length,
      valueStart: key.length,
      valueEnd: buf.length,
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      hasLease: lease !== "0",
      lease: () => lease,
    });
  }
  const last = res.kvs[res.kvs.length - 1];
  return {
    revision: Number(res.header.revision),
    more: res.more,
    count: res.kvs.length,
    ...(last !== undefined && { lastKey: Buffer.from(last.key) }),
  };
}

/** One endpoint's etcd3 client and, when etcd3's shapes allow, its fast path. */
interface EndpointClient {
  readonly etcd: Etcd3;
  readonly fast: FastPath | undefined;
}

type Endpoint = PooledEndpoint<EndpointClient>;

const classify = (err: unknown): AttemptFailure => (isEndpointFailure(err) ? "endpoint" : "final");

class EtcdStore implements Store {
  readonly endpoints: readonly string[];
  private readonly pool: EndpointPool<EndpointClient>;
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  constructor(
    clients: readonly { url: string; client: EndpointClient }[],
    endpoints: readonly string[],
    private readonly opts: ConnectionOptions,
    private readonly tls: TlsMaterial | undefined,
  ) {
    this.endpoints = endpoints;
    this.pool = new EndpointPool(clients, { callTimeoutMs: opts.commandTimeoutMs }, (e) =>
      this.status1(e).then(() => undefined),
    );
  }

  private readonly handshakes = new Map<Endpoint, Promise<void>>();

  /**
   * Before grpc-js dials an https:// endpoint, one handshake of our own within the deadline
   * (see tls-preflight.ts); endpoints with a live connection go straight through.
   */
  private ready(e: Endpoint, deadline: number): Promise<void> {
    if (this.tls === undefined || hasLiveConnection(e.client.etcd)) return Promise.resolve();
    let running = this.handshakes.get(e);
    if (running === undefined) {
      running = tlsHandshake(e.url, this.tls, deadline).finally(() => this.handshakes.delete(e));
      this.handshakes.set(e, running);
    }
    return withDeadline(running, deadline);
  }

  /** Runs one call with fail-over; every failure becomes one PodnetError sentence. */
  private async call<T>(
    kind: CallKind,
    run: (client: EndpointClient, deadline: number) => Promise<T>,
    key?: string,
  ): Promise<T> {
    try {
      return await this.pool.run(
        kind,
        (e, deadline) => this.ready(e, deadline).then(() => run(e.client, deadline)),
        classify,
      );
    } catch (err) {
      throw this.translate(err, this.opts.commandTimeoutMs, key);
    }
  }

  private translate(err: unknown, timeoutMs: number, key?: string, endpoints = this.endpoints): PodnetError {
    const chosen = err instanceof AllEndpointsFailed ? bestError(err.errors) : err;
    return translateEtcdError(chosen, { endpoints, timeoutMs, ...(key !== undefined ? { key } : {}) });
  }

  /** One status call on one endpoint, within the dial timeout. */
  private status1(e: Endpoint): Promise<IStatusResponse> {
    const deadline = Date.now() + this.opts.dialTimeoutMs;
    return withDeadline(
      this.ready(e, deadline).then(() => e.client.etcd.maintenance.status({ deadline })),
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
            e.client.etcd.kv.range({ key: Buffer.from("\0podnet-probe"), count_only: true }, { deadline }),
            deadline,
          ).catch((err: unknown) => {
            // A limited user may not read the probe key; that still proves the credentials work.
            const t = translateEtcdError(err, { endpoints: [e.url], timeoutMs });
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
      async ({ etcd }, deadline) => {
        const res = await etcd.kv.range(
          { key: Buffer.from(key), ...(opts?.revision !== undefined ? { revision: opts.revision } : {}) },
          { deadline },
        );
        const kv = res.kvs[0];
        return { revision: Number(res.header.revision), value: kv ? toKeyValue(kv) : undefined };
      },
      key,
    );
  }

  async list(
    prefix: string,
    opts?: { revision?: number; keysOnly?: boolean; onPage?: (keys: number, last: boolean) => void },
  ): Promise<ReadResult<KeyValue[]>> {
    // Pages at one pinned revision: one consistent snapshot, without one huge reply and decode
    // for a huge prefix (65,000 leases are ~12 MB on the wire). Each page is a call of its own.
    const end = prefixEnd(prefix);
    const out: KeyValue[] = [];
    let from = Buffer.from(prefix);
    let revision = opts?.revision;
    for (;;) {
      const req = {
        key: from,
        range_end: end,
        limit: this.opts.listPageSize ?? LIST_PAGE,
        ...(revision !== undefined ? { revision } : {}),
        ...(opts?.keysOnly ? { keys_only: true } : {}),
      };
      const page = await this.call(
        "read",
        async ({ etcd, fast }, deadline) =>
          fast !== undefined
            ? fast.range(req, deadline)
            : fromRangeResponse(await etcd.kv.range(req, { deadline })),
        prefix,
      );
      revision ??= page.revision;
      for (const kv of page.kvs) out.push(kv);
      const last = page.kvs[page.kvs.length - 1];
      const final = !page.more || last === undefined;
      opts?.onPage?.(out.length, final);
      if (final || last === undefined) break;
      from = Buffer.concat([page.lastKey ?? Buffer.from(last.key), Buffer.from([0])]);
    }
    return { revision, value: out };
  }

  async scan(
    prefix: string,
    visit: (kv: KeyValueCursor) => void,
    opts?: { revision?: number; keysOnly?: boolean; onPage?: (keys: number, last: boolean) => void },
  ): Promise<ScanResult> {
    const end = prefixEnd(prefix);
    let from = Buffer.from(prefix);
    let revision = opts?.revision;
    let count = 0;
    for (;;) {
      const req = {
        key: from,
        range_end: end,
        limit: this.opts.listPageSize ?? LIST_PAGE,
        ...(revision !== undefined ? { revision } : {}),
        ...(opts?.keysOnly ? { keys_only: true } : {}),
      };
      const page = await this.call(
        "read",
        async ({ etcd, fast }, deadline) =>
          fast !== undefined
            ? walkRangeResponse(await fast.rangeRaw(req, deadline), visit)
            : walkKeyValues(await etcd.kv.range(req, { deadline }), visit),
        prefix,
      );
      revision ??= page.revision;
      count += page.count;
      const final = !page.more || page.lastKey === undefined;
      opts?.onPage?.(count, final);
      if (final || page.lastKey === undefined) break;
      from = Buffer.concat([page.lastKey, Buffer.from([0])]);
    }
    return { revision, count };
  }

  count(prefix: string, opts?: { revision?: number }): Promise<ReadResult<number>> {
    const req = {
      key: Buffer.from(prefix),
      range_end: prefixEnd(prefix),
      count_only: true,
      ...(opts?.revision !== undefined ? { revision: opts.revision } : {}),
    };
    return this.call(
      "read",
      async ({ etcd }, deadline) => {
        const res = await etcd.kv.range(req, { deadline });
        return { revision: Number(res.header.revision), value: Number(res.count) };
      },
      prefix,
    );
  }

  txn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    const toOp = (op: Op): IRequestOp =>
      "put" in op
        ? {
            request_put: {
              key: Buffer.from(op.put),
              value: Buffer.from(op.value),
              ...(op.lease !== undefined && op.lease !== "0" ? { lease: op.lease } : {}),
            },
          }
        : "delete" in op
          ? { request_delete_range: { key: Buffer.from(op.delete) } }
          : { request_range: { key: Buffer.from(op.get) } };
    const compare = compares.map((c) => {
      const key = Buffer.from(c.key);
      if ("modRevision" in c)
        return { key, target: "Mod" as const, result: "Equal" as const, mod_revision: c.modRevision };
      if ("lease" in c) return { key, target: "Lease" as const, result: "Equal" as const, lease: c.lease };
      return { key, target: "Value" as const, result: "Equal" as const, value: Buffer.from(c.value) };
    });
    const firstKey = success[0] !== undefined ? opKey(success[0]) : undefined;
    const size = [...success, ...failure].reduce(
      (n, op) => n + Buffer.byteLength(opKey(op)) + ("put" in op ? Buffer.byteLength(op.value) : 0),
      compare.reduce((n, c) => n + c.key.length + (c.value?.length ?? 0), 0),
    );
    checkRequestSize(size, this.opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, firstKey ?? "etcd");
    const request = { compare, success: success.map(toOp), failure: failure.map(toOp) };
    // A retry on another endpoint is harmless: every podnet transaction is guarded by a compare,
    // so an attempt that committed before its answer was lost makes the retry's compare fail.
    return this.call(
      "write",
      async ({ etcd }, deadline) => {
        const res = await etcd.kv.txn(request, { deadline });
        const gets = res.responses
          .filter((r) => r.response_range !== undefined && r.response_range !== null)
          .map((r) => {
            const kv = r.response_range?.kvs[0];
            return kv !== undefined ? toKeyValue(kv) : undefined;
          });
        return { succeeded: res.succeeded, revision: Number(res.header.revision), gets };
      },
      firstKey,
    );
  }

  grant(ttlSeconds: number): Promise<string> {
    checkLeaseTtl(ttlSeconds);
    // A grant repeated after a lost answer leaves a lease with no key, which expires with its TTL.
    return this.call("write", async ({ etcd }, deadline) => {
      const res = await etcd.leaseClient.leaseGrant({ TTL: ttlSeconds }, { deadline });
      return String(res.ID);
    });
  }

  revoke(lease: string): Promise<void> {
    return this.call("write", async ({ etcd }, deadline) => {
      try {
        await etcd.leaseClient.leaseRevoke({ ID: lease }, { deadline });
      } catch (err) {
        if (/lease not found/i.test(err instanceof Error ? err.message : String(err))) return;
        throw err;
      }
    });
  }

  keepAliveOnce(lease: string): Promise<number> {
    return this.call("write", async ({ etcd }, deadline) => {
      const stream = await etcd.leaseClient.leaseKeepAlive({ deadline });
      try {
        const answer = new Promise<number>((resolve, reject) => {
          stream.on("data", (res: { TTL: string }) => resolve(Number(res.TTL)));
          stream.on("error", (err: Error) => reject(err));
        });
        stream.write({ ID: lease });
        return await answer;
      } finally {
        stream.end();
      }
    });
  }

  timeToLive(lease: string): Promise<number> {
    return this.call("read", async ({ etcd }, deadline) => {
      const res = await etcd.leaseClient.leaseTimeToLive({ ID: lease }, { deadline });
      return Number(res.TTL);
    });
  }

  /**
   * The TTLs of many leases: on the fast path pipelined on one connection (64 in flight) past
   * etcd3's per-call wrappers; else 16 calls at a time.
   */
  async timeToLiveMany(leases: readonly string[]): Promise<Map<string, number>> {
    const ids = [...new Set(leases)];
    if (ids.length === 0) return new Map();
    if (this.pool.endpoints.every((e) => e.client.fast !== undefined)) {
      return this.call("read", ({ fast }, deadline) =>
        (fast as FastPath).timeToLiveMany(ids, deadline, TTL_CONCURRENCY),
      );
    }
    const out = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < ids.length; i = next++) {
        const id = ids[i] as string;
        out.set(id, await this.timeToLive(id));
      }
    };
    await Promise.all(Array.from({ length: Math.min(TTL_CONCURRENCY_FALLBACK, ids.length) }, worker));
    return out;
  }

  /**
   * Watches on one endpoint: the first that confirms the watch within the command timeout.
   * A watch stream that fails sets its endpoint aside; the caller watches again, elsewhere.
   */
  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    let endpoint: Endpoint | undefined;
    const watcher = await this.call("write", async (client, deadline) => {
      endpoint = this.pool.endpoints.find((e) => e.client === client);
      const w = client.etcd.watch().prefix(prefix).startRevision(String(fromRevision)).watcher();
      this.watchers.add(w);
      try {
        await withDeadline(
          new Promise<void>((resolve, reject) => {
            w.once("connected", () => resolve());
            w.once("error", reject);
          }),
          deadline,
        );
        return w;
      } catch (err) {
        this.dropWatcher(w);
        throw err;
      }
    });
    const setAside = () => {
      if (endpoint !== undefined && !this.closed) this.pool.aside(endpoint);
    };
    watcher.on("data", (res) => {
      const events: WatchEvent[] = res.events.map((e) => ({
        type: e.type === "Delete" ? "delete" : "put",
        kv: toKeyValue(e.kv),
      }));
      if (events.length > 0) handlers.events(events, Number(res.header.revision));
    });
    watcher.on("error", (err) => {
      // etcd cancels a watch on a compacted revision with an empty reason; etcd3 passes only the reason on.
      if (/compacted|Watcher canceled:\s*$/i.test(err.message)) handlers.compacted(fromRevision);
      else {
        if (isEndpointFailure(err)) setAside();
        handlers.error(translateEtcdError(err, { endpoints: this.endpoints, timeoutMs: 0 }));
      }
    });
    // etcd3 resumes by itself from its last header revision, which can skip events of a broken
    // catch-up; telling the caller lets it re-create the watch from the revision it really saw.
    watcher.on("disconnected", (err) => {
      setAside();
      // The caller watches again from the revision it saw; this watcher must not resume by itself
      // too, or the same events arrive twice.
      this.dropWatcher(watcher);
      handlers.error(translateEtcdError(err, { endpoints: this.endpoints, timeoutMs: 0 }));
    });
    return {
      cancel: async () => {
        this.watchers.delete(watcher);
        // A frozen endpoint never confirms a cancel: wait at most the command timeout.
        const deadline = Date.now() + this.opts.commandTimeoutMs;
        await withDeadline(watcher.cancel(), deadline).catch(() => undefined);
      },
    };
  }

  private dropWatcher(w: Watcher): void {
    this.watchers.delete(w);
    w.removeAllListeners();
    w.on("error", () => undefined);
    void withDeadline(w.cancel(), Date.now() + this.opts.commandTimeoutMs).catch(() => undefined);
  }

  compact(revision: number): Promise<void> {
    return this.call("write", async ({ etcd }, deadline) => {
      await etcd.kv.compact({ revision, physical: true }, { deadline });
    });
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
            memberId: res.header.member_id,
            leaderId: String(res.leader),
            dbSize: Number(res.dbSize),
            revision: Number(res.header.revision),
            raftTerm: Number(res.raftTerm),
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
    for (const w of [...this.watchers]) this.dropWatcher(w);
    for (const e of this.pool.endpoints) closeChannels(e.client.etcd);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
