import { describe, expect, it } from "vitest";
import { DeadlineError } from "./endpoint-pool.js";
import { bestError, isEndpointFailure, translateEtcdError } from "./etcd-errors.js";

const ctx = { endpoints: ["http://a:1", "http://b:1"], timeoutMs: 2000 };
const sentence = (msg: string, key?: string) =>
  translateEtcdError(new Error(msg), { ...ctx, ...(key !== undefined ? { key } : {}) });

describe("translateEtcdError", () => {
  it("says whether an endpoint was silent or refused the connection", () => {
    expect(translateEtcdError(new DeadlineError(), ctx).message).toBe(
      "cannot reach etcd at http://a:1,http://b:1 within 2s; is etcd running and are the endpoints right?",
    );
    expect(
      sentence("14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED").message,
    ).toMatch(/^cannot reach etcd at http:\/\/a:1,http:\/\/b:1: connection refused;/);
  });

  it("turns etcd's size and TTL refusals into sentences with the numbers", () => {
    const ttl = sentence("11 OUT_OF_RANGE: etcdserver: too large lease TTL");
    expect([ttl.code, ttl.message]).toEqual([
      "usage",
      "etcd refused the lease TTL: above its maximum of 9000000000s",
    ]);
    const big = sentence(
      "8 RESOURCE_EXHAUSTED: Received message larger than max (20971661 vs 2097152)",
      "/k",
    );
    expect(big.message).toBe(
      "etcd at http://a:1,http://b:1 refused the write to /k as too large (its default request limit is 1.5 MiB)",
    );
  });

  it("names an endpoint that does not speak gRPC", () => {
    expect(sentence("13 INTERNAL: Received HTTP status code 400").message).toMatch(
      /does not speak etcd's gRPC/,
    );
  });
});

describe("which failures move a call on to another endpoint", () => {
  it("silence and refusals do; etcd's answers do not", () => {
    expect(isEndpointFailure(new DeadlineError())).toBe(true);
    expect(isEndpointFailure(new Error("14 UNAVAILABLE: connect ECONNREFUSED"))).toBe(true);
    expect(isEndpointFailure(new Error("etcdserver: leader changed"))).toBe(true);
    expect(isEndpointFailure(new Error("etcdserver: permission denied"))).toBe(false);
    expect(isEndpointFailure(new Error("etcdserver: mvcc: required revision has been compacted"))).toBe(
      false,
    );
  });

  it("of several endpoints' errors, a TLS refusal tells most; on a tie the later one", () => {
    const tls = new Error("unable to verify the first certificate");
    const refused = new Error("connect ECONNREFUSED");
    const silent = new DeadlineError();
    expect(bestError([silent, tls, refused])).toBe(tls);
    expect(bestError([refused, silent])).toBe(silent);
    expect(bestError([silent, refused])).toBe(refused);
  });
});
