// Bundles the podnet command into packages/cli/bundle/: start-up time is dominated by Node
// resolving and loading hundreds of small ES modules (zod alone has dozens), and one file per
// lazily-loaded command cuts `podnet --version` and `config validate` to near bare Node.
// etcd3 (grpc) stays external: it loads only when a command connects.
import { execFileSync } from "node:child_process";
import { readFile, rename, rm } from "node:fs/promises";
import { build } from "esbuild";

// The commit `podnet version` reports: PODNET_COMMIT when set (release builds from a tarball),
// else git's, marked -dirty when the work tree has changes; "unknown" outside a git checkout.
function gitCommit() {
  if (process.env.PODNET_COMMIT) return process.env.PODNET_COMMIT;
  const git = (...args) =>
    execFileSync("git", args, { cwd: new URL("..", import.meta.url).pathname, encoding: "utf8" }).trim();
  try {
    const commit = git("rev-parse", "--short=12", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no") === "" ? commit : `${commit}-dirty`;
  } catch {
    return "unknown";
  }
}

const target = new URL("../packages/cli/bundle", import.meta.url).pathname;
// Built aside and swapped in, so a podnet running from the bundle never sees it half-written.
const outdir = `${target}.tmp-${process.pid}`;
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { podnet: new URL("../packages/cli/dist/bin.js", import.meta.url).pathname },
  outdir,
  bundle: true,
  splitting: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  external: ["etcd3", "cockatiel"],
  // Bundled CommonJS dependencies may call require(); give them one.
  banner: {
    js: "import{createRequire as __podnetRequire}from'node:module';const require=__podnetRequire(import.meta.url);",
  },
  define: {
    __PODNET_COMMIT__: JSON.stringify(gitCommit()),
    __PODNET_VERSION__: JSON.stringify(
      JSON.parse(await readFile(new URL("../packages/cli/package.json", import.meta.url), "utf8")).version,
    ),
  },
  logLevel: "warning",
});
const old = `${target}.old-${process.pid}`;
await rename(target, old).catch(() => undefined);
await rename(outdir, target);
await rm(old, { recursive: true, force: true });
