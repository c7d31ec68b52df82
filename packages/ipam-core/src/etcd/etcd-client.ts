/**
 * What the store asks of one endpoint, whichever transport carries it: podnet's own over
 * node:http2 (h2/h2-client.ts, the default) or etcd3's over grpc-js (etcd3-client.ts). The
 * store does the fail-over, paging, checks and error sentences; a client makes one attempt.
 */

import type { StatusReply } from "./h2/maintenance-messages.js";
import type { RangeReply } from "./reply-decoders.js";
import type { Compare, KeyValue, Op, TxnResult, Watch, WatchEvent } from "./store.js";

/** The range requests podnet makes (rpc.proto RangeRequest's fields it sets). */
export interface RangeQuery {
  readonly key: Buffer;
  readonly rangeEnd?: Buffer;
  readonly limit?: number;
  readonly revision?: number;
  readonly keysOnly?: boolean;
}

/** A transaction: `success` runs if every compare holds, else `failure`. */
export interface TxnRequest {
  readonly compares: readonly Compare[];
  readonly success: readonly Op[];
  readonly failure: readonly Op[];
}

/** Where a watch starts: every key under `prefix`, from `fromRevision` on. */
export interface WatchStart {
  readonly prefix: string;
  readonly fromRevision: number;
}

/** What a client's watch reports; the store turns errors into sentences. */
export interface ClientWatchHandlers {
  events(events: readonly WatchEvent[], revision: number): void;
  /** The revision asked for is compacted; `compactRevision` is etcd's, when the transport has it. */
  compacted(compactRevision?: number): void;
  /** The stream failed; `lost` says the endpoint should be set aside. */
  error(err: unknown, lost: boolean): void;
}

/** One endpoint's calls; each makes one attempt by `deadline`. */
export interface EtcdClient {
  /** Whatever must happen before a call may dial (etcd3: a bounded TLS handshake); may be a no-op. */
  ready(deadline: number): Promise<void>;
  /** One key at `revision` (latest when undefined) and the reply's revision. */
  get(
    key: string,
    revision: number | undefined,
    deadline: number,
  ): Promise<{ revision: number; kv: KeyValue | undefined }>;
  /**
   * One page of a range, fetched and not yet read: the store walks it after the call (outside
   * any fail-over), so pages fetched at once are visited in key order, each once.
   */
  range(query: RangeQuery, deadline: number): Promise<RangeReply>;
  /** How many keys a range holds, and the reply's revision. */
  count(query: RangeQuery, deadline: number): Promise<{ revision: number; count: number }>;
  txn(request: TxnRequest, deadline: number): Promise<TxnResult>;
  /**
   * Grants lease `id` (chosen by the store, so a retry asks for the same lease); returns the
   * reply's header revision (etcd's revision when it applied the grant; 0 when not told) and
   * the TTL granted.
   */
  grant(ttlSeconds: number, id: string, deadline: number): Promise<{ revision: number; ttl: number }>;
  revoke(id: string, deadline: number): Promise<void>;
  keepAliveOnce(id: string, deadline: number): Promise<number>;
  timeToLive(id: string, deadline: number): Promise<number>;
  /** The keys attached to lease `id`; empty when it has none or is gone. */
  leaseKeys(id: string, deadline: number): Promise<string[]>;
  /** The TTLs of `ids`, `concurrency` calls in flight; undefined when this client cannot pipeline them. */
  timeToLiveMany?(
    ids: readonly string[],
    deadline: number,
    concurrency: number,
  ): Promise<Map<string, number>>;
  compact(revision: number, deadline: number): Promise<void>;
  status(deadline: number): Promise<StatusReply>;
  /** Watches `prefix` from `fromRevision`; resolves once etcd confirms the watch. */
  watch(where: WatchStart, handlers: ClientWatchHandlers, deadline: number): Promise<Watch>;
  /** Ends every call and connection of this client now. */
  close(): void;
}
