import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { addLimitedUser, etcdAvailable, startEtcd } from "@podnet/test-harness/etcd";
import { useEtcd } from "@podnet/test-harness/vitest";
import { describe, expect, it } from "vitest";

const canBind = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });

const portOf = (url: string): number => Number(new URL(url).port);

describe.skipIf(!etcdAvailable())("etcd harness", () => {
  it("starts a single node, serves put/get, and stop removes the data dir and frees the port", async () => {
    const cluster = await startEtcd();
    try {
      expect(cluster.endpoints).toHaveLength(1);
      expect(cluster.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const member = cluster.members[0]!;
      expect(member.running).toBe(true);
      expect(member.pid).toBeGreaterThan(0);
      expect(existsSync(member.dataDir)).toBe(true);

      const put = await cluster.etcdctl(["put", "/podnet/test/a", "hello"]);
      expect(put.code).toBe(0);
      expect(put.stdout.trim()).toBe("OK");
      const get = await cluster.etcdctl(["get", "/podnet/test/a", "--print-value-only"]);
      expect(get.code).toBe(0);
      expect(get.stdout.trim()).toBe("hello");
      expect(await canBind(portOf(member.clientUrl))).toBe(false);

      // A graceful stop and a restart keep the data (same data dir, same ports).
      await member.stop();
      expect(member.running).toBe(false);
      expect((await cluster.etcdctl(["--command-timeout=1s", "get", "/podnet/test/a"])).code).not.toBe(0);
      await member.restart();
      expect(member.running).toBe(true);
      expect((await cluster.etcdctlOk(["get", "/podnet/test/a", "--print-value-only"])).trim()).toBe("hello");
    } finally {
      await cluster.stop();
    }
    const member = cluster.members[0]!;
    expect(member.running).toBe(false);
    expect(existsSync(member.dataDir)).toBe(false);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await canBind(portOf(member.clientUrl))).toBe(true);
    expect(await canBind(portOf(member.peerUrl))).toBe(true);
    await cluster.stop(); // idempotent
  });

  describe("three members", () => {
    const etcd = useEtcd({ members: 3 });

    it("has a leader; killing it elects a new one; the killed member rejoins on restart", async () => {
      const cluster = etcd();
      expect(cluster.members).toHaveLength(3);
      expect(new Set(cluster.endpoints).size).toBe(3);
      const list = await cluster.etcdctlOk(["member", "list", "-w", "json"]);
      expect((JSON.parse(list) as { members: unknown[] }).members).toHaveLength(3);

      const first = await cluster.waitForLeader();
      expect(cluster.members).toContain(first);
      await cluster.etcdctlOk(["put", "/k/before", "1"]);

      await first.kill();
      expect(first.running).toBe(false);
      const second = await cluster.waitForLeader({ notThis: first });
      expect(second).not.toBe(first);
      expect(second.running).toBe(true);

      await cluster.etcdctlOk(["put", "/k/after", "2"]);
      expect((await cluster.etcdctlOk(["get", "/k/before", "--print-value-only"])).trim()).toBe("1");

      await first.restart();
      expect(first.running).toBe(true);
      // Read through the restarted member alone: it must have caught up with the write it missed.
      const viaFirst = await cluster.etcdctlOk(["get", "/k/after", "--print-value-only"], {
        endpoints: [first.clientUrl],
      });
      expect(viaFirst.trim()).toBe("2");
      const leader = await cluster.leader();
      expect(leader).toBeDefined();
    });
  });

  describe("TLS", () => {
    const server = useEtcd({ tls: "server" });
    const mutual = useEtcd({ tls: "mutual" });

    it("server TLS works with the CA and fails without it", async () => {
      const cluster = server();
      expect(cluster.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(cluster.tls?.caFile).toBeDefined();
      expect(cluster.tls?.certFile).toBeUndefined();
      await cluster.etcdctlOk(["put", "tls-key", "v"]);
      expect((await cluster.etcdctlOk(["get", "tls-key", "--print-value-only"])).trim()).toBe("v");
      const noCa = await cluster.etcdctl(["--command-timeout=1s", "get", "tls-key"], { omitCa: true });
      expect(noCa.code).not.toBe(0);
      expect(noCa.stderr).toMatch(/certificate|deadline|x509/i);
    });

    it("mutual TLS accepts the client certificate and rejects a client without one", async () => {
      const cluster = mutual();
      expect(cluster.tls?.certFile).toBeDefined();
      expect(cluster.tls?.keyFile).toBeDefined();
      await cluster.etcdctlOk(["put", "mtls-key", "v"]);
      expect((await cluster.etcdctlOk(["get", "mtls-key", "--print-value-only"])).trim()).toBe("v");
      const noCert = await cluster.etcdctl(["--command-timeout=1s", "get", "mtls-key"], {
        omitClientCert: true,
      });
      expect(noCert.code).not.toBe(0);
      // etcdctl only reports a deadline; the server says why.
      expect(await cluster.members[0]!.logTail(200)).toMatch(/client didn't provide a certificate/);
    });
  });

  describe("auth", () => {
    const etcd = useEtcd({ auth: true });

    it("root can write, anonymous requests are refused, a limited user stays in its prefix", async () => {
      const cluster = etcd();
      expect(cluster.auth?.rootUser).toBe("root");
      expect(cluster.auth?.rootPassword.length).toBeGreaterThan(8);
      await cluster.etcdctlOk(["put", "/outside/x", "root-wrote"]);

      const anon = await cluster.etcdctl(["put", "/outside/y", "v"], { anonymous: true });
      expect(anon.code).not.toBe(0);
      expect(anon.stderr).toMatch(/user name is empty|permission denied/i);
      const anonGet = await cluster.etcdctl(["get", "/outside/x"], { anonymous: true });
      expect(anonGet.code).not.toBe(0);

      const wrongPw = await cluster.etcdctl(["get", "/outside/x"], { user: "root", password: "nope" });
      expect(wrongPw.code).not.toBe(0);
      expect(wrongPw.stderr).toMatch(/authentication failed/i);

      await addLimitedUser(cluster, "alice", "alice-pw", "/coreos.com/network/");
      const as = { user: "alice", password: "alice-pw" };
      await cluster.etcdctlOk(["put", "/coreos.com/network/config", "{}"], as);
      expect(
        (await cluster.etcdctlOk(["get", "/coreos.com/network/config", "--print-value-only"], as)).trim(),
      ).toBe("{}");
      const outsidePut = await cluster.etcdctl(["put", "/outside/z", "v"], as);
      expect(outsidePut.code).not.toBe(0);
      expect(outsidePut.stderr).toMatch(/permission denied/i);
      const outsideGet = await cluster.etcdctl(["get", "/outside/x"], as);
      expect(outsideGet.code).not.toBe(0);
      expect(outsideGet.stderr).toMatch(/permission denied/i);
      // root still sees everything
      expect((await cluster.etcdctlOk(["get", "/outside/x", "--print-value-only"])).trim()).toBe(
        "root-wrote",
      );
    });
  });
});
