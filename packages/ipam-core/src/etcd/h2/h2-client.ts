/**
 * The h2 transport's client of one endpoint: etcd's KV, Lease and Maintenance calls as podnet's
 * own protobuf over h2/grpc.ts, watches included (h2-watch.ts), so etcd3, grpc-js and
 * protobufjs are never loaded on this transport.
 */

import { DeadlineError } from "../endpoint-pool.js";
import type { ClientWatchHandlers, EtcdClient, RangeQuery, TxnRequest, WatchStart } from "../etcd-client.js";
import { ttlsOf } from "../lease-ttls.js";
import {
  decodeTtl,
  keyValueAt,
  type RangeReply,
  rangeReplyOf,
  walkRangeResponse,
} from "../reply-decoders.js";
import type { KeyValue, TxnResult, Watch } from "../store.js";
import type { H2Endpoint } from "./endpoint.js";
import { GrpcError } from "./grpc.js";
import { type EndpointWatchOptions, watchOnEndpoint } from "./h2-watch.js";
import {
  decodeCount,
  decodeTxn,
  encodeCompaction,
  encodeRange,
  encodeTxn,
  KV_COMPACT,
  KV_RANGE,
  KV_TXN,
} from "./kv-messages.js";
import {
  decodeLeaseKeys,
  decodeLeaseReply,
  encodeLeaseGrant,
  encodeLeaseId,
  encodeLeaseKeysRequest,
  LEASE_GRANT,
  LEASE_KEEPALIVE,
  LEASE_REVOKE,
  LEASE_TTL,
} from "./lease-messages.js";
import { decodeStatus, MAINTENANCE_STATUS, type StatusReply } from "./maintenance-messages.js";
import type { WatchStream } from "./watch-stream.js";

const EMPTY = Buffer.alloc(0);

const rangeOf = (q: RangeQuery, countOnly = false) =>
  encodeRange({
    key: q.key,
    rangeEnd: q.rangeEnd,
    limit: q.limit,
    revision: q.revision,
    keysOnly: q.keysOnly,
    countOnly,
  });

/** One endpoint over podnet's own gRPC; see the file's comment. */
export class H2Client implements EtcdClient {
  /** The watches running on this endpoint, silenced when the client closes. */
  private readonly watches = new Set<WatchStream>();

  constructor(
    private readonly endpoint: H2Endpoint,
    /** How this endpoint's watches run (pings, re-authentication, cancel's bound). */
    private readonly watchOptions: EndpointWatchOptions,
  ) {}

  /** Nothing to prepare: the session's dial is bounded by each call's deadline. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  async get(key: string, revision: number | undefined, deadline: number) {
    let kv: KeyValue | undefined;
    const reply = await this.endpoint.unary(KV_RANGE, encodeRange({ key, revision }), deadline);
    const walk = walkRangeResponse(reply, (c) => {
      kv ??= keyValueAt(c);
    });
    return { revision: walk.revision, kv };
  }

  async range(query: RangeQuery, deadline: number): Promise<RangeReply> {
    // The pieces the reply came in, walked in place: a reply of megabytes is never joined.
    return rangeReplyOf(await this.endpoint.unaryPieces(KV_RANGE, rangeOf(query), deadline));
  }

  async count(query: RangeQuery, deadline: number) {
    return decodeCount(await this.endpoint.unary(KV_RANGE, rangeOf(query, true), deadline));
  }

  async txn({ compares, success, failure }: TxnRequest, deadline: number): Promise<TxnResult> {
    return decodeTxn(await this.endpoint.unary(KV_TXN, encodeTxn(compares, success, failure), deadline));
  }

  async grant(ttlSeconds: number, id: string, deadline: number): Promise<{ revision: number; ttl: number }> {
    const reply = decodeLeaseReply(
      await this.endpoint.unary(LEASE_GRANT, encodeLeaseGrant(ttlSeconds, id), deadline),
    );
    if (reply.error !== "") throw new GrpcError(2, reply.error);
    return { revision: reply.revision, ttl: reply.ttl };
  }

  async revoke(id: string, deadline: number): Promise<void> {
    await this.endpoint.unary(LEASE_REVOKE, encodeLeaseId(id), deadline);
  }

  /** One message on a LeaseKeepAlive stream: the renewed TTL (0 when the lease is gone). */
  keepAliveOnce(id: string, deadline: number): Promise<number> {
    return this.endpoint.withToken(deadline, async (metadata) => {
      let stream: Awaited<ReturnType<H2Endpoint["stream"]>> | undefined;
      const answer = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => stream?.cancel(new DeadlineError()),
          Math.max(0, deadline - Date.now()),
        );
        timer.unref();
        let ttl: number | undefined;
        this.endpoint
          .stream(
            LEASE_KEEPALIVE,
            {
              message: (m) => {
                if (ttl !== undefined) return;
                ttl = decodeLeaseReply(m).ttl;
                clearTimeout(timer);
                resolve(ttl);
                // The answer is in: reset the stream rather than wait for etcd's trailers, which a
                // member cut off right after answering would never send (the session stays held).
                stream?.cancel();
              },
              end: (err) => {
                clearTimeout(timer);
                if (ttl === undefined)
                  reject(err ?? new GrpcError(2, "the keep-alive stream ended without a reply"));
              },
            },
            deadline,
            metadata,
          )
          .then((s) => {
            stream = s;
            // The deadline may have passed while the stream was opening: its timer found none to cancel.
            if (Date.now() >= deadline) {
              s.cancel(new DeadlineError());
              return;
            }
            s.write(encodeLeaseId(id));
          }, reject);
      });
      return answer;
    });
  }

  async timeToLive(id: string, deadline: number): Promise<number> {
    return decodeTtl(await this.endpoint.unary(LEASE_TTL, encodeLeaseId(id), deadline));
  }

  async leaseKeys(id: string, deadline: number): Promise<string[]> {
    return decodeLeaseKeys(await this.endpoint.unary(LEASE_TTL, encodeLeaseKeysRequest(id), deadline));
  }

  /** `concurrency` LeaseTimeToLive calls in flight on the endpoint's one session. */
  async timeToLiveMany(
    ids: readonly string[],
    deadline: number,
    concurrency: number,
  ): Promise<Map<string, number>> {
    return ttlsOf(ids, concurrency, (id) => this.timeToLive(id, deadline));
  }

  async compact(revision: number, deadline: number): Promise<void> {
    await this.endpoint.unary(KV_COMPACT, encodeCompaction(revision, true), deadline);
  }

  async status(deadline: number): Promise<StatusReply> {
    return decodeStatus(await this.endpoint.unary(MAINTENANCE_STATUS, EMPTY, deadline));
  }

  /** A Watch stream of its own on this endpoint's session; see h2-watch.ts. */
  watch(where: WatchStart, handlers: ClientWatchHandlers, deadline: number): Promise<Watch> {
    return watchOnEndpoint(this.endpoint, where, handlers, deadline, this.watchOptions, this.watches);
  }

  close(): void {
    // Silenced first: the session's end must not reach the caller as a failed watch.
    for (const s of this.watches) void s.cancel(Date.now());
    this.watches.clear();
    this.endpoint.close();
  }
}
