import { readFile } from "node:fs/promises";
import type { Etcd3, IKeyValue, IOptions, IRequestOp } from "etcd3";
import { PodnetError } from "../errors.js";
import { type ConnectionOptions, normaliseEndpoints, wantsTls } from "./connection.js";
import { translateEtcdError } from "./etcd-errors.js";
import type {
  Compare,
  EndpointStatus,
  KeyValue,
  Op,
  ReadResult,
  Store,
  TxnResult,
  Watch,
  WatchEvent,
  WatchHandlers,
} from "./store.js";

/**
 * Connects to etcd and checks that it answers within the dial timeout (and accepts the
 * credentials), so that every later failure is a real one and not a slow start.
 */
export async function connect(opts: ConnectionOptions): Promise<Store> {
  const tls = wantsTls(opts);
  const endpoints = normaliseEndpoints(opts.endpoints, tls);
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    throw new PodnetError("usage", "--cert and --key go together; give both or neither");
  }
  const [caFile, certFile, keyFile] = await Promise.all([
    readPem(opts.caFile, "--cacert"),
    readPem(opts.certFile, "--cert"),
    readPem(opts.keyFile, "--key"),
  ]);
  // Loaded here, not at module load: commands that never touch etcd start without grpc.
  const [{ Etcd3 }, cockatiel] = await Promise.all([import("etcd3"), import("cockatiel")]);
  const options: IOptions = {
    hosts: endpoints,
    dialTimeout: opts.dialTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + opts.commandTimeoutMs }),
    faultHandling: {
      // Try each endpoint once per call; a dead member must not make the call fail.
      global: cockatiel.retry(cockatiel.handleWhen(isUnavailable), { maxAttempts: endpoints.length - 1 }),
      host: () => cockatiel.noop,
      // etcd3 types this as an IBackoff but uses it as cockatiel's factory, its own default.
      watchBackoff: new cockatiel.ExponentialBackoff({ initialDelay: 100, maxDelay: 5000 }) as never,
    },
    grpcOptions: {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
      // Listings are paged, but a watch catching up after an outage can still bring a large batch.
      "grpc.max_receive_message_length": -1,
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
  if (opts.user !== undefined) {
    const colon = opts.user.indexOf(":");
    const username = colon >= 0 && opts.password === undefined ? opts.user.slice(0, colon) : opts.user;
    const password = colon >= 0 && opts.password === undefined ? opts.user.slice(colon + 1) : opts.password;
    if (password === undefined) {
      throw new PodnetError(
        "usage",
        `no password for etcd user "${username}"; set PODNET_PASSWORD or --password-file`,
      );
    }
    options.auth = { username, password, callOptions: { deadline: Date.now() + opts.dialTimeoutMs } };
  }
  const client = new Etcd3(options);
  const store = new EtcdStore(client, endpoints, opts);
  try {
    await store.probe(opts.dialTimeoutMs);
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}

async function readPem(path: string | undefined, flag: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new PodnetError("usage", `cannot read ${flag} file ${path} (${code})`);
  }
}

function isUnavailable(err: Error): boolean {
  return /Unavailable|No connection established|ECONNREFUSED/i.test(`${err.constructor.name} ${err.message}`);
}

/** Keys per range request of a listing. */
const LIST_PAGE = 5000;

const toKeyValue = (kv: IKeyValue): KeyValue => ({
  key: kv.key.toString(),
  value: kv.value,
  createRevision: Number(kv.create_revision),
  modRevision: Number(kv.mod_revision),
  version: Number(kv.version),
  lease: kv.lease ?? "0",
});

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

class EtcdStore implements Store {
  readonly endpoints: readonly string[];
  constructor(
    private readonly client: Etcd3,
    endpoints: readonly string[],
    private readonly opts: ConnectionOptions,
  ) {
    this.endpoints = endpoints;
  }

  private async call<T>(run: () => Promise<T>, key?: string): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw translateEtcdError(err, {
        endpoints: this.endpoints,
        timeoutMs: this.opts.commandTimeoutMs,
        ...(key !== undefined ? { key } : {}),
      });
    }
  }

  async probe(timeoutMs: number): Promise<void> {
    try {
      await this.client.maintenance.status({ deadline: Date.now() + timeoutMs });
      if (this.opts.user !== undefined) {
        // Status needs no credentials; a range does, so a wrong password shows here and not later.
        await this.client.kv.range(
          { key: Buffer.from("\0podnet-probe"), count_only: true },
          { deadline: Date.now() + timeoutMs },
        );
      }
    } catch (err) {
      const translated = translateEtcdError(err, { endpoints: this.endpoints, timeoutMs });
      // A limited user may not read the probe key; that still proves the credentials work.
      if (translated.code === "permission" && /denied permission/.test(translated.message)) return;
      throw translated;
    }
  }

  get(key: string, opts?: { revision?: number }): Promise<ReadResult<KeyValue | undefined>> {
    return this.call(async () => {
      const res = await this.client.kv.range({
        key: Buffer.from(key),
        ...(opts?.revision !== undefined ? { revision: opts.revision } : {}),
      });
      const kv = res.kvs[0];
      return { revision: Number(res.header.revision), value: kv ? toKeyValue(kv) : undefined };
    }, key);
  }

  list(prefix: string, opts?: { revision?: number; keysOnly?: boolean }): Promise<ReadResult<KeyValue[]>> {
    return this.call(async () => {
      // Pages at one pinned revision: one consistent snapshot, but neither a reply over grpc's
      // message limit nor one huge decode (65,000 leases are ~12 MB on the wire, ~160 MB decoded).
      const end = prefixEnd(prefix);
      const out: KeyValue[] = [];
      let from = Buffer.from(prefix);
      let revision = opts?.revision;
      for (;;) {
        const res = await this.client.kv.range({
          key: from,
          range_end: end,
          limit: LIST_PAGE,
          ...(revision !== undefined ? { revision } : {}),
          ...(opts?.keysOnly ? { keys_only: true } : {}),
        });
        revision ??= Number(res.header.revision);
        for (const kv of res.kvs) out.push(toKeyValue(kv));
        const last = res.kvs[res.kvs.length - 1];
        if (!res.more || last === undefined) break;
        from = Buffer.concat([last.key, Buffer.from([0])]);
      }
      return { revision, value: out };
    }, prefix);
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
        : { request_delete_range: { key: Buffer.from(op.delete) } };
    const compare = compares.map((c) => {
      const key = Buffer.from(c.key);
      if ("modRevision" in c)
        return { key, target: "Mod" as const, result: "Equal" as const, mod_revision: c.modRevision };
      if ("lease" in c) return { key, target: "Lease" as const, result: "Equal" as const, lease: c.lease };
      return { key, target: "Value" as const, result: "Equal" as const, value: Buffer.from(c.value) };
    });
    const firstKey = success[0] ? ("put" in success[0] ? success[0].put : success[0].delete) : undefined;
    return this.call(async () => {
      const res = await this.client.kv.txn({
        compare,
        success: success.map(toOp),
        failure: failure.map(toOp),
      });
      return { succeeded: res.succeeded, revision: Number(res.header.revision) };
    }, firstKey);
  }

  grant(ttlSeconds: number): Promise<string> {
    return this.call(async () => {
      const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
      return String(res.ID);
    });
  }

  revoke(lease: string): Promise<void> {
    return this.call(async () => {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: lease });
      } catch (err) {
        if (/lease not found/i.test(err instanceof Error ? err.message : String(err))) return;
        throw err;
      }
    });
  }

  keepAliveOnce(lease: string): Promise<number> {
    return this.call(async () => {
      const stream = await this.client.leaseClient.leaseKeepAlive();
      try {
        const answer = new Promise<number>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error("Deadline exceeded waiting for keepalive")),
            this.opts.commandTimeoutMs,
          );
          stream.on("data", (res: { TTL: string }) => {
            clearTimeout(timer);
            resolve(Number(res.TTL));
          });
          stream.on("error", (err: Error) => {
            clearTimeout(timer);
            reject(err);
          });
        });
        stream.write({ ID: lease });
        return await answer;
      } finally {
        stream.end();
      }
    });
  }

  timeToLive(lease: string): Promise<number> {
    return this.call(async () => {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: lease });
      return Number(res.TTL);
    });
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    const watcher = await this.call(() =>
      this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create(),
    );
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
      else handlers.error(translateEtcdError(err, { endpoints: this.endpoints, timeoutMs: 0 }));
    });
    // etcd3 resumes by itself from its last header revision, which can skip events of a broken
    // catch-up; telling the caller lets it re-create the watch from the revision it really saw.
    watcher.on("disconnected", (err) => {
      handlers.error(translateEtcdError(err, { endpoints: this.endpoints, timeoutMs: 0 }));
    });
    return {
      cancel: async () => {
        await watcher.cancel().catch(() => undefined);
      },
    };
  }

  compact(revision: number): Promise<void> {
    return this.call(async () => {
      await this.client.kv.compact({ revision, physical: true });
    });
  }

  async status(): Promise<(EndpointStatus | { endpoint: string; error: Error })[]> {
    const { Etcd3 } = await import("etcd3");
    return Promise.all(
      this.endpoints.map(async (endpoint) => {
        // One client per endpoint, since the shared client balances calls across all of them.
        const one = new Etcd3({ ...this.baseOptions(), hosts: [endpoint] });
        try {
          const res = await one.maintenance.status({ deadline: Date.now() + this.opts.dialTimeoutMs });
          return {
            endpoint,
            version: res.version,
            memberId: res.header.member_id,
            leaderId: String(res.leader),
            dbSize: Number(res.dbSize),
            revision: Number(res.header.revision),
            raftTerm: Number(res.raftTerm),
          };
        } catch (err) {
          return {
            endpoint,
            error: translateEtcdError(err, { endpoints: [endpoint], timeoutMs: this.opts.dialTimeoutMs }),
          };
        } finally {
          one.close();
        }
      }),
    );
  }

  private baseOptions(): IOptions {
    // biome-ignore lint/suspicious/noExplicitAny: etcd3 keeps its options private; we reuse them as given.
    return (this.client as any).options as IOptions;
  }

  close(): void {
    this.client.close();
  }
}
