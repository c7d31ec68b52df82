/**
 * podnet's own small view of etcd: what the registry and the config store need, and nothing
 * of the client library behind it. Revisions are numbers (etcd's int64 revisions never get
 * near 2^53); lease ids are decimal strings because etcd hands out random 64-bit ids.
 */
import type { RangeWalk, ReplyBytes } from "./reply-decoders.js";

/** One key as etcd holds it. */
export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The etcd lease the key is attached to; "0" when none. */
  readonly lease: string;
}

/** A condition of a transaction; every compare is "equal". */
export type Compare =
  /** The key's last modification revision; 0 means the key must not exist. */
  | { readonly key: string; readonly modRevision: number }
  /** The key's etcd lease; "0" means the key has none. */
  | { readonly key: string; readonly lease: string }
  /** The key's exact value. */
  | { readonly key: string; readonly value: Buffer | string };

/** One operation of a transaction. */
export type Op =
  | { readonly put: string; readonly value: Buffer | string; readonly lease?: string }
  | { readonly delete: string }
  /** Reads one key inside the transaction (a failed compare's branch can say what won). */
  | { readonly get: string };

/** The outcome of a transaction. */
export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (the write's revision when it succeeded). */
  readonly revision: number;
  /** What each `get` op of the branch that ran found, in order; undefined for a missing key. */
  readonly gets: readonly (KeyValue | undefined)[];
}

/**
 * One key of a {@link Store.scan}, without an object per key: offsets into the reply's bytes.
 * The same cursor is reused for every key; read what you need inside the visit.
 */
export interface KeyValueCursor {
  /** The reply the offsets point into (valid only during the visit). */
  readonly buf: Buffer;
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly valueStart: number;
  readonly valueEnd: number;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Whether the key is attached to an etcd lease. */
  readonly hasLease: boolean;
  /** The key's etcd lease as a decimal string; "0" when none (computed on call). */
  lease(): string;
  /**
   * Where the lease id's varint is in `buf` when the cursor reads a reply's bytes (-1 or
   * absent otherwise): readers that keep ids as numbers read it there instead of `lease()`.
   */
  readonly leaseAt?: number;
}

/**
 * A {@link Store.scan} visitor: a function of each key's cursor, which may also offer `reply`,
 * a reader of a whole RangeResponse's bytes that visits them itself (the lease table's bulk
 * reader); a store that has a reply's bytes hands them to it instead of visiting key by key.
 */
export type ScanVisitor = ((kv: KeyValueCursor) => void) & {
  /** Reads a whole RangeResponse (its bytes, whole or in the pieces they came in); the keys it visited and what the reply said. */
  readonly reply?: (bytes: ReplyBytes) => RangeWalk;
};

/** How a {@link Store.scan} or {@link Store.list} reads its prefix. */
export interface ScanOptions {
  /** The snapshot to read; default the latest. */
  readonly revision?: number;
  readonly keysOnly?: boolean;
  /**
   * Called after each page read with the keys so far; `last` on the final one (for progress
   * lines). `share`, where the store knows it: the part of the scan's sub-ranges read whole so
   * far (0 to 1), from which a caller may project what the whole listing will hold.
   */
  readonly onPage?: (keys: number, last: boolean, share?: number) => void;
  /**
   * Keys to cut the prefix at: the sub-ranges between them are fetched at once, at one
   * revision, and still visited in key order (only the speed depends on where the cuts fall;
   * ones outside the prefix are ignored). See scan-splits.ts for a lease directory's cuts.
   */
  readonly splits?: readonly string[];
}

/** What a scan saw: its snapshot revision and how many keys it visited. */
export interface ScanResult {
  readonly revision: number;
  readonly count: number;
}

/** What a read returns with its snapshot revision. */
export interface ReadResult<T> {
  readonly revision: number;
  readonly value: T;
}

/** An event of a watch. */
export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly kv: KeyValue;
}

/** Callbacks of a watch over a prefix. */
export interface WatchHandlers {
  /** A batch of events, all at or below `revision`. */
  events(events: readonly WatchEvent[], revision: number): void;
  /** The revision the watch asked for was compacted: re-list, then watch again. */
  compacted(compactRevision: number): void;
  /** The stream failed; the watcher should reconnect. */
  error(err: Error): void;
}

/** A running watch. */
export interface Watch {
  /** Stops the watch; no handler is called once it resolves. */
  cancel(): Promise<void>;
}

/** Health and identity of one endpoint. */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly version: string;
  readonly memberId: string;
  readonly leaderId: string;
  readonly dbSize: number;
  readonly revision: number;
  readonly raftTerm: number;
}

/**
 * A granted etcd lease, the revision it was granted at and the TTL etcd gave it (etcd may raise a
 * TTL below its minimum); both 0 when not known: a retry found the first attempt's lease.
 */
export interface Grant {
  readonly lease: string;
  readonly revision: number;
  readonly ttl: number;
}

/** The store podnet uses; one implementation talks to etcd, tests may pass a fake to pure code. */
export interface Store {
  /** The endpoints this store talks to, for messages. */
  readonly endpoints: readonly string[];
  /** One key (at `revision`, default the latest); `value` is undefined when it does not exist. */
  get(key: string, opts?: { revision?: number }): Promise<ReadResult<KeyValue | undefined>>;
  /** Every key under `prefix`, sorted by key, in one consistent snapshot. */
  list(prefix: string, opts?: ScanOptions): Promise<ReadResult<KeyValue[]>>;
  /**
   * Every key under `prefix`, sorted by key, in one consistent snapshot, visited one by one
   * through a reused cursor: for views that build compact structures instead of an object per key.
   */
  scan(prefix: string, visit: ScanVisitor, opts?: ScanOptions): Promise<ScanResult>;
  /**
   * How many keys are under `prefix` (at `revision`, default the latest). etcd counts from its
   * in-memory index without reading a value, so this stays cheap at any size. (etcd 3.4 ignores
   * min/max revision filters on a count, which is why there is no "written since" count.)
   */
  count(prefix: string, opts?: { revision?: number }): Promise<ReadResult<number>>;
  /** An etcd transaction: `success` runs if every compare holds, else `failure`; atomically. */
  txn(compares: readonly Compare[], success: readonly Op[], failure?: readonly Op[]): Promise<TxnResult>;
  /** Grants an etcd lease; returns its id. */
  grant(ttlSeconds: number): Promise<string>;
  /**
   * {@link grant}, also telling etcd's revision when it applied the grant: every write that
   * committed before the call is at or below it (the grant goes through raft, as a write does).
   */
  grantAt(ttlSeconds: number): Promise<Grant>;
  /** Revokes an etcd lease (and deletes its keys); a lease already gone is not an error. */
  revoke(lease: string): Promise<void>;
  /** Renews a lease once; returns the remaining TTL in seconds, 0 when the lease is gone. */
  keepAliveOnce(lease: string): Promise<number>;
  /** The remaining TTL of a lease in seconds; -1 when it does not exist (expired or revoked). */
  timeToLive(lease: string): Promise<number>;
  /** The keys attached to a lease (empty when it has none or does not exist): who a revoke would delete. */
  leaseKeys(lease: string): Promise<string[]>;
  /** The remaining TTLs of many leases (each once), in as few round trips as the transport allows. */
  timeToLiveMany(leases: readonly string[]): Promise<Map<string, number>>;
  /** Watches every key under `prefix` from `fromRevision` on. */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  /** Compacts history up to `revision` (tests and maintenance). */
  compact(revision: number): Promise<void>;
  /** Status of each endpoint; an unreachable one is reported as an Error in its place. */
  status(): Promise<(EndpointStatus | { endpoint: string; error: Error })[]>;
  /** Closes the connection. */
  close(): void;
  /**
   * Calls `listener` once when {@link close} is called, for a store that can tell (EtcdStore
   * does): a registry's keepAlive loops and a lease watch stop then, saying so, instead of
   * waiting for their next renewal or never hearing of it. Returns what unsubscribes it.
   */
  onClose?(listener: () => void): () => void;
  /** Closes the connection, for `await using store = await connect(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}
