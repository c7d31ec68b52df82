/**
 * `podnet doctor` end to end: the built binary against a real etcd (a single node, and a
 * three-member cluster with one member killed), and against a real VXLAN device when root.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { podnetBuilt, type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { afterAll, describe, expect, it } from "vitest";

const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const MAC = "c6:d2:32:6f:8f:44";
const lease = (publicIP: string, mac = MAC, vni = 1) =>
  `{"PublicIP":"${publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;

interface DoctorJson {
  ok: boolean;
  revision: number | null;
  checks: { section: string; name: string; status: "ok" | "warn" | "fail" | "skip"; detail: string }[];
}

useTempDirs();

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

function parse(r: RunPodnetResult): DoctorJson {
  expectNoStack(r);
  return JSON.parse(r.stdout) as DoctorJson;
}

const find = (doc: DoctorJson, section: string, name: string) =>
  doc.checks.find((c) => c.section === section && c.name === name);

describe.skipIf(!etcdAvailable() || !podnetBuilt())("podnet doctor on a single etcd", () => {
  const etcd = useEtcd();
  const podnet = (args: string[]) =>
    runPodnet(args, { env: { PODNET_ENDPOINTS: etcd().endpoints.join(",") } });
  const put = (key: string, value: string) => etcd().etcdctlOk(["put", key, "--", value]);
  /** etcd's revision now, from etcdctl. */
  const revisionNow = async () =>
    (JSON.parse(await etcd().etcdctlOk(["get", "/", "-w", "json"])) as { header: { revision: number } })
      .header.revision;

  it("passes a healthy etcd with a valid config: exit 0, ok lines", async () => {
    const prefix = "/d1/coreos.com/network";
    await put(`${prefix}/config`, CONFIG);
    await put(`${prefix}/subnets/10.5.52.0-24`, lease("192.0.2.7"));
    const r = await podnet(["--prefix", prefix, "doctor"]);
    expectNoStack(r);
    expect(r.code).toBe(0);
    const endpoint = etcd().endpoints[0] ?? "";
    expect(r.stdout).toMatch(/^etcd$/m);
    // A status call slower than 500 ms (a loaded test host) is a warning, never a failure.
    const line = new RegExp(
      `^ {2}(ok {4}|warn {2})${endpoint.replaceAll(".", "\\.")} +etcd 3\\.\\d+\\.\\d+, member [0-9a-f]+ \\(leader\\).*status in \\d+ ms(: slow)?$`,
      "m",
    );
    expect(r.stdout).toMatch(line);
    expect(r.stdout).toMatch(/^ {2}ok {4}leader +member [0-9a-f]+ at /m);
    expect(r.stdout).toMatch(/^ {2}ok {4}valid +vxlan VNI 1, Network 10\.5\.0\.0\/16, SubnetLen 24$/m);
    expect(r.stdout).toMatch(/^ {2}ok {4}check +no problems found$/m);
    expect(r.stdout).toMatch(/^ {2}skip {2}lease +skipped: give --public-ip/m);
    expect(r.stdout).toMatch(/^\d+ ok, \d+ warnings?, 0 failures, 1 skipped$/m);
    expect(r.stderr).toBe("");
  });

  it("-o json: {ok, revision, checks: [{section, name, status, detail}]}; this host's lease by --public-ip", async () => {
    const prefix = "/d2/coreos.com/network";
    await put(`${prefix}/config`, CONFIG);
    await put(`${prefix}/subnets/10.5.52.0-24`, lease("192.0.2.7"));
    const r = await podnet([
      "--prefix",
      prefix,
      "doctor",
      "-o",
      "json",
      "--public-ip",
      "192.0.2.7",
      "--iface",
      "podnet-none0",
    ]);
    const doc = parse(r);
    expect(Object.keys(doc).sort()).toEqual(["checks", "ok", "revision"]);
    // The revision the config and the leases were read at: nothing was written since.
    expect(doc.revision).toBe(await revisionNow());
    for (const c of doc.checks) {
      expect(Object.keys(c).sort()).toEqual(["detail", "name", "section", "status"]);
      expect(["ok", "warn", "fail", "skip"]).toContain(c.status);
    }
    expect([...new Set(doc.checks.map((c) => c.section))]).toEqual(["etcd", "config", "leases", "host"]);
    expect(find(doc, "host", "lease")).toMatchObject({
      status: "ok",
      detail: expect.stringContaining(`10.5.52.0/24 held by 192.0.2.7, VtepMAC ${MAC}`),
    });
    // The device: absent (fail), or no `ip` here (skip); never a crash.
    const device = find(doc, "host", "device");
    expect(device?.status === "fail" || device?.status === "skip").toBe(true);
    expect(doc.ok).toBe(device?.status !== "fail");
    expect(r.code).toBe(doc.ok ? 0 : 1);
  });

  it("fails on a missing config, naming its key; problems in the leases are counted by kind", async () => {
    const prefix = "/d3/coreos.com/network";
    await put(`${prefix}/subnets/10.5.52.0-24`, lease("192.0.2.7"));
    await put(`${prefix}/subnets/10.5.53.0-24`, lease("192.0.2.7", "c6:d2:32:6f:8f:45"));
    await put(`${prefix}/subnets/junk`, "x");
    const r = await podnet(["--prefix", prefix, "doctor", "-o", "json"]);
    const doc = parse(r);
    expect(r.code).toBe(1);
    expect(doc.ok).toBe(false);
    expect(find(doc, "config", "present")).toMatchObject({
      status: "fail",
      detail: expect.stringContaining(`${prefix}/config`),
    });
    expect(find(doc, "leases", "duplicate-public-ip")?.status).toMatch(/fail|warn/);
    expect(find(doc, "leases", "foreign-key")).toMatchObject({
      detail: expect.stringMatching(/^1 finding: .*junk/),
    });

    const human = await podnet(["--prefix", prefix, "doctor"]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(
      /^ {2}fail {2}present +flannel config not found in etcd store at \/d3\/coreos.com\/network\/config/m,
    );
  });

  it("warnings fail only with --strict; an invalid config fails with the validator's words", async () => {
    const prefix = "/d4/coreos.com/network";
    await put(`${prefix}/config`, CONFIG);
    await put(`${prefix}/subnets/junk`, "x");
    const lenient = parse(await podnet(["--prefix", prefix, "doctor", "-o", "json"]));
    expect(lenient.ok).toBe(true);
    expect(find(lenient, "leases", "foreign-key")?.status).toBe("warn");
    const strict = await podnet(["--prefix", prefix, "doctor", "--strict", "-o", "json"]);
    expect(strict.code).toBe(1);
    expect(parse(strict).ok).toBe(false);

    await put(`${prefix}/config`, '{"Network":"10.5.0.0/16","SubnetLen":40,"Backend":{"Type":"vxlan"}}');
    const bad = await podnet(["--prefix", prefix, "doctor", "-o", "json"]);
    expect(bad.code).toBe(1);
    const valid = parse(bad).checks.filter((c) => c.name === "valid");
    expect(valid.length).toBeGreaterThan(0);
    expect(valid.every((c) => c.status === "fail")).toBe(true);
    expect(valid[0]?.detail).toMatch(/SubnetLen/);
  });

  it("all endpoints unreachable: each fails, the rest is skipped with the reason", async () => {
    const r = await runPodnet([
      "--endpoints",
      "127.0.0.1:1,127.0.0.1:2",
      "--dial-timeout",
      "500ms",
      "doctor",
      "-o",
      "json",
    ]);
    const doc = parse(r);
    expect(r.code).toBe(1);
    expect(doc.revision).toBeNull(); // nothing was read
    expect(doc.checks.filter((c) => c.section === "etcd").map((c) => [c.name, c.status])).toEqual([
      ["http://127.0.0.1:1", "fail"],
      ["http://127.0.0.1:2", "fail"],
    ]);
    const rest = doc.checks.filter((c) => c.section !== "etcd");
    expect(rest.map((c) => c.section)).toEqual(["config", "leases", "host"]);
    for (const c of rest)
      expect(c).toMatchObject({ status: "skip", detail: "skipped: no etcd endpoint answered" });
  });

  const root = process.getuid?.() === 0 && hasIp();
  describe.skipIf(!root)("with a real VXLAN device (root)", () => {
    const dev = `pdoc${randomBytes(3).toString("hex")}`;
    afterAll(() => {
      try {
        execFileSync("ip", ["link", "del", dev], { stdio: "ignore" });
      } catch {
        // not created
      }
    });

    it("checks the device against the lease: MAC, /32, MTU from the subnet file, up; then the peers", async () => {
      const prefix = "/d5/coreos.com/network";
      // A VNI and port of its own, so it cannot collide with other tests' devices in this namespace.
      const vni = 4000 + Math.floor(Math.random() * 1000);
      await put(
        `${prefix}/config`,
        `{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":${vni}}}`,
      );
      await put(`${prefix}/subnets/10.5.52.0-24`, lease("192.0.2.7", MAC, vni));
      execFileSync("ip", [
        "link",
        "add",
        dev,
        "address",
        MAC,
        "mtu",
        "1450",
        "type",
        "vxlan",
        "id",
        String(vni),
        "dstport",
        String(20000 + (vni % 10000)),
        "local",
        "127.0.0.1",
        "dev",
        "lo",
        "nolearning",
      ]);
      execFileSync("ip", ["addr", "add", "10.5.52.0/32", "dev", dev]);
      execFileSync("ip", ["link", "set", dev, "up"]);
      const dir = await tempDir();
      const subnetFile = join(dir, "subnet.env");
      await writeFile(
        subnetFile,
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
      );
      const args = ["--prefix", prefix, "doctor", "--subnet-file", subnetFile, "--iface", dev, "-o", "json"];

      const good = await podnet(args);
      const doc = parse(good);
      const host = doc.checks.filter((c) => c.section === "host");
      expect(host.map((c) => [c.name, c.status])).toEqual([
        ["subnet-file", "ok"],
        ["lease", "ok"],
        ["device", "ok"],
        ["mac", "ok"],
        ["address", "ok"],
        ["mtu", "ok"],
        ["up", "ok"],
        ["neighbours", "ok"],
        ["fdb", "ok"],
        ["routes", "ok"],
      ]);
      expect(good.code).toBe(0);

      // A peer appears, the device goes down and publishes another MAC: each shows as a failure.
      await put(`${prefix}/subnets/10.5.53.0-24`, lease("192.0.2.8", "c6:d2:32:6f:8f:46", vni));
      execFileSync("ip", ["link", "set", dev, "down"]);
      execFileSync("ip", ["link", "set", dev, "address", "c6:d2:32:6f:8f:99"]);
      const bad = await podnet(args);
      const after = parse(bad);
      expect(bad.code).toBe(1);
      expect(find(after, "host", "mac")).toMatchObject({
        status: "fail",
        detail: expect.stringContaining(MAC),
      });
      expect(find(after, "host", "up")?.status).toBe("fail");
      expect(find(after, "host", "routes")).toMatchObject({
        status: "fail",
        detail: expect.stringContaining("1 missing"),
      });
    });
  });
});

describe.skipIf(!etcdAvailable() || !podnetBuilt())("podnet doctor on a three-member cluster", () => {
  const etcd = useEtcd({ members: 3 });

  it("one member down: that endpoint fails, the others and the leader are ok", async () => {
    const prefix = "/d6/coreos.com/network";
    await etcd().etcdctlOk(["put", `${prefix}/config`, "--", CONFIG]);
    const endpoints = [...etcd().endpoints];
    const victim = etcd().members[2];
    if (victim === undefined) throw new Error("no third member");
    await victim.kill();
    await etcd().waitForLeader({ notThis: victim });
    const r = await runPodnet([
      "--prefix",
      prefix,
      "--endpoints",
      endpoints.join(","),
      "doctor",
      "-o",
      "json",
    ]);
    const doc = parse(r);
    expect(r.code).toBe(1);
    const byEndpoint = Object.fromEntries(
      doc.checks.filter((c) => c.section === "etcd" && c.name.startsWith("http")).map((c) => [c.name, c]),
    );
    expect(byEndpoint[victim.clientUrl]).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/^unreachable: .*connection refused.* \(waited \d+\.\ds\)$/),
    });
    for (const m of etcd().members.slice(0, 2)) {
      expect(byEndpoint[m.clientUrl]?.status).toBe("ok");
    }
    const leader = find(doc, "etcd", "leader");
    expect(leader?.status).toBe("ok");
    const leaderMember = await etcd().leader();
    expect(leader?.detail).toContain(leaderMember?.clientUrl ?? "?");
    // The rest still ran through the live members.
    expect(find(doc, "config", "valid")?.status).toBe("ok");
    expect(doc.checks.filter((c) => c.status === "fail")).toHaveLength(1);
  });
});

function hasIp(): boolean {
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
