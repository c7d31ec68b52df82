/**
 * Secrets never printed: a config holding an ipsec or a wireguard pre-shared key, read back by
 * every command that shows a config or a diff, on the shipped bundle against a real etcd. The
 * key shows as <redacted> unless --show-secrets asks for it.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const IPSEC_PSK = `ipsec-${"s3cr3t".repeat(16)}`; // 102 characters, as flannel requires ≥ 96
const IPSEC_PSK2 = `other-${"t0ps3cr3t".repeat(11)}`;
const WG_PSK = "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=";
const ipsec = (psk: string) =>
  `{\n  "Network": "10.5.0.0/16",\n  "SubnetLen": 24,\n  "Backend": {\n    "Type": "ipsec",\n    "PSK": "${psk}"\n  }\n}\n`;
const wireguard = `{"Network":"10.6.0.0/16","Backend":{"Type":"wireguard","psk":"${WG_PSK}"}}`;

useTempDirs();
const etcd = useEtcd();
let env: Record<string, string>;
let files: { ipsec: string; ipsec2: string; wireguard: string };

/** Runs podnet at a prefix; fails the test if any secret shows on stdout or stderr. */
async function podnet(prefix: string, args: string[]): Promise<RunPodnetResult> {
  const r = await runPodnet(["--prefix", prefix, ...args], { env });
  for (const secret of [IPSEC_PSK, IPSEC_PSK2, WG_PSK]) {
    expect(r.stdout, `${args.join(" ")}: stdout`).not.toContain(secret);
    expect(r.stderr, `${args.join(" ")}: stderr`).not.toContain(secret);
  }
  return r;
}

beforeAll(async () => {
  env = { PODNET_ENDPOINTS: etcd().endpoints.join(",") };
  const dir = await tempDir();
  files = {
    ipsec: join(dir, "ipsec.json"),
    ipsec2: join(dir, "ipsec2.json"),
    wireguard: join(dir, "wg.json"),
  };
  await writeFile(files.ipsec, ipsec(IPSEC_PSK));
  await writeFile(files.ipsec2, ipsec(IPSEC_PSK2));
  await writeFile(files.wireguard, wireguard);
  await etcd().etcdctlOk(["put", "/ipsec/config"], { input: ipsec(IPSEC_PSK) });
  await etcd().etcdctlOk(["put", "/wg/config"], { input: wireguard });
});

describe("secrets are redacted by every command that shows a config", () => {
  it("config get, in every format", async () => {
    for (const prefix of ["/ipsec", "/wg"]) {
      const table = await podnet(prefix, ["config", "get"]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/"(PSK|psk)": ?"<redacted>"/);
      const json = JSON.parse((await podnet(prefix, ["config", "get", "-o", "json"])).stdout);
      expect(json.config.Backend.PSK ?? json.config.Backend.psk).toBe("<redacted>");
      expect((await podnet(prefix, ["config", "get", "-o", "yaml"])).stdout).toMatch(/(PSK|psk): <redacted>/);
      expect((await podnet(prefix, ["config", "get", "-o", "simple"])).stdout).toContain("<redacted>");
    }
  });

  it("config set's diff, with a changed key shown as a changed mark", async () => {
    const dry = await podnet("/ipsec", ["config", "set", files.ipsec2, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^- {4}"PSK": "<redacted 1>"$/m);
    expect(dry.stdout).toMatch(/^\+ {4}"PSK": "<redacted 2>"$/m);
    const json = JSON.parse(
      (await podnet("/ipsec", ["config", "set", files.ipsec2, "--dry-run", "-o", "json"])).stdout,
    );
    expect(json.diff).toContain("<redacted 2>");
  });

  it("config diff, which exits 1 on a difference and 0 when identical", async () => {
    const differs = await podnet("/ipsec", ["config", "diff", files.ipsec2]);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toMatch(/^\+ {4}"PSK": "<redacted 2>"$/m);
    const same = await podnet("/ipsec", ["config", "diff", files.ipsec]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/is identical to/);
  });

  it("config history -o json", async () => {
    await podnet("/ipsec", ["config", "set", files.ipsec2]);
    const r = await podnet("/ipsec", ["config", "history", "-o", "json"]);
    const history = JSON.parse(r.stdout) as { versions: { text: string }[] };
    expect(history.versions).toHaveLength(2);
    for (const v of history.versions) expect(v.text).toContain('"PSK": "<redacted>"');
    await podnet("/ipsec", ["config", "set", files.ipsec]);
  });

  it("ifconfig -o json", async () => {
    const r = await podnet("/wg", ["ifconfig", "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).backend.PSK).toBe("<redacted>");
    expect((await podnet("/wg", ["ifconfig"])).stdout).toMatch(/psk \(set\)/);
  });

  it("config validate", async () => {
    const r = await podnet("/validate", ["config", "validate", files.ipsec, "-o", "json"]);
    expect(JSON.parse(r.stdout).resolved.Backend.PSK).toBe("<redacted>");
    expect((await podnet("/validate", ["config", "validate", files.ipsec])).stdout).toMatch(/PSK=<redacted>/);
  });
});

describe("--show-secrets", () => {
  it("prints the keys in clear for the admin who asks", async () => {
    const get = await runPodnet(["--prefix", "/ipsec", "config", "get", "--show-secrets"], { env });
    expect(get.stdout).toContain(IPSEC_PSK);
    const diff = await runPodnet(["--prefix", "/ipsec", "--show-secrets", "config", "diff", files.ipsec2], {
      env,
    });
    expect(diff.stdout).toContain(IPSEC_PSK2);
    const ifconfig = await runPodnet(["--prefix", "/wg", "ifconfig", "-o", "json", "--show-secrets"], {
      env,
    });
    expect(JSON.parse(ifconfig.stdout).backend.PSK).toBe(WG_PSK);
    const validate = await runPodnet(
      ["config", "validate", files.wireguard, "-o", "json", "--show-secrets"],
      { env },
    );
    expect(JSON.parse(validate.stdout).resolved.Backend.PSK).toBe(WG_PSK);
  });
});
