/**
 * The CLI as etcdctl users expect it, on the shipped bundle: shell completion sourced in a real
 * bash, `podnet version` against a real etcd, --insecure-skip-tls-verify against a TLS etcd,
 * warnings summarised after 20 (--verbose for all), --user name:password warned about, examples
 * in every command's --help, and stored values nested 100,000 deep.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
useTempDirs();

describe("podnet completion", () => {
  /** Completes `words` (the last one being typed) in bash with the sourced script. */
  async function complete(shell: string, words: string[]): Promise<string[]> {
    const dir = await tempDir();
    const script = join(dir, "podnet.bash");
    const r = await runPodnet(["completion", shell]);
    expect(r.code).toBe(0);
    await writeFile(script, r.stdout);
    const arr = words.map((w) => `'${w}'`).join(" ");
    const { stdout } = await run("bash", [
      "-c",
      `source ${script}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _podnet; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
    return stdout.split("\n").filter((l) => l !== "");
  }

  it("bash: completes subcommands, nested subcommands, flags and flag values from the command tree", async () => {
    expect(await complete("bash", ["podnet", "le"])).toEqual(["lease"]);
    expect(await complete("bash", ["podnet", "lease", "li"])).toEqual(["list"]);
    expect(await complete("bash", ["podnet", "--endpoints", "x:1", "lease", "list", "--tt"])).toEqual([
      "--ttl",
      "--ttl-auto-max",
    ]);
    expect(await complete("bash", ["podnet", "ipam", "show", "--fr"])).toEqual(["--free"]);
    expect(await complete("bash", ["podnet", "lease", "list", "-o", "ya"])).toEqual(["yaml"]);
    expect(await complete("bash", ["podnet", "completion", "f"])).toEqual([]);
    expect(await complete("bash", ["podnet", "--wri"])).toEqual(["--write-out"]);
  });

  /** The shell's binary is on PATH (scripts/setup.sh installs zsh and fish where it can). */
  const has = (shell: string): boolean =>
    (process.env["PATH"] ?? "").split(":").some((d) => d !== "" && existsSync(join(d, shell)));

  /** The candidates zsh offers for `words` through the script's bashcompinit, filtered by the typed prefix as zsh's compadd does. */
  async function completeZsh(words: string[]): Promise<string[]> {
    const dir = await tempDir();
    const script = join(dir, "_podnet");
    const r = await runPodnet(["completion", "zsh"]);
    expect(r.code).toBe(0);
    await writeFile(script, r.stdout);
    const arr = words.map((w) => `'${w}'`).join(" ");
    // What zsh's _bash_complete does before it calls the bash function through compgen -F.
    const { stdout, stderr } = await run("zsh", [
      "-f",
      "-c",
      `autoload -U +X compinit && compinit -u -D; source ${script}; words=(${arr}); CURRENT=${words.length}; ` +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's own parameter expansions, not JavaScript's.
        'COMP_WORDS=("${words[@]}"); COMP_CWORD=$((CURRENT - 1)); compgen -F _podnet -- "${words[CURRENT]}"',
    ]);
    expect(stderr).toBe("");
    const typed = words[words.length - 1] ?? "";
    return stdout.split("\n").filter((l) => l !== "" && l.startsWith(typed));
  }

  it.skipIf(!has("zsh"))("zsh: the script loads in a real zsh and completes as bash does", async () => {
    expect(await completeZsh(["podnet", "le"])).toEqual(["lease"]);
    expect(await completeZsh(["podnet", "lease", "li"])).toEqual(["list"]);
    expect(await completeZsh(["podnet", "--endpoints", "x:1", "lease", "list", "--tt"])).toEqual([
      "--ttl",
      "--ttl-auto-max",
    ]);
    expect(await completeZsh(["podnet", "lease", "list", "-o", "ya"])).toEqual(["yaml"]);
    expect(await completeZsh(["podnet", "--wri"])).toEqual(["--write-out"]);
  });

  it.skipIf(!has("fish"))(
    "fish: the script loads in a real fish and completes commands and flags",
    async () => {
      const dir = await tempDir();
      const script = join(dir, "podnet.fish");
      const r = await runPodnet(["completion", "fish"]);
      expect(r.code).toBe(0);
      await writeFile(script, r.stdout);
      // fish completes only commands it can find: a stand-in function named podnet.
      const complete = async (line: string): Promise<string[]> => {
        const { stdout, stderr } = await run("fish", [
          "--no-config",
          "-c",
          `function podnet; end; source ${script}; complete -C '${line}'`,
        ]);
        expect(stderr).toBe("");
        return stdout
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => l.split("\t")[0] ?? "");
      };
      expect(await complete("podnet le")).toEqual(["lease"]);
      expect(await complete("podnet lease li")).toEqual(["list"]);
      expect(await complete("podnet lease acquire --public-ip")).toEqual(["--public-ip", "--public-ipv6"]);
      expect(await complete("podnet ipam show --fr")).toEqual(["--free"]);
    },
  );

  it("zsh and fish scripts name every top-level command; an unknown shell is a usage error", async () => {
    const zsh = await runPodnet(["completion", "zsh"]);
    expect(zsh.stdout).toMatch(/^#compdef podnet\n/);
    const fish = await runPodnet(["completion", "fish"]);
    for (const cmd of ["config", "lease", "route", "ipam", "watch", "version", "completion"])
      expect(fish.stdout).toContain(`-a ${cmd} `);
    expect(fish.stdout).toMatch(
      /-n '__fish_seen_subcommand_from lease; and __fish_seen_subcommand_from acquire' -l public-ip/,
    );
    const bad = await runPodnet(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
  });
});

describe("podnet --help", () => {
  it("every command ends its help with examples", async () => {
    const commands = [
      "config validate",
      "config get",
      "config set",
      "config diff",
      "config history",
      "config rollback",
      "ifconfig",
      "route",
      "route add",
      "route del",
      "lease acquire",
      "lease renew",
      "lease release",
      "lease list",
      "lease show",
      "lease reserve",
      "lease unreserve",
      "ipam show",
      "ipam check",
      "ipam release",
      "watch",
      "agent",
      "doctor",
      "completion",
      "version",
    ];
    for (const c of commands) {
      const r = await runPodnet([...c.split(" "), "--help"]);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`\\nExamples:\\n(  .*podnet ${c.split(" ")[0]}.*\\n)+`));
    }
  });
});

describe("warnings and colour", () => {
  it("--user name:password on the command line is warned about, like --password", async () => {
    const r = await runPodnet(["--user", "alice:hunter2", "config", "validate", "examples/network.json"]);
    expect(r.stderr).toMatch(
      /^podnet: warning: --user name:password on the command line shows the password/m,
    );
    expect(r.stderr).not.toContain("hunter2");
    const plain = await runPodnet(["--user", "alice", "config", "validate", "examples/network.json"]);
    expect(plain.stderr).not.toMatch(/warning/);
  });
});

describe("against an etcd that serves no JSON gateway", () => {
  const etcd = useEtcd({ extraArgs: ["--enable-grpc-gateway=false"] });

  it("podnet version still names etcd's versions; its revision is null", async () => {
    const r = await runPodnet(["version", "-o", "json"], {
      env: { PODNET_ENDPOINTS: etcd().endpoints.join(",") },
    });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toMatchObject({
      revision: null,
      etcd: { server: expect.stringMatching(/^3\./) },
    });
    const human = await runPodnet(["version"], { env: { PODNET_ENDPOINTS: etcd().endpoints.join(",") } });
    expect(human.stdout).not.toMatch(/etcd revision/);
  });
});

describe("against a real etcd", () => {
  const etcd = useEtcd();
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { PODNET_ENDPOINTS: etcd().endpoints.join(",") };
    await etcd().etcdctlOk(["put", "/warn/config"], {
      input: '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
    });
    for (let i = 1; i <= 25; i++)
      await etcd().etcdctlOk(["put", `/warn/subnets/10.5.${i}.0-24`], { input: "{bad" });
  });

  it("podnet version names podnet, its commit, Node, etcd's server and cluster versions and its revision", async () => {
    const r = await runPodnet(["version", "-o", "json"], { env });
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout);
    expect(v.podnet).toMatch(/^\d+\.\d+\.\d+/);
    expect(v.commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
    expect(v.node).toBe(process.version.replace(/^v/, "v"));
    expect(v.etcd).toMatchObject({
      server: expect.stringMatching(/^3\.4\./),
      cluster: expect.stringMatching(/^3\.4\./),
    });
    // The answering member's revision: nothing was written since etcdctl read it.
    const header = JSON.parse(await etcd().etcdctlOk(["get", "/", "-w", "json"])) as {
      header: { revision: number };
    };
    expect(v.revision).toBe(header.header.revision);
    const table = await runPodnet(["version"], { env });
    expect(table.stdout).toMatch(/^etcd server: +3\.4\.\d+ \(http/m);
    expect(table.stdout).toMatch(/^etcd revision: +\d+$/m);
    const away = await runPodnet([
      "version",
      "-o",
      "json",
      "--endpoints",
      "127.0.0.1:1",
      "--dial-timeout",
      "300ms",
    ]);
    expect(away.code).toBe(0);
    expect(JSON.parse(away.stdout)).toMatchObject({
      revision: null,
      etcd: null,
      etcdError: expect.stringContaining("127.0.0.1:1"),
    });
  });

  it("warnings: the first 20, then a count; --verbose prints them all", async () => {
    const warnings = (s: string) => s.split("\n").filter((l) => l.startsWith("podnet: warning:"));
    const r = await runPodnet(["--prefix", "/warn", "lease", "list"], { env });
    expect(r.code).toBe(0);
    const lines = warnings(r.stderr);
    expect(lines).toHaveLength(21);
    expect(lines[20]).toBe("podnet: warning: 5 more warnings not shown; --verbose shows them all");
    const all = await runPodnet(["--prefix", "/warn", "lease", "list", "--verbose"], { env });
    expect(warnings(all.stderr)).toHaveLength(25);
    expect(all.stderr).not.toMatch(/not shown/);
  });

  it("-o json is compact when piped and indented with --pretty; both parse to the same document", async () => {
    const compact = await runPodnet(["--prefix", "/warn", "lease", "list", "-o", "json"], { env });
    const pretty = await runPodnet(["--prefix", "/warn", "lease", "list", "-o", "json", "--pretty"], { env });
    expect(compact.code).toBe(0);
    expect(pretty.code).toBe(0);
    expect(compact.stdout.trimEnd().split("\n")).toHaveLength(1);
    expect(pretty.stdout).toMatch(/^\{\n {2}"/);
    expect(JSON.parse(pretty.stdout)).toEqual(JSON.parse(compact.stdout));
  });

  it("values nested 100,000 deep are cut and marked, never a crash", async () => {
    const d = 100_000;
    const deep = `${'{"a":'.repeat(d)}1${"}".repeat(d)}`;
    await etcd().etcdctlOk(["put", "/deep/config"], {
      input: `{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"},"X":${deep}}`,
    });
    await etcd().etcdctlOk(["put", "/deep/subnets/10.5.9.0-24"], {
      input: `{"PublicIP":"192.0.2.8","BackendType":"vxlan","BackendData":${deep}}`,
    });
    for (const args of [
      ["lease", "list", "-o", "json"],
      ["lease", "show", "10.5.9.0/24", "-o", "json"],
      ["config", "get", "-o", "json"],
      ["config", "get", "-o", "yaml"],
    ]) {
      const r = await runPodnet(["--prefix", "/deep", ...args], { env });
      expect(r.stderr, args.join(" ")).not.toMatch(/Maximum call stack|unexpected failure/);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout).toContain("<nested deeper than 100 levels: not shown>");
      expect(r.stderr).toMatch(/warning: a stored value is nested too deep to print whole/);
      if (args.includes("json")) expect(() => JSON.parse(r.stdout)).not.toThrow();
    }
    const get = await runPodnet(["--prefix", "/deep", "config", "get", "-o", "json"], { env });
    expect(get.stderr).toMatch(/warning: \/deep\/config is damaged: .*nested deeper than 512 levels/);
  });
});

describe("--insecure-skip-tls-verify", () => {
  const etcd = useEtcd({ tls: "server" });
  it("connects to a TLS etcd without its CA; without the flag the certificate is refused", async () => {
    const env = { PODNET_ENDPOINTS: etcd().endpoints.join(",") };
    await etcd().etcdctlOk(["put", "/tls/config"], {
      input: '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}',
    });
    const refused = await runPodnet(["--prefix", "/tls", "config", "get"], { env });
    expect(refused.code).toBe(1);
    const r = await runPodnet(["--prefix", "/tls", "--insecure-skip-tls-verify", "config", "get"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"Network":"10.5.0.0/16"');
    const viaEnv = await runPodnet(["--prefix", "/tls", "config", "get"], {
      env: { ...env, ETCDCTL_INSECURE_SKIP_TLS_VERIFY: "true" },
    });
    expect(viaEnv.code).toBe(0);
  });
});
