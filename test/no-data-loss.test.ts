/**
 * Nothing is lost: each way a command used to drop data (a VtepMAC, a reservation, a lease
 * renewed after a report, another host's lease) as a run of the built `podnet` against a
 * real etcd, checked with etcdctl.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { flannelVxlanValue, leaseTtl, putFlannelLease, storedKey } from "@podnet/test-harness/flannel";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { waitFor } from "@podnet/test-harness/wait";
import { beforeAll, describe, expect, it } from "vitest";

const VXLAN_CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const MAC = "c6:d2:32:6f:8f:44";
const vxlanValue = (ip: string, mac: string) => flannelVxlanValue(ip, mac);

useTempDirs();

describe.skipIf(!etcdAvailable())("no command loses data", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  const podnet = async (prefix: string, args: string[]): Promise<RunPodnetResult> => {
    const r = await runPodnet(["--prefix", prefix, ...args], { env: env() });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  };
  const ctl = (args: string[], input?: string) =>
    etcd().etcdctlOk(args, input === undefined ? {} : { input });
  const flannelLease = (key: string, value: string, ttl = 3600) => putFlannelLease(etcd(), key, value, ttl);
  const stored = (key: string) => storedKey(etcd(), key);
  const ttlOf = (id: string) => leaseTtl(etcd(), id);
  const errorLine = (r: RunPodnetResult) =>
    r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("podnet: warning:"));

  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it("acquire and reserve keep a live lease's VtepMAC when none is given", async () => {
    const p = "/keepmac";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const key = `${p}/subnets/10.5.52.0-24`;
    const id = await flannelLease(key, vxlanValue("192.0.2.7", MAC));
    const again = await podnet(p, ["lease", "acquire", "--public-ip", "192.0.2.7", "-o", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "reused", subnet: "10.5.52.0/24" });
    const kept = await stored(key);
    expect(kept?.value).toBe(vxlanValue("192.0.2.7", MAC));
    expect(kept?.lease).not.toBe("0"); // still on its etcd lease
    expect(await ttlOf(id)).toBeGreaterThan(0);

    const reserved = await podnet(p, ["lease", "reserve", "10.5.52.0/24", "--public-ip", "192.0.2.7"]);
    expect(reserved.code).toBe(0);
    // A reservation now (no etcd lease), with the same bytes: the VtepMAC is still there.
    expect(await stored(key)).toEqual({ value: vxlanValue("192.0.2.7", MAC), lease: "0" });
  });

  it("lease reserve of a live lease keeps the etcd lease another key rides on", async () => {
    const p = "/sharedlease";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const key = `${p}/subnets/10.5.53.0-24`;
    const rider = `${p}/subnets/not-a-subnet`;
    const id = await flannelLease(key, vxlanValue("192.0.2.53", MAC));
    await ctl(["put", `--lease=${id}`, rider, "rides on the same etcd lease"]);
    const r = await podnet(p, ["lease", "reserve", "10.5.53.0/24", "--public-ip", "192.0.2.53"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await stored(key)).toEqual({ value: vxlanValue("192.0.2.53", MAC), lease: "0" });
    // Revoking the old etcd lease would have deleted the other key with it.
    expect((await stored(rider))?.value).toBe("rides on the same etcd lease");
    expect(await ttlOf(id)).toBeGreaterThan(0);
  });

  it("lease release keeps the etcd lease another key rides on, and says so", async () => {
    const p = "/sharedrelease";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const key = `${p}/subnets/10.5.54.0-24`;
    const rider = `${p}/subnets/not-a-subnet-either`;
    const id = await flannelLease(key, vxlanValue("192.0.2.54", MAC));
    await ctl(["put", `--lease=${id}`, rider, "rides on the same etcd lease"]);
    const r = await podnet(p, ["lease", "release", "--public-ip", "192.0.2.54"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/etcd lease [0-9a-f]+ \(\d+\) kept \(another key rides on it/);
    expect(await stored(key)).toBeUndefined();
    // Revoking the etcd lease would have deleted the other key with it.
    expect((await stored(rider))?.value).toBe("rides on the same etcd lease");
    expect(await ttlOf(id)).toBeGreaterThan(0);
  });

  it("a new vxlan lease without a VtepMAC is refused, naming --vtep-mac; --no-vtep-mac says so on purpose", async () => {
    const p = "/nomac";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    for (const args of [
      ["lease", "acquire", "--public-ip", "192.0.2.8"],
      ["lease", "reserve", "10.5.9.0/24", "--public-ip", "192.0.2.8"],
    ]) {
      const r = await podnet(p, args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(errorLine(r)).toEqual([
        expect.stringMatching(
          /^podnet: a vxlan lease for 192\.0\.2\.8 needs a VtepMAC .*nothing was written; give --vtep-mac MAC/,
        ),
      ]);
    }
    expect(await ctl(["get", "--prefix", `${p}/subnets/`])).toBe("");
    const onPurpose = await podnet(p, ["lease", "acquire", "--public-ip", "192.0.2.8", "--no-vtep-mac"]);
    expect(onPurpose.code).toBe(0);
    expect(await ctl(["get", "--prefix", "--keys-only", `${p}/subnets/`])).toMatch(/10\.5\.\d+\.0-24/);
  });

  it("lease release and the agent's path never delete a reservation", async () => {
    const p = "/keepres";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const res = `${p}/subnets/10.5.7.0-24`;
    await ctl(["put", res, vxlanValue("192.0.2.9", "0e:00:00:00:00:09")]);
    const live = `${p}/subnets/10.5.8.0-24`;
    await flannelLease(live, vxlanValue("192.0.2.9", "0e:00:00:00:00:09"));

    const bySubnet = await podnet(p, ["lease", "release", "10.5.7.0/24"]);
    expect(bySubnet.code).toBe(1);
    expect(errorLine(bySubnet)).toEqual([
      "podnet: nothing was released: kept 10.5.7.0/24: it is a reservation for 192.0.2.9, not a lease; 'podnet lease unreserve 10.5.7.0/24' deletes it",
    ]);
    expect(await stored(res)).toBeDefined();

    const byOwner = await podnet(p, ["lease", "release", "--public-ip", "192.0.2.9", "-o", "json"]);
    expect(byOwner.code).toBe(0);
    expect(byOwner.stderr).toMatch(/^podnet: warning: kept 10\.5\.7\.0\/24: it is a reservation/m);
    expect(JSON.parse(byOwner.stdout)).toMatchObject({ keptReservations: [res] });
    expect(await stored(live)).toBeUndefined();
    expect(await stored(res)).toEqual({ value: vxlanValue("192.0.2.9", "0e:00:00:00:00:09"), lease: "0" });

    const un = await podnet(p, ["lease", "unreserve", "10.5.7.0/24"]);
    expect(un.code).toBe(0);
    expect(await stored(res)).toBeUndefined();
  });

  it("lease renew SUBNET renews only the given host's lease, and says whose it is", async () => {
    const p = "/renewowner";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const key = `${p}/subnets/10.5.3.0-24`;
    await flannelLease(key, vxlanValue("192.0.2.3", MAC), 600);
    const before = await stored(key);

    const alone = await podnet(p, ["lease", "renew", "10.5.3.0/24"]);
    expect(alone.code).toBe(2);
    expect(errorLine(alone)).toEqual([
      "podnet: 10.5.3.0/24 is held by 192.0.2.3; renew it with --public-ip 192.0.2.3 to say whose lease you mean; nothing was renewed",
    ]);
    const wrong = await podnet(p, ["lease", "renew", "10.5.3.0/24", "--public-ip", "192.0.2.4"]);
    expect(wrong.code).toBe(1);
    expect(errorLine(wrong)).toEqual([
      "podnet: 10.5.3.0/24 is held by 192.0.2.3, not 192.0.2.4; nothing was renewed",
    ]);
    expect(await stored(key)).toEqual(before);

    const right = await podnet(p, [
      "lease",
      "renew",
      "10.5.3.0/24",
      "--public-ip",
      "192.0.2.3",
      "-o",
      "json",
    ]);
    expect(right.code).toBe(0);
    expect(JSON.parse(right.stdout).renewed[0].ttlSeconds).toBeGreaterThan(590);
  });

  it("ipam release --from-report skips a lease renewed after the report, and a reservation", async () => {
    const p = "/renewedreport";
    // SubnetLen 24 in the config: a /25 lease is of the wrong length, a finding release acts on.
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const renewed = `${p}/subnets/10.5.1.0-25`;
    const stale = `${p}/subnets/10.5.2.0-25`;
    const reserved = `${p}/subnets/10.5.3.0-25`;
    const id = await flannelLease(renewed, vxlanValue("192.0.2.1", "0e:00:00:00:00:01"), 60);
    await flannelLease(stale, vxlanValue("192.0.2.2", "0e:00:00:00:00:02"), 60);
    await ctl(["put", reserved, vxlanValue("192.0.2.3", "0e:00:00:00:00:03")]);
    const report = join(dir, "report.json");
    const check = await podnet(p, ["ipam", "check", "--report", report]);
    expect(check.code).toBe(1);
    const doc = JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(report, "utf8")));
    expect(doc.version).toBe(2);
    expect(doc.findings.find((f: { key?: string }) => f.key === renewed)).toMatchObject({
      kind: "wrong-length",
      etcdLease: expect.stringMatching(/^\d+$/),
      expiresAt: expect.any(String),
      valueSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    // Let the TTL visibly run down, then renew: the expiry moves later than the report saw.
    const start = await ttlOf(id);
    await waitFor(async () => (await ttlOf(id)) <= start - 3, { what: "the TTL to run down by 3 s" });
    await ctl(["lease", "keep-alive", "--once", id]);

    const release = await podnet(p, ["ipam", "release", "--from-report", report, "-o", "json"]);
    expect(release.code).toBe(1);
    const results = JSON.parse(release.stdout).results as { key: string; status: string }[];
    const statusOf = (key: string) => results.find((r) => r.key === key)?.status;
    expect(statusOf(renewed)).toBe("renewed");
    expect(statusOf(stale)).toBe("deleted");
    expect(statusOf(reserved)).toBe("reservation");
    expect(await stored(renewed)).toBeDefined();
    expect(await stored(stale)).toBeUndefined();
    expect(await stored(reserved)).toBeDefined();
  });

  it("ipam release --from-report revokes a deleted key's bare etcd lease, and keeps one another key rides on", async () => {
    const p = "/revokereport";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    // Two leases of the wrong length (/25 where the config says 24), each on its own etcd lease;
    // a key outside the prefix rides on the second one.
    const bare = `${p}/subnets/10.5.4.0-25`;
    const shared = `${p}/subnets/10.5.5.0-25`;
    const rider = "/elsewhere/rides-on-the-lease";
    const bareId = await flannelLease(bare, vxlanValue("192.0.2.4", "0e:00:00:00:00:04"), 600);
    const sharedId = await flannelLease(shared, vxlanValue("192.0.2.5", "0e:00:00:00:00:05"), 600);
    await ctl(["put", `--lease=${sharedId}`, rider, "another tool's key"]);
    const report = join(dir, "revoke-report.json");
    expect((await podnet(p, ["ipam", "check", "--report", report])).code).toBe(1);

    const text = await podnet(p, ["ipam", "release", "--from-report", report, "--dry-run"]);
    expect(text.code, text.stderr).toBe(0);
    const release = await podnet(p, ["ipam", "release", "--from-report", report, "-o", "json"]);
    expect(release.code, release.stderr).toBe(0);
    const results = JSON.parse(release.stdout).results as {
      key: string;
      status: string;
      etcdLease?: string;
      etcdLeaseRevoked?: boolean;
    }[];
    expect(results.find((r) => r.key === bare)).toMatchObject({
      status: "deleted",
      etcdLease: BigInt(`0x${bareId}`).toString(),
      etcdLeaseRevoked: true,
    });
    expect(results.find((r) => r.key === shared)).toMatchObject({
      status: "deleted",
      etcdLease: BigInt(`0x${sharedId}`).toString(),
      etcdLeaseRevoked: false,
    });
    expect(await stored(bare)).toBeUndefined();
    expect(await stored(shared)).toBeUndefined();
    // The bare etcd lease is gone at once rather than in its TTL; the shared one and its rider stay.
    expect(await ttlOf(bareId)).toBe(-1);
    expect(await ttlOf(sharedId)).toBeGreaterThan(0);
    expect((await stored(rider))?.value).toBe("another tool's key");
  });

  it("ipam release --from-report says in its table what became of each deleted key's etcd lease", async () => {
    const p = "/revoketext";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    const key = `${p}/subnets/10.5.6.0-25`;
    await flannelLease(key, vxlanValue("192.0.2.6", "0e:00:00:00:00:06"), 600);
    const report = join(dir, "revoke-text-report.json");
    expect((await podnet(p, ["ipam", "check", "--report", report])).code).toBe(1);
    const release = await podnet(p, ["ipam", "release", "--from-report", report]);
    expect(release.code, release.stderr).toBe(0);
    expect(release.stdout).toMatch(
      /10\.5\.6\.0-25\s+wrong-length\s+deleted; etcd lease [0-9a-f]+ \(\d+\) revoked/,
    );
  });

  it("a version 1 report is refused: it cannot show whether a lease was renewed", async () => {
    const file = join(dir, "old.json");
    await writeFile(
      file,
      JSON.stringify({ version: 1, prefix: "/old", revision: 5, generatedAt: "", findings: [] }),
    );
    const r = await podnet("/old", ["ipam", "release", "--from-report", file]);
    expect(r.code).toBe(2);
    expect(errorLine(r)[0]).toMatch(/is a version 1 report, which cannot show whether a lease was renewed/);
  });

  it("ipam check flags vxlan leases without a usable VtepMAC, in any spelling", async () => {
    const p = "/checkmac";
    await ctl(["put", `${p}/config`], VXLAN_CONFIG);
    await ctl([
      "put",
      `${p}/subnets/10.5.1.0-24`,
      `{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"vni":1,"vtepmac":"${MAC}"}}`,
    ]);
    await ctl([
      "put",
      `${p}/subnets/10.5.2.0-24`,
      '{"PublicIP":"192.0.2.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"nope"}}',
    ]);
    const r = await podnet(p, ["ipam", "check", "-o", "json"]);
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout).findings as { kind: string; key?: string }[];
    expect(findings.map((f) => [f.kind, f.key])).toEqual([["bad-backend-data", `${p}/subnets/10.5.2.0-24`]]);
    // And the lower-case spelling is shown as the VtepMAC it is.
    const list = await podnet(p, ["lease", "list"]);
    expect(list.stdout).toMatch(new RegExp(`^10\\.5\\.1\\.0/24\\s+192\\.0\\.2\\.1\\s+vxlan\\s+${MAC}`, "m"));
  });
});
