/**
 * The h2 transport's watch against real etcds: events exactly as etcd ordered them, a
 * compacted start, cancel, a re-authentication, a frozen member found out by pings, and a watch
 * confirmed after its call gave up cancelled on both transports.
 */
import { connect, type WatchEvent, type WatchHandlers } from "@podnet/ipam-core";
import type { EtcdMember } from "@podnet/test-harness/etcd";
import { freeze, thaw } from "@podnet/test-harness/sick-endpoints";
import { useEtcd } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { afterEach, describe, expect, it } from "vitest";
import { DeadlineError } from "../packages/ipam-core/src/etcd/endpoint-pool.js";
import type { ClientWatchHandlers, EtcdClient } from "../packages/ipam-core/src/etcd/etcd-client.js";
import { createEtcd3Clients } from "../packages/ipam-core/src/etcd/etcd3-client.js";
import type { H2Endpoint } from "../packages/ipam-core/src/etcd/h2/endpoint.js";
import { H2Client } from "../packages/ipam-core/src/etcd/h2/h2-client.js";
import { watchOnEndpoint } from "../packages/ipam-core/src/etcd/h2/h2-watch.js";
import { encodeRange, KV_RANGE } from "../packages/ipam-core/src/etcd/h2/kv-messages.js";
import { decodeRangeResponse } from "../packages/ipam-core/src/etcd/reply-decoders.js";
import { WatchAttempts } from "../packages/ipam-core/src/etcd/watch-attempts.js";
import { endpoint, soon } from "./h2-endpoints.js";

const OPTS = {
  liveness: { intervalMs: 10_000, timeoutMs: 1000 },
  authenticated: false,
  cancelTimeoutMs: 2000,
};

/** Handlers that record what they hear. */
function recorder() {
  const events: { type: string; key: string; value: string; modRevision: number }[] = [];
  const batches: number[] = [];
  const compacted: (number | undefined)[] = [];
  const errors: { err: unknown; lost: boolean }[] = [];
  const handlers: ClientWatchHandlers = {
    events: (batch: readonly WatchEvent[], revision: number) => {
      batches.push(revision);
      for (const e of batch) {
        events.push({
          type: e.type,
          key: e.kv.key,
          value: e.kv.value.toString(),
          modRevision: e.kv.modRevision,
        });
      }
    },
    compacted: (rev) => compacted.push(rev),
    error: (err, lost) => errors.push({ err, lost }),
  };
  return { events, batches, compacted, errors, handlers };
}

/** How many watchers and watch streams the member holds (etcd's own gauges, from its /metrics). */
async function watchersOn(member: EtcdMember): Promise<string> {
  const text = await (await fetch(new URL("/metrics", member.clientUrl))).text();
  const gauge = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
    if (m === null) throw new Error(`etcd's /metrics has no ${name}`);
    return m[1];
  };
  return `${gauge("etcd_debugging_mvcc_watcher_total")} watchers, ${gauge("etcd_debugging_mvcc_watch_stream_total")} streams`;
}

async function revisionOf(e: H2Endpoint): Promise<number> {
  return decodeRangeResponse(await e.unary(KV_RANGE, encodeRange({ key: "/" }), soon())).revision;
}

describe("one etcd", () => {
  const etcd = useEtcd();

  it("delivers the history from the start revision, then live events, each once and in order; cancel stops it", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, dialTimeoutMs: 2000 });
    await etcd().etcdctlOk(["put", "/w1/a", "1"]);
    const start = await revisionOf(e);
    await etcd().etcdctlOk(["put", "/w1/b", "2"]);
    await etcd().etcdctlOk(["put", "/w1x", "outside the prefix"]);
    const r = recorder();
    const watch = await watchOnEndpoint(e, { prefix: "/w1/", fromRevision: start }, r.handlers, soon(), OPTS);
    await etcd().etcdctlOk(["del", "/w1/a"]);
    await waitFor(() => r.events.length === 3, { timeoutMs: 10_000, what: "three events" });
    expect(r.events.map(({ type, key, value }) => [type, key, value])).toEqual([
      ["put", "/w1/a", "1"],
      ["put", "/w1/b", "2"],
      ["delete", "/w1/a", ""],
    ]);
    expect(r.events.map((x) => x.modRevision)).toEqual([start, start + 1, start + 3]);
    await watch.cancel();
    await etcd().etcdctlOk(["put", "/w1/c", "after the cancel"]);
    // A read after the write: had the watch still run, its event would have come first on the session.
    await revisionOf(e);
    expect(r.events).toHaveLength(3);
    expect(r.errors).toEqual([]);
  });

  it("says compacted when the start revision is gone, and nothing else", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, dialTimeoutMs: 2000 });
    await etcd().etcdctlOk(["put", "/w2/a", "1"]);
    await etcd().etcdctlOk(["put", "/w2/a", "2"]);
    const now = await revisionOf(e);
    await etcd().etcdctlOk(["compact", String(now)]);
    const r = recorder();
    const watch = await watchOnEndpoint(
      e,
      { prefix: "/w2/", fromRevision: now - 1 },
      r.handlers,
      soon(),
      OPTS,
    );
    await waitFor(() => r.compacted.length > 0, { timeoutMs: 10_000, what: "the compaction" });
    expect(r.compacted).toEqual([now]);
    expect(r.events).toEqual([]);
    expect(r.errors).toEqual([]);
    await watch.cancel();
  });

  it("a stream that ends fails the watch once, as lost; it does not resume", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, dialTimeoutMs: 2000 });
    const r = recorder();
    await watchOnEndpoint(e, { prefix: "/w3/", fromRevision: 0 }, r.handlers, soon(), OPTS);
    await etcd().members[0]?.restart();
    await waitFor(() => r.errors.length > 0, { timeoutMs: 20_000, what: "the watch's failure" });
    await etcd().etcdctlOk(["put", "/w3/a", "after the restart"]);
    await revisionOf(e);
    expect(r.errors.map((x) => x.lost)).toEqual([true]);
    expect(r.events).toEqual([]);
  });
});

describe("etcd that splits large watch responses", () => {
  // etcd 3.4 splits a revision whose response is larger than its request limit plus 512 KiB
  // into fragments when the watch asks for it; a 64 KiB limit makes that ~576 KiB.
  const etcd = useEtcd({ extraArgs: ["--max-request-bytes=65536"] });

  it("joins the fragments of one revision into one batch, in key order", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, dialTimeoutMs: 2000 });
    const keys = Array.from(
      { length: 2816 },
      (_, i) => `/w7/${String(i).padStart(5, "0")}-${"k".repeat(200)}`,
    );
    for (let i = 0; i < keys.length; i += 128) {
      const puts = keys.slice(i, i + 128).map((k) => `put ${k} v`);
      await etcd().etcdctlOk(["txn"], { input: `\n${puts.join("\n")}\n\n\n` });
    }
    const start = (await revisionOf(e)) + 1;
    // One revision deleting every key: ~600 KiB of events from a request of a few bytes.
    await etcd().etcdctlOk(["del", "--prefix", "/w7/"]);
    const r = recorder();
    const watch = await watchOnEndpoint(e, { prefix: "/w7/", fromRevision: start }, r.handlers, soon(), OPTS);
    await waitFor(() => r.events.length >= keys.length, { timeoutMs: 20_000, what: "the deletes" });
    expect(r.batches).toHaveLength(1);
    expect(r.events.map((x) => `${x.type} ${x.key}`)).toEqual(keys.map((k) => `delete ${k}`));
    await watch.cancel();
  });
});

describe("etcd with auth", () => {
  const etcd = useEtcd({ auth: true });

  it("sends the token, and authenticates again once when etcd calls it invalid", async () => {
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      user: { username: "root", password: etcd().auth!.rootPassword },
      dialTimeoutMs: 2000,
    });
    (e as unknown as { token: Promise<string> }).token = Promise.resolve("stale.token");
    let reauthenticated = 0;
    const reauthenticate = e.reauthenticate.bind(e);
    e.reauthenticate = () => {
      reauthenticated++;
      reauthenticate();
    };
    const r = recorder();
    const watch = await watchOnEndpoint(e, { prefix: "/w4/", fromRevision: 0 }, r.handlers, soon(), {
      ...OPTS,
      authenticated: true,
    });
    await etcd().etcdctlOk(["put", "/w4/a", "1"]);
    await waitFor(() => r.events.length === 1, { timeoutMs: 10_000, what: "the event" });
    expect(reauthenticated).toBe(1);
    await watch.cancel();
  });
});

describe("three members, one frozen", () => {
  const etcd = useEtcd({ members: 3 });
  let frozen: EtcdMember | undefined;
  afterEach(() => {
    if (frozen) thaw(frozen);
    frozen = undefined;
  });

  it("a watch a frozen member never confirms is rejected at its deadline, and its stream let go", async () => {
    const member = etcd().members[1] as EtcdMember;
    const e = endpoint({ url: member.clientUrl, dialTimeoutMs: 2000 });
    // A live session first: the frozen member keeps its socket, so the stream opens and waits.
    await revisionOf(e);
    frozen = member;
    freeze(member);
    const r = recorder();
    await expect(
      watchOnEndpoint(e, { prefix: "/w6/", fromRevision: 0 }, r.handlers, Date.now() + 1000, OPTS),
    ).rejects.toThrow(DeadlineError);
    // The endpoint holds its session open only while a call or stream runs on it.
    await waitFor(() => e.running === 0, {
      timeoutMs: 5000,
      what: "the unconfirmed stream to end",
    });
    expect(r.errors).toEqual([]);
  });

  // The race of a Store.watch call (watch-attempts.ts): the endpoint pool's deadline decides the
  // call, and the attempt's own deadline fires a moment later; a confirmation that lands between
  // them leaves a watch nobody holds. The two deadlines here are pulled apart (the call decided at
  // once, the attempt's a minute off) so the confirmation lands between them every time.
  describe.each(["h2", "grpc-js"] as const)(
    "a watch etcd confirms after its call gave up (%s)",
    (transport) => {
      it("is cancelled: the member is left with no watcher or stream, and nothing it heard reaches anyone", async () => {
        const member = etcd().members[2] as EtcdMember;
        const url = member.clientUrl;
        const client: EtcdClient =
          transport === "h2"
            ? new H2Client(endpoint({ url, dialTimeoutMs: 2000 }), OPTS)
            : ((
                await createEtcd3Clients(
                  {
                    opts: { endpoints: [url], dialTimeoutMs: 2000, commandTimeoutMs: 5000 },
                    user: undefined,
                    tls: undefined,
                  },
                  [url],
                )
              )[0] as EtcdClient);
        try {
          // A live session first: the frozen member keeps its socket, so the watch request waits there.
          await client.get("/w7/", undefined, soon());
          const before = await watchersOn(member);
          frozen = member;
          freeze(member);
          const attempts = new WatchAttempts();
          const r = recorder();
          // What the transport hands the attempt, recorded before WatchAttempts holds or drops it:
          // a watch left running on the member would hand it the put below.
          const late = attempts.attempt((hooks) =>
            client.watch(
              { prefix: "/w7/", fromRevision: 0 },
              {
                events: (batch, revision) => {
                  r.handlers.events(batch, revision);
                  hooks.events(batch, revision);
                },
                compacted: (rev) => {
                  r.handlers.compacted(rev);
                  hooks.compacted(rev);
                },
                error: (err, lost) => {
                  r.handlers.error(err, lost);
                  hooks.error(err, lost);
                },
              },
              Date.now() + 60_000,
            ),
          );
          late.catch(() => undefined);
          attempts.finish(undefined); // the pool's deadline: the call is over without this attempt
          thaw(member);
          frozen = undefined;
          // Only a confirmed watch gets here before its minute is up: the attempt rejects once etcd
          // confirms it, and cancels it.
          await expect(late).rejects.toThrow(DeadlineError);
          await waitFor(async () => (await watchersOn(member)) === before, {
            timeoutMs: 10_000,
            what: `the late watch to be cancelled on the member (before: ${before})`,
          });
          await etcd().etcdctlOk(["put", "/w7/a", "1"]);
          await client.get("/w7/", undefined, soon());
          expect([r.events, r.errors]).toEqual([[], []]);
        } finally {
          client.close();
        }
      });
    },
  );

  it("a ping nobody answers fails the watch as lost, within the liveness bounds", async () => {
    const member = etcd().members[0] as EtcdMember;
    const e = endpoint({ url: member.clientUrl, dialTimeoutMs: 2000 });
    const r = recorder();
    await watchOnEndpoint(e, { prefix: "/w5/", fromRevision: 0 }, r.handlers, soon(), {
      ...OPTS,
      liveness: { intervalMs: 500, timeoutMs: 1000 },
    });
    frozen = member;
    freeze(member);
    await waitFor(() => r.errors.length > 0, { timeoutMs: 20_000, what: "the watch's failure" });
    expect(r.errors.map((x) => x.lost)).toEqual([true]);
    expect(String(r.errors[0]?.err)).toMatch(/Unavailable/);
  });
});

// grpc-js with auth on TLS to an IP endpoint fails on Node 26 (etcd3's authenticator sends
// the IP as the TLS server name, which Node 26 refuses): that transport is tested without auth.
describe.each([
  ["h2", true],
  ["grpc-js", false],
] as const)("Store.watch over %s, mutual TLS, auth %s", (transport, auth) => {
  const etcd = useEtcd({ tls: "mutual", auth });
  const open = () =>
    connect({
      transport,
      endpoints: etcd().endpoints,
      caFile: etcd().tls!.caFile,
      certFile: etcd().tls!.certFile!,
      keyFile: etcd().tls!.keyFile!,
      ...(auth ? { user: "root", password: etcd().auth!.rootPassword } : {}),
      dialTimeoutMs: 2000,
      commandTimeoutMs: 5000,
    });
  function heard() {
    const lines: string[] = [];
    const handlers: WatchHandlers = {
      events: (events) => {
        for (const e of events) lines.push(`${e.type} ${e.kv.key} ${e.kv.value.toString()}`);
      },
      compacted: () => lines.push("compacted"),
      error: (err) => lines.push(`error ${err.message}`),
    };
    return { lines, handlers };
  }

  it("delivers events, reports a compacted start, and says nothing once the store is closed", async () => {
    const store = await open();
    const a = heard();
    try {
      const start = (await store.get("/sw/")).revision + 1;
      await store.txn([], [{ put: "/sw/a", value: "1" }]);
      await store.watch("/sw/", start, a.handlers);
      await store.txn([], [{ put: "/sw/b", value: "2" }]);
      await waitFor(() => a.lines.length === 2, { timeoutMs: 10_000, what: `two events; heard ${a.lines}` });
      expect(a.lines).toEqual(["put /sw/a 1", "put /sw/b 2"]);
      const now = (await store.get("/sw/")).revision;
      await store.compact(now);
      const c = heard();
      await store
        .watch("/sw/", start, c.handlers)
        .catch((err: Error) => c.lines.push(`rejected ${err.message}`));
      await waitFor(() => c.lines.length > 0, { timeoutMs: 10_000, what: "the compaction" });
      expect(c.lines[0]).toMatch(/^compacted|^rejected .*compacted/);
    } finally {
      store.close();
    }
    const closedAt = a.lines.length;
    // Another store's watch sees a later write; the closed one heard nothing, not even an error.
    const other = await open();
    const b = heard();
    try {
      await other.watch("/sw/", (await other.get("/sw/")).revision + 1, b.handlers);
      await other.txn([], [{ put: "/sw/c", value: "3" }]);
      await waitFor(() => b.lines.length === 1, { timeoutMs: 10_000, what: "the other store's event" });
    } finally {
      other.close();
    }
    expect(a.lines.slice(closedAt)).toEqual([]);
  });
});
