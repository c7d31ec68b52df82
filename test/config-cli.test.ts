import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PODNET_BIN, type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { startEtcd } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const PREFIX = "/coreos.com/network";
const GOOD = `{
  "Network": "10.5.0.0/16",
  "SubnetLen": 24,
  "Backend": { "Type": "vxlan", "VNI": 1, "Port": 4789 }
}
`;
const GOOD_V2 = GOOD.replace('"VNI": 1', '"VNI": 2');
const INVALID = `{ "Network": "10.5.0.0/16", "SubnetLen": 31, "Backend": { "Type": "vxlan" } }`;

useTempDirs();

/** No command may ever show a stack trace. */
function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

let dir: string;
let files: { good: string; goodV2: string; invalid: string; notJson: string; warnings: string };
beforeAll(async () => {
  dir = await tempDir();
  files = {
    good: join(dir, "good.json"),
    goodV2: join(dir, "good-v2.json"),
    invalid: join(dir, "invalid.json"),
    notJson: join(dir, "broken.json"),
    warnings: join(dir, "warnings.json"),
  };
  await writeFile(files.good, GOOD);
  await writeFile(files.goodV2, GOOD_V2);
  await writeFile(files.invalid, INVALID);
  await writeFile(files.notJson, '{\n  "Network": "10.5.0.0/16",\n  "SubnetLen": 24,,\n}\n');
  await writeFile(files.warnings, '{ "Network": "10.5.0.0/16" }');
});

describe("podnet config validate (offline)", () => {
  it("accepts a valid document with exit 0 and prints exactly the documented JSON object", async () => {
    const r = await runPodnet(["config", "validate", files.good, "-o", "json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(["errors", "resolved", "valid", "warnings"]);
    expect(out["valid"]).toBe(true);
    expect(out["errors"]).toEqual([]);
    expect(out["resolved"]).toMatchObject({
      Network: "10.5.0.0/16",
      SubnetLen: 24,
      SubnetMin: "10.5.1.0",
      SubnetMax: "10.5.255.0",
      EnableIPv4: true,
      EnableIPv6: false,
      Backend: { Type: "vxlan", VNI: 1, Port: 4789 },
    });
  });

  it("rejects an invalid document with exit 3 and flannel's message at its JSON pointer", async () => {
    const r = await runPodnet(["config", "validate", files.invalid, "-o", "json"]);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { path: string; message: string }[] };
    expect(out.valid).toBe(false);
    expect(out.errors).toContainEqual({ path: "/SubnetLen", message: "SubnetLen must be less than /31" });
    expectNoStack(r);
  });

  it("names the line and column of malformed JSON, in human output", async () => {
    const r = await runPodnet(["config", "validate", files.notJson]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/line 3, column \d+/);
    expectNoStack(r);
  });

  it("reads the document from stdin with '-'", async () => {
    const r = await runPodnet(["config", "validate", "-", "-o", "json"], { input: GOOD });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).valid).toBe(true);
  });

  it("fails on warnings only with --strict", async () => {
    const lax = await runPodnet(["config", "validate", files.warnings]);
    expect(lax.code).toBe(0);
    expect(lax.stdout).toMatch(/udp/);
    const strict = await runPodnet(["config", "validate", files.warnings, "--strict", "-o", "json"]);
    expect(strict.code).toBe(3);
    expect(JSON.parse(strict.stdout).valid).toBe(false);
  });

  it("checks capacity against --nodes and overlap against --underlay", async () => {
    const r = await runPodnet([
      "config",
      "validate",
      files.good,
      "--nodes",
      "300",
      "--underlay",
      "10.5.7.0/24",
      "-o",
      "json",
    ]);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { errors: { path: string; message: string }[] };
    expect(out.errors.map((e) => e.message).join("\n")).toMatch(/255/);
    expect(out.errors.map((e) => e.message).join("\n")).toMatch(/10\.5\.7\.0\/24/);
  });

  it("gives usage errors exit 2 with one line", async () => {
    for (const args of [
      ["config", "validate", files.good, "--nodes", "many"],
      ["config", "validate", join(dir, "missing.json")],
      ["config", "validate", files.good, "--bogus"],
      ["config", "validate", files.good, "-o", "xml"],
      ["nosuchcommand"],
    ]) {
      const r = await runPodnet(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")[0]).toMatch(/^podnet: /);
      expectNoStack(r);
    }
  });

  it("prints its version and help with exit 0", async () => {
    const v = await runPodnet(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = await runPodnet(["config", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/validate/);
  });

  it("stops quietly with status 141, as `ls` does, when its reader goes away (`podnet --help | head -1`)", async () => {
    // The reader's end is closed before podnet writes: every write fails with EPIPE.
    const child = spawn(process.execPath, [PODNET_BIN, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(stderr).toBe("");
    // 128 + SIGPIPE: never a success the command did not report.
    expect(code).toBe(141);
  });
});

describe("podnet config in etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  const stored = async () =>
    (await etcd().etcdctlOk(["get", `${PREFIX}/config`, "--print-value-only"])).trimEnd();
  const podnet = (args: string[], input?: string) =>
    runPodnet(args, { env: env(), ...(input !== undefined ? { input } : {}) });

  it("says a missing config may have been written through the v2 API", async () => {
    const r = await podnet(["config", "get"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/flannel config not found in etcd store/);
    expect(r.stderr).toMatch(/etcdv3 API/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("never writes an invalid document", async () => {
    const r = await podnet(["config", "set", files.invalid]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/nothing was written/);
    const got = await etcd().etcdctl(["get", `${PREFIX}/config`, "--print-value-only"]);
    expect(got.stdout.trim()).toBe("");
  });

  it("writes the document byte for byte and reads it back with its revision", async () => {
    const set = await podnet(["config", "set", files.good]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/wrote \/coreos\.com\/network\/config at revision \d+/);
    expect(await stored()).toBe(GOOD.trimEnd());
    const get = await podnet(["config", "get"]);
    expect(get.stdout).toBe(GOOD);
    const json = await podnet(["config", "get", "-o", "json"]);
    const out = JSON.parse(json.stdout) as { revision: number; config: unknown };
    const kv = JSON.parse(await etcd().etcdctlOk(["get", `${PREFIX}/config`, "-w", "json"])) as {
      kvs: { mod_revision: number }[];
    };
    expect(out.revision).toBe(kv.kvs[0]?.mod_revision);
    expect(out.config).toEqual(JSON.parse(GOOD));
  });

  it("shows the diff and writes nothing with --dry-run", async () => {
    const before = await stored();
    const r = await podnet(["config", "set", files.goodV2, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^- {2}"Backend": \{ "Type": "vxlan", "VNI": 1/m);
    expect(r.stdout).toMatch(/^\+ {2}"Backend": \{ "Type": "vxlan", "VNI": 2/m);
    expect(r.stdout).toMatch(/nothing was written/);
    expect(await stored()).toBe(before);
    const diff = await podnet(["config", "diff", files.goodV2]);
    expect(diff.stdout).toMatch(/^\+ {2}"Backend"/m);
    expect(diff.code).toBe(1);
  });

  it("refuses to overwrite a document changed since it was read", async () => {
    const json = JSON.parse((await podnet(["config", "get", "-o", "json"])).stdout) as { revision: number };
    // Another admin writes in between.
    await etcd().etcdctlOk(["put", `${PREFIX}/config`], { input: GOOD_V2 });
    const r = await podnet(["config", "set", files.good, "--expect-revision", String(json.revision)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/changed since it was read/);
    expect(await stored()).toBe(GOOD_V2.trimEnd());
    // And a document created meanwhile is not overwritten by a writer that saw it absent.
    const absent = await podnet(["config", "set", files.good, "--expect-revision", "0"]);
    expect(absent.code).toBe(1);
  });

  it("lists history and rolls back, guarded the same way", async () => {
    await podnet(["config", "set", files.good]);
    const hist = await podnet(["config", "history", "-o", "json"]);
    expect(hist.code).toBe(0);
    const doc = JSON.parse(hist.stdout) as {
      revision: number;
      versions: { revision: number; text: string }[];
    };
    const versions = doc.versions;
    expect(versions.length).toBeGreaterThanOrEqual(3);
    // The revision the history was read at: at or past the newest version's.
    expect(doc.revision).toBeGreaterThanOrEqual(versions[0]?.revision ?? Number.POSITIVE_INFINITY);
    expect(versions[0]?.text).toBe(GOOD);
    const v2 = versions.find((v) => v.text.includes('"VNI": 2'));
    expect(v2).toBeDefined();
    const human = await podnet(["config", "history"]);
    expect(human.stdout).toMatch(/^REVISION\s+VERSION\s+NETWORK\s+BACKEND/m);
    const rb = await podnet(["config", "rollback", String(v2?.revision)]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(await stored()).toBe(v2?.text.trimEnd());
    const again = await podnet(["config", "rollback", String(v2?.revision)]);
    expect(again.stdout).toMatch(/nothing to write/);
  });

  it("reports compacted history and a compacted rollback target clearly", async () => {
    const hist = JSON.parse((await podnet(["config", "history", "-o", "json"])).stdout) as {
      versions: { revision: number }[];
    };
    const oldest = hist.versions[hist.versions.length - 1]?.revision ?? 1;
    const status = JSON.parse(await etcd().etcdctlOk(["endpoint", "status", "-w", "json"])) as {
      Status: { header: { revision: number } };
    }[];
    await etcd().etcdctlOk(["compaction", String(status[0]?.Status.header.revision)]);
    const after = await podnet(["config", "history", "-o", "json"]);
    const out = JSON.parse(after.stdout) as { versions: unknown[]; truncated: string | null };
    expect(out.versions).toHaveLength(1);
    expect(out.truncated).toBe("compacted");
    const rb = await podnet(["config", "rollback", String(oldest)]);
    expect(rb.code).toBe(1);
    expect(rb.stderr).toMatch(/compacted/);
    expectNoStack(rb);
  });

  it("takes the connection from PODNET_, ETCDCTL_ and FLANNELD_ variables, the flag winning", async () => {
    const ep = etcd().endpoints.join(",");
    const dead = "http://127.0.0.1:1";
    const base = { PATH: process.env["PATH"] ?? "" };
    const get = (env: Record<string, string>, args: string[] = []) =>
      runPodnet([...args, "config", "get", "-o", "json"], { env: { ...base, ...env } });
    expect((await get({ ETCDCTL_ENDPOINTS: ep })).code).toBe(0);
    expect((await get({ FLANNELD_ETCD_ENDPOINTS: ep })).code).toBe(0);
    expect((await get({ PODNET_ENDPOINTS: ep, ETCDCTL_ENDPOINTS: dead })).code).toBe(0);
    expect((await get({ ETCDCTL_ENDPOINTS: ep, FLANNELD_ETCD_ENDPOINTS: dead })).code).toBe(0);
    expect((await get({ PODNET_ENDPOINTS: dead }, ["--endpoints", ep])).code).toBe(0);
    // FLANNELD_ETCD_PREFIX moves the document; a trailing slash changes nothing.
    await etcd().etcdctlOk(["put", "/other/net/config"], { input: GOOD_V2 });
    const other = await get({ PODNET_ENDPOINTS: ep, FLANNELD_ETCD_PREFIX: "/other/net/" });
    expect(JSON.parse(other.stdout).config.Backend.VNI).toBe(2);
    const flag = await get({ PODNET_ENDPOINTS: ep, PODNET_PREFIX: "/nope" }, ["--prefix", "/other/net"]);
    expect(JSON.parse(flag.stdout).key).toBe("/other/net/config");
  });
});

describe("podnet config against a bad etcd", () => {
  it("gives up by itself at the dial timeout with one sentence naming the endpoints", async () => {
    const r = await runPodnet(["--endpoints", "127.0.0.1:1", "--dial-timeout", "1s", "config", "get"]);
    // Exit 1 is its own; a run the harness had to kill would have no code.
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /cannot reach etcd at http:\/\/127\.0\.0\.1:1(: connection refused| within 1s);/,
    );
    expectNoStack(r);
  });

  it("points at the v2 API when the config exists only in the v2 keyspace", async () => {
    const cluster = await startEtcd({ enableV2: true });
    try {
      await cluster.etcdctlOk(["set", `${PREFIX}/config`, GOOD], { api: 2 });
      const r = await runPodnet(["config", "get"], {
        env: { PODNET_ENDPOINTS: cluster.endpoints.join(",") },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Did you create your config using etcdv3 API\?/);
      expect(r.stderr).toMatch(/v2 API/);
    } finally {
      await cluster.stop();
    }
  });

  it("never writes when the document is not JSON", async () => {
    const cluster = await startEtcd();
    try {
      const r = await runPodnet(["config", "set", files.notJson], {
        env: { PODNET_ENDPOINTS: cluster.endpoints.join(",") },
      });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/line 3, column \d+/);
      const got = await cluster.etcdctl(["get", "--prefix", "/"]);
      expect(got.stdout).toBe("");
    } finally {
      await cluster.stop();
    }
  });
});
