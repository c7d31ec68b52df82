/** The h2 transport's endpoint against real etcds: sessions, TLS checks, auth tokens, deadlines. */
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterEach, describe, expect, it } from "vitest";
import { DeadlineError } from "../packages/ipam-core/src/etcd/endpoint-pool.js";
import type { EtcdClient } from "../packages/ipam-core/src/etcd/etcd-client.js";
import { createEtcd3Clients } from "../packages/ipam-core/src/etcd/etcd3-client.js";
import { H2Client } from "../packages/ipam-core/src/etcd/h2/h2-client.js";
import { encodeRange, KV_RANGE } from "../packages/ipam-core/src/etcd/h2/kv-messages.js";
import { randomLeaseId } from "../packages/ipam-core/src/etcd/h2/lease-messages.js";
import { livenessFor } from "../packages/ipam-core/src/etcd/h2/liveness.js";
import { decodeRangeResponse } from "../packages/ipam-core/src/etcd/reply-decoders.js";
import { endpoint, soon } from "./h2-endpoints.js";

describe("plain etcd with auth", () => {
  const etcd = useEtcd({ auth: true });

  it("authenticates, sends the token, and fetches a new one once etcd calls it invalid", async () => {
    await etcd().etcdctlOk(["put", "/h2/a", "1"]);
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      user: { username: "root", password: etcd().auth!.rootPassword },
      dialTimeoutMs: 5000,
    });
    const read = async () =>
      decodeRangeResponse(
        await e.unary(KV_RANGE, encodeRange({ key: "/h2/a" }), soon()),
      ).kvs[0]?.value.toString();
    expect(await read()).toBe("1");
    // A token etcd does not know, as after its restart: the call authenticates again and succeeds.
    (e as unknown as { token: Promise<string> }).token = Promise.resolve("stale.token");
    expect(await read()).toBe("1");
  });

  it("rejects a wrong password in etcd's words", async () => {
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      user: { username: "root", password: "nope" },
      dialTimeoutMs: 5000,
    });
    await expect(e.unary(KV_RANGE, encodeRange({ key: "/h2/a" }), soon())).rejects.toThrow(
      /authentication failed/,
    );
  });

  it("without a user, reports etcd's refusal as Unauthenticated or InvalidArgument", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, dialTimeoutMs: 5000 });
    await expect(e.unary(KV_RANGE, encodeRange({ key: "/h2/a" }), soon())).rejects.toThrow(
      /user name is empty/,
    );
  });

  it("redials after its session is gone", async () => {
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      user: { username: "root", password: etcd().auth!.rootPassword },
      dialTimeoutMs: 5000,
    });
    const s = await e.session(soon());
    s.destroy();
    const again = await e.session(soon());
    expect(again === s).toBe(false);
    await e.unary(KV_RANGE, encodeRange({ key: "/h2/a" }), soon());
  });
});

describe("a grant repeated with its id", () => {
  const etcd = useEtcd();

  it("is 'lease already exists' on both transports: the store's sign that the first attempt won", async () => {
    const url = etcd().endpoints[0] as string;
    const setup = {
      opts: { endpoints: [url], dialTimeoutMs: 5000, commandTimeoutMs: 5000 },
      user: undefined,
      tls: undefined,
    };
    const h2 = new H2Client(endpoint({ url, dialTimeoutMs: 5000 }), {
      liveness: livenessFor(5000),
      authenticated: false,
      cancelTimeoutMs: 5000,
    });
    const [grpc] = await createEtcd3Clients(setup, [url]);
    try {
      for (const client of [h2, grpc as EtcdClient]) {
        const id = randomLeaseId();
        await client.grant(60, id, soon());
        expect(await client.timeToLive(id, soon())).toBeGreaterThan(50);
        await expect(client.grant(60, id, soon())).rejects.toThrow(/lease already exists/);
      }
    } finally {
      grpc?.close();
    }
  });
});

describe("TLS etcd reached by IP", () => {
  const etcd = useEtcd({ tls: "mutual" });

  it("verifies the certificate against the IP and presents the client certificate", async () => {
    const tls = etcd().tls!;
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      tls: {
        ca: await readFile(tls.caFile),
        cert: await readFile(tls.certFile!),
        key: await readFile(tls.keyFile!),
      },
      dialTimeoutMs: 5000,
    });
    const reply = await e.unary(KV_RANGE, encodeRange({ key: "/none" }), soon());
    expect(decodeRangeResponse(reply).revision).toBeGreaterThan(0);
  });

  it("fails a call, and lets the process end, when the server wants a client certificate", async () => {
    const e = endpoint({
      url: etcd().endpoints[0] as string,
      tls: { ca: await readFile(etcd().tls!.caFile) },
      dialTimeoutMs: 5000,
    });
    const err = await e.unary(KV_RANGE, encodeRange({ key: "/none" }), soon()).catch((x: unknown) => x);
    expect(String(err)).toMatch(/certificate|alert/);
  });

  it("refuses a server it cannot verify", async () => {
    const e = endpoint({ url: etcd().endpoints[0] as string, tls: {}, dialTimeoutMs: 5000 });
    await expect(e.session(soon())).rejects.toThrow(/certificate/);
  });
});

describe("a silent listener", () => {
  let server: Server;
  afterEach(() => server.close());

  it("ends the dial at the deadline, for TCP and for TLS", async () => {
    server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    for (const url of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`]) {
      const e = endpoint({ url, ...(url.startsWith("https") ? { tls: {} } : {}), dialTimeoutMs: 300 });
      await expect(e.session(Date.now() + 300)).rejects.toBeInstanceOf(DeadlineError);
    }
  });
});
