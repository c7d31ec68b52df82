import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PODNET_BIN, podnetBuilt, REPO_ROOT, runPodnet } from "@podnet/test-harness/cli";
import { cleanupTempDirs, removeTempDir, tempDir } from "@podnet/test-harness/tmp";
import { describe, expect, it } from "vitest";

describe("tempDir", () => {
  it("creates directories under os.tmpdir() and removes them on cleanup", async () => {
    const a = await tempDir();
    const b = await tempDir("podnet-other-");
    expect(a.startsWith(tmpdir())).toBe(true);
    expect(b).toMatch(/podnet-other-/);
    await writeFile(join(a, "f"), "x");
    await removeTempDir(b);
    expect(existsSync(b)).toBe(false);
    await cleanupTempDirs();
    expect(existsSync(a)).toBe(false);
  });
});

describe("runPodnet", () => {
  it("resolves the built CLI from the repository root", () => {
    expect(existsSync(join(REPO_ROOT, "pnpm-workspace.yaml"))).toBe(true);
    // The harness runs what users run: the package's bin, the bundle.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "packages/cli/package.json"), "utf8")) as {
      bin: { podnet: string };
    };
    expect(PODNET_BIN).toBe(join(REPO_ROOT, "packages/cli", pkg.bin.podnet));
  });

  it.skipIf(podnetBuilt())("fails clearly when the CLI is not built", async () => {
    await expect(runPodnet(["--help"])).rejects.toThrow(/pnpm run build/);
  });

  it.skipIf(!podnetBuilt())("runs podnet --help and exits 0", async () => {
    const r = await runPodnet(["--help"], { env: { PODNET_NO_COLOR: "1" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/podnet/);
  });
});
