/**
 * A private copy of the built CLI bundle (bundle/ with package.json and a node_modules link
 * beside it, as in packages/cli), so a concurrent `pnpm run build` cannot delete chunks from
 * under a running benchmark. Retries while the bundle is incomplete (a build in progress).
 */
import { existsSync } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const cliDir = fileURLToPath(new URL("../../../../packages/cli/", import.meta.url));

export interface BundleCopy {
  /** The copied podnet.js. */
  readonly bin: string;
  /** The temporary directory holding the copy. */
  readonly dir: string;
  remove(): Promise<void>;
}

export async function copyBundle(prefix = "podnet-bench-"): Promise<BundleCopy> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  for (let attempt = 1; ; attempt++) {
    const snap = join(dir, `snap${attempt}`);
    try {
      await mkdir(snap, { recursive: true });
      await cp(join(cliDir, "bundle"), join(snap, "bundle"), { recursive: true });
      await copyFile(join(cliDir, "package.json"), join(snap, "package.json"));
      await symlink(join(cliDir, "node_modules"), join(snap, "node_modules"));
      const chunks = join(snap, "bundle", "chunks");
      const files = [
        join(snap, "bundle", "podnet.js"),
        ...(existsSync(chunks) ? (await readdir(chunks)).map((f) => join(chunks, f)) : []),
      ];
      for (const file of files.filter((f) => f.endsWith(".js"))) {
        const text = await readFile(file, "utf8");
        for (const m of text.matchAll(/["'](\.\.?\/[^"']+\.js)["']/g)) {
          if (!existsSync(resolve(dirname(file), m[1] ?? ""))) throw new Error(`bundle incomplete: ${m[1]}`);
        }
      }
      const bin = join(snap, "bundle", "podnet.js");
      return { bin, dir, remove: () => rm(dir, { recursive: true, force: true }) };
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
