/**
 * The bundle's compile cache (scripts/bundle-loader.cjs), run as users run it: a first run
 * writes V8's cached code under the user's cache directory, a second reads it and prints the
 * same; a home that is not the user's, a relative XDG_CACHE_HOME and NODE_DISABLE_COMPILE_CACHE
 * get no cache; a cached file someone else owns is never run.
 */
import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useTempDirs } from "@podnet/test-harness/vitest";
import { describe, expect, it } from "vitest";

useTempDirs();

/** Every file under `dir`, recursively, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(d, e);
      if ((await stat(full)).isDirectory()) await walk(full, join(rel, e));
      else out.push(join(rel, e));
    }
  };
  await walk(dir, "");
  return out;
}

const isRoot = typeof process.geteuid === "function" && process.geteuid() === 0;

describe("the bundle's compile cache", () => {
  it("is written on the first run, read on the second, and the output is the same", async () => {
    const home = await tempDir();
    await chmod(home, 0o700);
    const first = await runPodnet(["config", "validate", "-"], {
      env: { HOME: home },
      input: '{"Network":"10.5.0.0/16"}',
    });
    expect(first.code, first.stderr).toBe(0);
    const cached = await filesUnder(join(home, ".cache", "podnet", "compile-cache"));
    expect(cached.some((f) => f.endsWith("main.js"))).toBe(true);
    for (const f of cached) {
      const st = await stat(join(home, ".cache", "podnet", "compile-cache", f));
      expect(st.mode & 0o077, f).toBe(0); // the user's alone
    }
    const second = await runPodnet(["config", "validate", "-"], {
      env: { HOME: home },
      input: '{"Network":"10.5.0.0/16"}',
    });
    expect(second).toMatchObject({ code: 0, stdout: first.stdout, stderr: first.stderr });
  });

  it("is not used without a home of the user's own, with a relative XDG_CACHE_HOME, or when disabled", async () => {
    const home = await tempDir();
    await chmod(home, 0o777); // anyone may write here: no cache
    expect((await runPodnet(["--version"], { env: { HOME: home } })).code).toBe(0);
    expect(await filesUnder(home)).toEqual([]);

    await chmod(home, 0o700);
    const relative = await runPodnet(["--version"], { env: { HOME: home, XDG_CACHE_HOME: "cache" } });
    expect(relative.code).toBe(0);
    // Ignored, as the XDG spec says: the cache goes under the home, not ./cache.
    expect((await filesUnder(join(home, ".cache"))).length).toBeGreaterThan(0);

    const off = await tempDir();
    await chmod(off, 0o700);
    expect(
      (await runPodnet(["--version"], { env: { HOME: off, NODE_DISABLE_COMPILE_CACHE: "1" } })).code,
    ).toBe(0);
    expect(await filesUnder(off)).toEqual([]);
  });

  it.skipIf(!isRoot)("never runs cached code another user owns, even code V8 would take", async () => {
    const home = await tempDir();
    await chmod(home, 0o700);
    expect((await runPodnet(["--version"], { env: { HOME: home } })).code).toBe(0);
    const base = join(home, ".cache", "podnet", "compile-cache");
    const main = (await filesUnder(base)).find((f) => f.endsWith("main.js"));
    expect(main).toBeDefined();
    // V8 checks cached code against the source's length only: code made from another source
    // of main.js's length, as the loader wraps it, is taken. Made by a node of the same build.
    const planted = join(base, main ?? "");
    const maker = join(home, "maker.cjs");
    await writeFile(
      maker,
      `const { readFileSync, writeFileSync } = require("node:fs");
const { Script } = require("node:vm");
const text = readFileSync(process.argv[2], "utf8");
const head = '(function (exports, require, module, __filename, __dirname, __podnetUrl) {"use strict";\\n';
const real = head + text + "\\n})";
let evil = head + 'process.stdout.write("PLANTED\\\\n");' + "\\n})";
evil = evil.slice(0, -3) + " ".repeat(real.length - evil.length) + evil.slice(-3);
const script = new Script(evil, { filename: process.argv[2], lineOffset: -1 });
writeFileSync(process.argv[3], script.createCachedData());
`,
    );
    const made = spawnSync(
      process.execPath,
      [maker, join(REPO_ROOT, "packages/cli/bundle/main.js"), planted],
      {
        encoding: "utf8",
      },
    );
    expect(made.status, made.stderr).toBe(0);
    // Planted as the user's own: the loader takes it (which shows the planted code would run).
    const own = await runPodnet(["--version"], { env: { HOME: home } });
    expect(own.stdout).toBe("PLANTED\n");
    // Someone else's: never run; the command works and the file is the user's own again.
    await chown(planted, 65534, 65534);
    const r = await runPodnet(["--version"], { env: { HOME: home } });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await stat(planted)).uid).toBe(0);
  });

  it("creates nothing when the home does not exist", async () => {
    const parent = await tempDir();
    const home = join(parent, "nonexistent");
    expect((await runPodnet(["--version"], { env: { HOME: home } })).code).toBe(0);
    expect(await filesUnder(parent)).toEqual([]);
    await mkdir(home); // (and a later run with the home in place works as the first test shows)
  });
});
