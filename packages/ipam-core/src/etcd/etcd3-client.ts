/**
 * The grpc-js transport: one etcd3 client per endpoint (PODNET_ETCD_TRANSPORT=grpc-js, and the
 * h2 transport's watches until they have their own stream). Loaded only by dynamic import, so
 * commands on the h2 transport never evaluate etcd3, grpc-js, protobufjs or cockatiel.
 */
import { createRequire } from "node:module";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Etcd3, IKeyValue, IOptions, IRangeResponse, IRequestOp } from "etcd3";
import { PodnetError } from "../errors.js";
import type { ResolvedConnectionOptions } from "./connection.js";
import { withDeadline } from "./endpoint-pool.js";
import type { ClientWatchHandlers, EtcdClient, RangeQuery, TxnRequest, WatchStart } from "./etcd-client.js";
import { isEndpointFailure } from "./etcd-errors.js";
import { closeChannels, type FastPath, fastPathOf, hasLiveConnection } from "./etcd3-internals.js";
import { livenessFor } from "./h2/liveness.js";
import { ipLiteralOf } from "./ip-literal.js";
import { type RangeReply, type RangeWalk, rangeReplyOf } from "./reply-decoders.js";
import type { Compare, KeyValue, KeyValueCursor, Op, TxnResult, Watch, WatchEvent } from "./store.js";
import { type TlsMaterial, tlsHandshake } from "./tls-preflight.js";

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

const toKeyValue = (kv: IKeyValue): KeyValue => ({
  key: kv.key.toString(),
  value: kv.value,
  createRevision: Number(kv.create_revision),
  modRevision: Number(kv.mod_revision),
  version: Number(kv.version),
  lease: kv.lease ?? "0",
});

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
  return summaryOf(res);
}

/** What a decoded page held besides its keys. */
function summaryOf(res: IRangeResponse): RangeWalk {
  const last = res.kvs[res.kvs.length - 1];
  return {
    revision: Number(res.header.revision),
    more: res.more,
    count: res.kvs.length,
    ...(last !== undefined && { lastKey: Buffer.from(last.key) }),
  };
}

/** etcd3's request shape of a range query. */
const rangeRequest = (q: RangeQuery) => ({
  key: q.key,
  ...(q.rangeEnd !== undefined && { range_end: q.rangeEnd }),
  ...(q.limit !== undefined && { limit: q.limit }),
  ...(q.revision !== undefined && { revision: q.revision }),
  ...(q.keysOnly === true && { keys_only: true }),
});

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

const toCompare = (c: Compare) => {
  const key = Buffer.from(c.key);
  if ("modRevision" in c)
    return { key, target: "Mod" as const, result: "Equal" as const, mod_revision: c.modRevision };
  if ("lease" in c) return { key, target: "Lease" as const, result: "Equal" as const, lease: c.lease };
  return { key, target: "Value" as const, result: "Equal" as const, value: Buffer.from(c.value) };
};

/** The resolved connection an etcd3 client is built from. */
export interface Etcd3Setup {
  readonly opts: ResolvedConnectionOptions;
  readonly user: { username: string; password: string } | undefined;
  /** TLS material for https:// endpoints; undefined for http://. */
  readonly tls: TlsMaterial | undefined;
}

/** One etcd3 client per endpoint; `warn` gets one line when etcd3's internals changed. */
export async function createEtcd3Clients(setup: Etcd3Setup, urls: readonly string[]): Promise<EtcdClient[]> {
  const [etcd3, cockatiel] = await Promise.all([import("etcd3"), import("cockatiel")]);
  const { opts, user, tls } = setup;
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
      "grpc.keepalive_time_ms": livenessFor(dialTimeoutMs).intervalMs,
      "grpc.keepalive_timeout_ms": livenessFor(dialTimeoutMs).timeoutMs,
    },
  };
  if (tls !== undefined) {
    // grpc uses the system's roots when no CA is given; flannel ignored a lone CA file, podnet does not.
    options.credentials = {
      rootCertificate: tls.ca as Buffer,
      ...(tls.key !== undefined ? { privateKey: tls.key } : {}),
      ...(tls.cert !== undefined ? { certChain: tls.cert } : {}),
    };
  }
  if (user !== undefined) {
    // A factory: each authentication (also a token refresh hours later) gets a fresh deadline.
    options.auth = {
      ...user,
      callOptions: (() => ({ deadline: Date.now() + dialTimeoutMs })) as never,
    };
  }
  const insecure = tls?.insecure === true;
  const clients = urls.map((url) => {
    const ip = tls !== undefined ? ipLiteralOf(url) : undefined;
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
    return { url, etcd: verify === undefined ? build() : withVerifyOptions(build, verify) };
  });
  const isInvalidToken = (err: unknown) => err instanceof etcd3.EtcdInvalidAuthTokenError;
  const fast =
    opts.fastDecode === false
      ? []
      : clients.map((c) => fastPathOf(c.etcd, etcd3.castGrpcError, isInvalidToken));
  const missing = fast.find((f): f is string => typeof f === "string");
  if (missing !== undefined) {
    (opts.onWarning ?? ((m: string) => process.emitWarning(m)))(
      `etcd3's internals changed (${missing}): listings and TTL look-ups use the slower protobufjs decoding`,
    );
  }
  return clients.map(
    (c, i) =>
      new Etcd3Client(
        c.url,
        c.etcd,
        missing === undefined ? (fast[i] as FastPath | undefined) : undefined,
        tls,
        opts.commandTimeoutMs,
      ),
  );
}

/** One endpoint over etcd3 (and its fast path when etcd3's shapes allow). */
class Etcd3Client implements EtcdClient {
  private handshake: Promise<void> | undefined;
  private readonly watchers = new Set<import("etcd3").Watcher>();

  constructor(
    private readonly url: string,
    private readonly etcd: Etcd3,
    private readonly fast: FastPath | undefined,
    private readonly tls: TlsMaterial | undefined,
    private readonly cancelTimeoutMs: number,
  ) {}

  /**
   * Before grpc-js dials an https:// endpoint, one handshake of our own within the deadline
   * (see tls-preflight.ts); endpoints with a live connection go straight through.
   */
  ready(deadline: number): Promise<void> {
    if (this.tls === undefined || hasLiveConnection(this.etcd)) return Promise.resolve();
    this.handshake ??= tlsHandshake(this.url, this.tls, deadline).finally(() => {
      this.handshake = undefined;
    });
    return withDeadline(this.handshake, deadline);
  }

  async get(key: string, revision: number | undefined, deadline: number) {
    const res = await this.etcd.kv.range(
      { key: Buffer.from(key), ...(revision !== undefined ? { revision } : {}) },
      { deadline },
    );
    const kv = res.kvs[0];
    return { revision: Number(res.header.revision), kv: kv ? toKeyValue(kv) : undefined };
  }

  async range(query: RangeQuery, deadline: number): Promise<RangeReply> {
    const req = rangeRequest(query);
    if (this.fast !== undefined) return rangeReplyOf(await this.fast.rangeRaw(req, deadline));
    const res = await this.etcd.kv.range(req, { deadline });
    return { walk: (visit) => walkKeyValues(res, visit), peek: () => summaryOf(res) };
  }

  async count(query: RangeQuery, deadline: number) {
    const res = await this.etcd.kv.range({ ...rangeRequest(query), count_only: true }, { deadline });
    return { revision: Number(res.header.revision), count: Number(res.count) };
  }

  async txn({ compares, success, failure }: TxnRequest, deadline: number): Promise<TxnResult> {
    const request = {
      compare: compares.map(toCompare),
      success: success.map(toOp),
      failure: failure.map(toOp),
    };
    const res = await this.etcd.kv.txn(request, { deadline });
    const gets = res.responses
      .filter((r) => r.response_range !== undefined && r.response_range !== null)
      .map((r) => {
        const kv = r.response_range?.kvs[0];
        return kv !== undefined ? toKeyValue(kv) : undefined;
      });
    return { succeeded: res.succeeded, revision: Number(res.header.revision), gets };
  }

  async grant(ttlSeconds: number, id: string, deadline: number): Promise<{ revision: number; ttl: number }> {
    const res = await this.etcd.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: id }, { deadline });
    return { revision: Number(res.header.revision), ttl: Number(res.TTL) };
  }

  async revoke(id: string, deadline: number): Promise<void> {
    await this.etcd.leaseClient.leaseRevoke({ ID: id }, { deadline });
  }

  async keepAliveOnce(id: string, deadline: number): Promise<number> {
    const stream = await this.etcd.leaseClient.leaseKeepAlive({ deadline });
    try {
      const answer = new Promise<number>((resolve, reject) => {
        stream.on("data", (res: { TTL: string }) => resolve(Number(res.TTL)));
        stream.on("error", (err: Error) => reject(err));
      });
      stream.write({ ID: id });
      return await answer;
    } finally {
      stream.end();
    }
  }

  async timeToLive(id: string, deadline: number): Promise<number> {
    const res = await this.etcd.leaseClient.leaseTimeToLive({ ID: id }, { deadline });
    return Number(res.TTL);
  }

  async leaseKeys(id: string, deadline: number): Promise<string[]> {
    const res = await this.etcd.leaseClient.leaseTimeToLive({ ID: id, keys: true }, { deadline });
    return Number(res.TTL) < 0 ? [] : (res.keys ?? []).map((k) => Buffer.from(k).toString("utf8"));
  }

  get timeToLiveMany(): EtcdClient["timeToLiveMany"] {
    const fast = this.fast;
    return fast === undefined
      ? undefined
      : (ids, deadline, concurrency) => fast.timeToLiveMany(ids, deadline, concurrency);
  }

  async compact(revision: number, deadline: number): Promise<void> {
    await this.etcd.kv.compact({ revision, physical: true }, { deadline });
  }

  async status(deadline: number) {
    const res = await this.etcd.maintenance.status({ deadline });
    return {
      memberId: res.header.member_id,
      revision: Number(res.header.revision),
      version: res.version,
      dbSize: Number(res.dbSize),
      leader: String(res.leader),
      raftTerm: Number(res.raftTerm),
    };
  }

  async watch(where: WatchStart, handlers: ClientWatchHandlers, deadline: number): Promise<Watch> {
    const { prefix, fromRevision } = where;
    const watcher = this.etcd.watch().prefix(prefix).startRevision(String(fromRevision)).watcher();
    this.watchers.add(watcher);
    try {
      await withDeadline(
        new Promise<void>((resolve, reject) => {
          watcher.once("connected", () => resolve());
          watcher.once("error", reject);
        }),
        deadline,
      );
    } catch (err) {
      this.dropWatcher(watcher);
      throw err;
    }
    watcher.on("data", (res) => {
      const events: WatchEvent[] = res.events.map((e) => ({
        type: e.type === "Delete" ? "delete" : "put",
        kv: toKeyValue(e.kv),
      }));
      if (events.length > 0) handlers.events(events, Number(res.header.revision));
    });
    watcher.on("error", (err) => {
      // etcd cancels a watch on a compacted revision with an empty reason; etcd3 passes only the reason on.
      if (/compacted|Watcher canceled:\s*$/i.test(err.message)) handlers.compacted();
      else handlers.error(err, isEndpointFailure(err));
    });
    // etcd3 resumes by itself from its last header revision, which can skip events of a broken
    // catch-up; telling the caller lets it re-create the watch from the revision it really saw.
    watcher.on("disconnected", (err) => {
      // The caller watches again from the revision it saw; this watcher must not resume by itself
      // too, or the same events arrive twice.
      this.dropWatcher(watcher);
      handlers.error(err, true);
    });
    return {
      cancel: async () => {
        this.watchers.delete(watcher);
        // A frozen endpoint never confirms a cancel: wait at most the command timeout.
        await withDeadline(watcher.cancel(), Date.now() + this.cancelTimeoutMs).catch(() => undefined);
      },
    };
  }

  private dropWatcher(w: import("etcd3").Watcher): void {
    this.watchers.delete(w);
    w.removeAllListeners();
    w.on("error", () => undefined);
    void withDeadline(w.cancel(), Date.now() + this.cancelTimeoutMs).catch(() => undefined);
  }

  close(): void {
    for (const w of [...this.watchers]) this.dropWatcher(w);
    closeChannels(this.etcd);
  }
}
