/**
 * The bundle's loader keeps the young generation at its initial size on Node 22 to 26
 * (scripts/bundle-loader.cjs), before any chunk compiles: run as users run it, on the Node
 * line this file runs on (scripts/test.sh runs it on Node 20, 24 and 26). What V8's flags are
 * shows in its code-cache tag, which hashes every flag that is not at its default: the
 * bundle's tag must be the one of a node with the same flag set, and nothing else; node's own
 * modules must load under node's own flags (their code cached in node's binary is taken only
 * then).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmod, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PODNET_BIN } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useTempDirs } from "@podnet/test-harness/vitest";
import { describe, expect, it } from "vitest";

useTempDirs();

const major = Number(process.versions.node.split(".")[0]);
const SETS_IT = major >= 22 && major <= 26;
const FLAG = "--semi-space-growth-factor=1";

/** V8's code-cache tag in a fresh node with `nodeArgs`, after setting `flags` at run time. */
function tagOf(nodeArgs: string[], flags: string[], env: NodeJS.ProcessEnv = {}): string {
  const script = `const v8 = require("node:v8"); for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f); console.log(v8.cachedDataVersionTag());`;
  return execFileSync(process.execPath, [...nodeArgs, "-e", script], {
    encoding: "utf8",
    env: { PATH: process.env["PATH"], ...env },
  }).trim();
}

/** What a run of the bundle saw, from a hook loaded before it (node -r). */
interface BundleRun {
  /** V8's code-cache tag as the run ended. */
  readonly tag: string;
  /** Each module of node's own required through node's module loader, with the tag then. */
  readonly builtins: readonly (readonly [string, string])[];
  /** The young generation's size as the run ended (bytes). */
  readonly newSpace: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const HOOK = `
const Module = require("node:module");
const v8 = require("node:v8");
const { writeSync } = require("node:fs");
const builtins = [];
const load = Module._load;
Module._load = function (request, ...rest) {
  if (Module.isBuiltin(request)) builtins.push([request, String(v8.cachedDataVersionTag())]);
  return load.call(this, request, ...rest);
};
process.on("exit", () => {
  const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
  writeSync(3, JSON.stringify({ tag: String(v8.cachedDataVersionTag()), builtins, newSpace }));
});
`;

/** The bundle run with `nodeArgs` before it and `args` after. */
async function bundleRun(
  nodeArgs: string[],
  env: NodeJS.ProcessEnv = {},
  args: string[] = ["--version"],
): Promise<BundleRun> {
  const dir = await tempDir();
  const hook = join(dir, "hook.cjs");
  await writeFile(hook, HOOK);
  const r = spawnSync(process.execPath, [...nodeArgs, "-r", hook, PODNET_BIN, ...args], {
    encoding: "utf8",
    env: { PATH: process.env["PATH"], NODE_DISABLE_COMPILE_CACHE: "1", ...env },
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  const seen = JSON.parse(String(r.output[3])) as Pick<BundleRun, "tag" | "builtins" | "newSpace">;
  return { ...seen, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** {@link bundleRun} of `--version`, which must succeed. */
async function bundleTag(
  nodeArgs: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ tag: string; stdout: string; stderr: string }> {
  const run = await bundleRun(nodeArgs, env);
  expect(run.code, run.stderr).toBe(0);
  return run;
}

describe("the bundle's young generation", () => {
  it(`is kept at its initial size ${SETS_IT ? "on this Node line" : "only on Node 22-26, not on this line"}`, async () => {
    const plain = tagOf([], []);
    const kept = tagOf([], [FLAG]);
    expect(kept).not.toBe(plain); // the tag does tell the flag
    const run = await bundleTag([]);
    expect(run.tag).toBe(SETS_IT ? kept : plain);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("leaves a semi-space option the user gave node alone, in NODE_OPTIONS or on node's command line", async () => {
    const viaEnv = { NODE_OPTIONS: "--max-semi-space-size=4" };
    expect((await bundleTag([], viaEnv)).tag).toBe(tagOf([], [], viaEnv));
    const viaArgv = ["--semi_space_growth_factor=3"];
    expect((await bundleTag(viaArgv)).tag).toBe(tagOf(viaArgv, []));
    // Another V8 option is no reason: the loader still sets its own.
    const other = ["--max-old-space-size=512"];
    expect((await bundleTag(other)).tag).toBe(tagOf(other, SETS_IT ? [FLAG] : []));
  });

  it("requires node's own modules under node's own flags, whose cached code V8 takes", async () => {
    const plain = tagOf([], []);
    // A command that may reach etcd (here one that cannot: nothing listens on port 1).
    const run = await bundleRun([], {}, [
      "--endpoints",
      "http://127.0.0.1:1",
      "--dial-timeout",
      "5s",
      "ipam",
      "show",
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split("\n"), run.stderr).toHaveLength(1);
    const names = run.builtins.map(([name]) => name);
    for (const name of ["node:http2", "node:crypto", "node:tls"]) expect(names).toContain(name);
    for (const [name, tag] of run.builtins) expect(tag, name).toBe(plain);
    expect(run.tag).toBe(SETS_IT ? tagOf([], [FLAG]) : plain);
    // node:http2 loaded first grows it once, to 2 MB (measured: 4 MB when it loaded amid the
    // program's modules, 4-8 MB without the flag). V8 14 (Node 26) sometimes grows it by rules
    // of its own whatever the factor (4 MB in about a third of runs with the compile cache, and
    // now and then under load without it): there the flags alone are held, above.
    if (SETS_IT && major < 26) expect(run.newSpace).toBeLessThanOrEqual(2 << 20);
  });

  it("keeps the compile cache usable: a second run reads every chunk back and rewrites none", async () => {
    const home = await tempDir();
    await chmod(home, 0o700);
    const env = { PATH: process.env["PATH"], HOME: home };
    const run = (): void => {
      const r = spawnSync(process.execPath, [PODNET_BIN, "config", "validate", "-"], {
        encoding: "utf8",
        env,
        input: '{"Network":"10.5.0.0/16"}',
      });
      expect(r.status, r.stderr).toBe(0);
    };
    run();
    const base = join(home, ".cache", "podnet", "compile-cache");
    const [nodeDir] = await readdir(base);
    const [build] = await readdir(join(base, nodeDir ?? ""));
    const dir = join(base, nodeDir ?? "", build ?? "");
    const inodes = async (): Promise<Map<string, number>> =>
      new Map(
        await Promise.all(
          (await readdir(dir)).map(async (f) => [f, (await stat(join(dir, f))).ino] as [string, number]),
        ),
      );
    const first = await inodes();
    expect([...first.keys()]).toContain("main.js");
    run();
    // A cache V8 refused (flags that changed after it was made) would be written anew, by rename.
    expect(await inodes()).toEqual(first);
  });
});
