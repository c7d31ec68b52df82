import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every temporary directory created by the harness that still exists. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort at exit
      }
    }
    liveDirs.clear();
  });
}

/**
 * Creates a fresh directory under os.tmpdir() (`<prefix>XXXXXX`). It is removed by
 * `removeTempDir`, by `cleanupTempDirs` (which `useTempDirs()` in ./vitest.ts runs after
 * each test file) and, as a last resort, when the process exits.
 */
export async function tempDir(prefix = "podnet-test-"): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

/** Removes one directory made by `tempDir` (no error if it is already gone). */
export async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Removes every directory made by `tempDir` that still exists. */
export async function cleanupTempDirs(): Promise<void> {
  const dirs = [...liveDirs];
  liveDirs.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
