/**
 * `podnet migrate v2` end to end: a real etcd serving the v2 API, flannel's v2 keyspace
 * written through it as `curl -XPUT .../v2/keys/... --data-urlencode value@file` does, the
 * built podnet migrating it into v3.
 */
import { connect, type Store } from "@podnet/ipam-core";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { flannelVxlanValue } from "@podnet/test-harness/flannel";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const etcd = useEtcd({ enableV2: true });
let store: Store;

beforeAll(async () => {
  store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
});
afterAll(() => store?.close());

/** A PUT through the v2 HTTP API, form-encoded as curl's --data-urlencode sends it. */
async function v2Put(key: string, value: string, ttl?: number): Promise<void> {
  const body = new URLSearchParams({ value, ...(ttl !== undefined && { ttl: String(ttl) }) });
  const res = await fetch(`${etcd().endpoints[0]}/v2/keys${key}`, {
    method: "PUT",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  if (!res.ok) throw new Error(`v2 PUT ${key}: ${res.status} ${await res.text()}`);
}

function migrate(prefix: string, ...args: string[]): Promise<RunPodnetResult> {
  return runPodnet(["--endpoints", etcd().endpoints.join(","), "--prefix", prefix, "migrate", "v2", ...args]);
}

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

const CONFIG = '{\n  "Network": "10.5.0.0/16",\n  "Backend": { "Type": "vxlan", "VNI": 1 }\n}\n';

function mac(i: number): string {
  return `0e:2a:00:00:00:${i.toString(16).padStart(2, "0")}`;
}

/** What flanneld (v0.13+, v3) writes for host i: LeaseAttrs marshalled by Go, in its field order. */
function flannelValue(i: number): string {
  return flannelVxlanValue(`192.0.2.${i}`, mac(i));
}

/** What an older flanneld (before dual stack) wrote in v2: no PublicIPv6 field. */
function oldFlannelValue(i: number): string {
  return `{"PublicIP":"192.0.2.${i}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac(i)}"}}`;
}

interface Report {
  written: boolean;
  counts: { migrated: number; present: number; conflicts: number; skipped: number; expired: number };
  config: { status: string; diff?: string };
  leases: { status: string; subnet: string; publicIP: string; reservation: boolean; reason?: string }[];
  skipped: { v2Key: string; kind: string }[];
}

describe("podnet migrate v2: a config and 50 leases", () => {
  const prefix = "/coreos.com/network";
  const ttlOf = (i: number) => 3000 + i * 10; // odd hosts hold leases, even hosts reservations
  let seededAt = 0;

  beforeAll(async () => {
    await v2Put(`${prefix}/config`, CONFIG);
    seededAt = Date.now();
    for (let i = 1; i <= 50; i++) {
      const value = i % 3 === 0 ? oldFlannelValue(i) : flannelValue(i);
      await v2Put(`${prefix}/subnets/10.5.${i}.0-24`, value, i % 2 === 1 ? ttlOf(i) : undefined);
    }
    await v2Put(`${prefix}/subnets/not-a-subnet`, "{}");
    await v2Put(`${prefix}/subnets/10.5.200.0-24`, "this is not JSON");
  });

  it("a dry run reports the plan and writes nothing", async () => {
    const before = (await store.get("/none")).revision;
    const r = await migrate(prefix, "--dry-run", "-o", "json");
    expectNoStack(r);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.written).toBe(false);
    expect(report.counts).toEqual({ migrated: 51, present: 0, conflicts: 0, skipped: 2, expired: 0 });
    expect((await store.get("/none")).revision).toBe(before);
  });

  it("writes the config byte for byte and every lease as flanneld would, with its remaining TTL", async () => {
    const r = await migrate(prefix, "-o", "json");
    expectNoStack(r);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.counts).toEqual({ migrated: 51, present: 0, conflicts: 0, skipped: 2, expired: 0 });
    expect(report.skipped.map((s) => [s.v2Key, s.kind]).sort()).toEqual([
      [`${prefix}/subnets/10.5.200.0-24`, "damaged"],
      [`${prefix}/subnets/not-a-subnet`, "foreign"],
    ]);

    const config = (await store.get(`${prefix}/config`)).value;
    expect(config?.value.toString("utf8")).toBe(CONFIG);

    const { value: kvs } = await store.list(`${prefix}/subnets/`);
    expect(kvs.map((kv) => kv.key).sort()).toEqual(
      Array.from({ length: 50 }, (_, k) => `${prefix}/subnets/10.5.${k + 1}.0-24`).sort(),
    );
    const elapsed = (Date.now() - seededAt) / 1000;
    for (const kv of kvs) {
      const i = Number(/10\.5\.(\d+)\.0-24$/.exec(kv.key)?.[1]);
      expect(kv.value.toString("utf8"), kv.key).toBe(flannelValue(i));
      if (i % 2 === 0) {
        expect(kv.lease, `${kv.key} stays a reservation`).toBe("0");
      } else {
        expect(kv.lease).not.toBe("0");
        const ttl = await store.timeToLive(kv.lease);
        expect(Math.abs(ttl - (ttlOf(i) - elapsed)), `${kv.key} TTL ${ttl}`).toBeLessThanOrEqual(5);
      }
    }
  });

  it("a second run writes nothing and says so", async () => {
    const before = (await store.get("/none")).revision;
    const human = await migrate(prefix);
    expectNoStack(human);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("nothing written: v3 already holds everything");
    expect(human.stdout).toMatch(/skipped foreign: .*not-a-subnet/);
    expect(human.stdout).toMatch(/skipped damaged: .*10\.5\.200\.0-24/);
    const json = JSON.parse((await migrate(prefix, "-o", "json")).stdout) as Report;
    expect(json.written).toBe(false);
    expect(json.counts).toEqual({ migrated: 0, present: 51, conflicts: 0, skipped: 2, expired: 0 });
    expect((await store.get("/none")).revision).toBe(before);
  });
});

describe("podnet migrate v2: conflicts", () => {
  const prefix = "/conflict/network";

  it("reports a v3 lease that differs and leaves it as it is; migrates the rest", async () => {
    await v2Put(`${prefix}/config`, CONFIG);
    for (const i of [1, 2, 3]) await v2Put(`${prefix}/subnets/10.5.${i}.0-24`, flannelValue(i), 600);
    const theirs = flannelValue(99).replace("192.0.2.99", "198.51.100.2");
    await store.txn([], [{ put: `${prefix}/subnets/10.5.2.0-24`, value: theirs }]);

    const r = await migrate(prefix, "-o", "json");
    expectNoStack(r);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.counts).toMatchObject({ migrated: 3, conflicts: 1 });
    const conflict = report.leases.find((l) => l.status === "conflict");
    expect(conflict).toMatchObject({ subnet: "10.5.2.0/24", publicIP: "192.0.2.2" });
    expect(conflict?.reason).toMatch(/different value/);
    const kept = (await store.get(`${prefix}/subnets/10.5.2.0-24`)).value;
    expect(kept?.value.toString("utf8")).toBe(theirs);

    const human = await migrate(prefix);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/conflict: 10\.5\.2\.0\/24 \(PublicIP 192\.0\.2\.2\).*v3 kept/);
  });

  it("keeps a differing v3 config, shows the diff with secrets redacted, and replaces it only with --prefer v2", async () => {
    const p = "/prefer/network";
    const psk = `${"k".repeat(100)}SECRET`;
    const v2Config = `{"Network":"10.6.0.0/16","Backend":{"Type":"ipsec","PSK":"${psk}"}}`;
    await v2Put(`${p}/config`, v2Config);
    await store.txn([], [{ put: `${p}/config`, value: CONFIG }]);

    const kept = await migrate(p);
    expectNoStack(kept);
    expect(kept.code).toBe(1);
    expect(kept.stdout).toMatch(/conflict: \/prefer\/network\/config/);
    expect(kept.stdout).toMatch(/<redacted \d+>/);
    expect(kept.stdout + kept.stderr).not.toContain("SECRET");
    expect((await store.get(`${p}/config`)).value?.value.toString("utf8")).toBe(CONFIG);

    const replaced = await migrate(p, "--prefer", "v2", "-o", "json");
    expectNoStack(replaced);
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).not.toContain("SECRET");
    const report = JSON.parse(replaced.stdout) as Report;
    expect(report.config.status).toBe("replaced");
    expect(report.config.diff).toMatch(/<redacted \d+>/);
    expect((await store.get(`${p}/config`)).value?.value.toString("utf8")).toBe(v2Config);
  });
});

describe("podnet migrate v2: bad input", () => {
  it("an invalid v2 config: the validator's diagnostics, exit 3, nothing written", async () => {
    const prefix = "/invalid/network";
    await v2Put(`${prefix}/config`, '{"Network":"10.5.0.0/16","SubnetLen":31}');
    await v2Put(`${prefix}/subnets/10.5.1.0-31`, flannelValue(1), 600);
    const r = await migrate(prefix);
    expectNoStack(r);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("SubnetLen must be less than /31");
    expect(r.stdout).toContain("nothing was written");
    expect((await store.get(`${prefix}/config`)).value).toBeUndefined();
    expect((await store.list(`${prefix}/`)).value).toEqual([]);
  });

  it("no config in v2 and an unreachable --from: one line each, exit 1", async () => {
    const none = await migrate("/nothing/here");
    expectNoStack(none);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^podnet: no flannel config at \/nothing\/here\/config in the v2 keyspace/);
    const away = await migrate("/coreos.com/network", "--from", "127.0.0.1:1");
    expectNoStack(away);
    expect(away.code).toBe(1);
    expect(away.stderr.trim().split("\n")).toHaveLength(1);
    expect(away.stderr).toMatch(/did not answer the v2 API/);
  });
});

describe("podnet migrate v2 over mutual TLS", () => {
  const tlsEtcd = useEtcd({ enableV2: true, tls: "mutual" });

  it("reads the v2 keyspace over https with the global --cacert/--cert/--key", async () => {
    const prefix = "/coreos.com/network";
    const tls = tlsEtcd().tls;
    if (tls?.certFile === undefined || tls.keyFile === undefined) throw new Error("no client certificate");
    // etcdctl v2 speaks the same v2 HTTP API as curl, with the cluster's client certificate
    await tlsEtcd().etcdctlOk(["set", `${prefix}/config`, CONFIG], { api: 2 });
    await tlsEtcd().etcdctlOk(["set", `${prefix}/subnets/10.5.7.0-24`, flannelValue(7), "--ttl", "900"], {
      api: 2,
    });
    const base = ["--endpoints", tlsEtcd().endpoints.join(","), "--cacert", tls.caFile];
    const withCert = [...base, "--cert", tls.certFile, "--key", tls.keyFile];

    const r = await runPodnet([...withCert, "migrate", "v2", "-o", "json"]);
    expectNoStack(r);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Report).counts).toMatchObject({ migrated: 2, conflicts: 0 });

    const tlsStore = await connect({
      endpoints: tlsEtcd().endpoints,
      caFile: tls.caFile,
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      dialTimeoutMs: 5000,
      commandTimeoutMs: 5000,
    });
    try {
      const kv = (await tlsStore.get(`${prefix}/subnets/10.5.7.0-24`)).value;
      expect(kv?.value.toString("utf8")).toBe(flannelValue(7));
      expect(await tlsStore.timeToLive(kv?.lease ?? "0")).toBeGreaterThan(880);
    } finally {
      tlsStore.close();
    }
  });
});

describe("podnet migrate v2 against an etcd without the v2 API", () => {
  const plain = useEtcd();

  it("says the v2 API is not served, in one line, exit 1, nothing written", async () => {
    const r = await runPodnet(["--endpoints", plain().endpoints.join(","), "migrate", "v2"]);
    expectNoStack(r);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/does not serve the v2 API .*--enable-v2/);
    expect(r.stdout).toBe("");
  });
});
