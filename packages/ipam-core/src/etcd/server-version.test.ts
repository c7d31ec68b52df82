import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { etcdVersions } from "./server-version.js";

// Loopback servers that answer as etcd does not: what `podnet version` must survive.
const VERSION = JSON.stringify({ etcdserver: "3.4.27", etcdcluster: "3.4.0" });
const servers: Server[] = [];
const timers: NodeJS.Timeout[] = [];

/** A server on a free loopback port answering each request with `answer`; its endpoint URL. */
async function serve(answer: (path: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => answer(req.url ?? "", res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Sends a byte every 20 ms, for ever: never silent long enough for an idle timeout. */
function trickle(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json" });
  const t = setInterval(() => res.write(" "), 20);
  timers.push(t);
  res.on("close", () => clearInterval(t));
}

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const opts = (endpoint: string) => ({ endpoints: [endpoint], dialTimeoutMs: 300, commandTimeoutMs: 1000 });

describe("etcdVersions against an endpoint that is not quite etcd", () => {
  it("gives up on a /version answer that trickles and never ends, naming the endpoint", async () => {
    const endpoint = await serve((_path, res) => trickle(res));
    const got = await etcdVersions(opts(endpoint));
    expect(got).toEqual({ error: `${endpoint}: no answer within 300 ms` });
  });

  it("still reports the versions when only the status answer trickles; its revision is null", async () => {
    const endpoint = await serve((path, res) => (path === "/version" ? res.end(VERSION) : trickle(res)));
    const got = await etcdVersions(opts(endpoint));
    expect(got).toEqual({ endpoint, server: "3.4.27", cluster: "3.4.0", revision: null });
  });

  it("answers from the next endpoint without waiting out one that never answers", async () => {
    // A frozen member: it takes the connection and says nothing. Waiting it out would take the
    // whole dial timeout (a minute here), far past the test's own limit.
    const frozen = await serve(() => undefined);
    const live = await serve((path, res) =>
      res.end(path === "/version" ? VERSION : '{"header":{"revision":"7"}}'),
    );
    const got = await etcdVersions({
      endpoints: [frozen, live],
      dialTimeoutMs: 60_000,
      commandTimeoutMs: 60_000,
    });
    expect(got).toEqual({ endpoint: live, server: "3.4.27", cluster: "3.4.0", revision: 7 });
  });

  it("does not wait the dial timeout for the status of a member that answered its versions", async () => {
    const endpoint = await serve((path, res) => (path === "/version" ? res.end(VERSION) : undefined));
    const got = await etcdVersions({
      endpoints: [endpoint],
      dialTimeoutMs: 60_000,
      commandTimeoutMs: 60_000,
    });
    expect(got).toEqual({ endpoint, server: "3.4.27", cluster: "3.4.0", revision: null });
  });

  it("names every endpoint's failure when none answers", async () => {
    const a = await serve((_path, res) => trickle(res));
    const b = await serve((_path, res) => {
      res.writeHead(503);
      res.end();
    });
    const got = await etcdVersions({ endpoints: [a, b], dialTimeoutMs: 300, commandTimeoutMs: 1000 });
    expect(got).toEqual({ error: `${a}: no answer within 300 ms; ${b}: HTTP 503` });
  });

  it("refuses an answer far longer than etcd's", async () => {
    const endpoint = await serve((_path, res) => res.end(`${VERSION}${" ".repeat(1 << 20)}`));
    const got = await etcdVersions(opts(endpoint));
    expect("error" in got && got.error).toMatch(/longer than 65536 bytes/);
  });

  it("reads the versions and the revision of an answer as etcd writes it", async () => {
    const endpoint = await serve((path, res) =>
      res.end(
        path === "/version" ? VERSION : '{"header":{"cluster_id":"1","revision":"42"},"version":"3.4.27"}',
      ),
    );
    expect(await etcdVersions(opts(endpoint))).toEqual({
      endpoint,
      server: "3.4.27",
      cluster: "3.4.0",
      revision: 42,
    });
  });
});
