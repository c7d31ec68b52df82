// Bundles the podnet command into packages/cli/bundle/: start-up time is dominated by Node
// resolving and loading hundreds of small ES modules (zod alone has dozens), and one file per
// lazily-loaded command cuts `podnet --version` and `config validate` to near bare Node.
// @podnet/cli's `dependencies` (etcd3 with grpc, and cockatiel, used only to set etcd3 up) stay
// external: they load only when a command connects. Everything else is in the bundle and so a
// devDependency: an install of the tarball fetches only what the bundle requires.
//
// The chunks are then converted to CommonJS and run by bundle-loader.cjs (bundle/podnet.js)
// through vm.Script, which takes V8's code cache on every Node version: compiling the chunks
// was the largest part of a one-shot command's start-up above bare Node, and Node 20 has no
// module compile cache (Node 22+'s covers only what Node's own loaders load). See the
// README's Benchmarks.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
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

// esbuild's code splitting follows a package's index.js to every module it re-exports that has
// top-level code (zod schemas, classes, prom-client's requires), so one command importing one
// name from @podnet/netcfg loaded the agent, its metrics and the data plane with it (~40% of an
// empty `ipam show`'s start-up). This plugin rewrites each named import of a workspace package
// to the module that defines the name: the same bindings, without the barrel in between.
const BARRELS = {
  "@podnet/ipam-core": new URL("../packages/ipam-core/dist/index.js", import.meta.url).pathname,
  "@podnet/netcfg": new URL("../packages/netcfg/dist/index.js", import.meta.url).pathname,
};
const EXPORT_FROM = /export\s*(\*|\{([^}]*)\})\s*from\s*"([^"]+)";/g;
const definedIn = new Map();
/** Name -> { file, name } of the module that defines each export of FILE, through re-exports. */
function definitions(file) {
  // The promise is what is kept: loads run concurrently and must not see a half-built map.
  if (!definedIn.has(file)) definedIn.set(file, definitionsOf(file));
  return definedIn.get(file);
}
async function definitionsOf(file) {
  const map = new Map();
  const text = await readFile(file, "utf8");
  const reexported = new Set();
  for (const [, star, list, from] of text.matchAll(EXPORT_FROM)) {
    if (!from.startsWith(".")) continue;
    const inner = await definitions(resolve(dirname(file), from));
    if (star === "*") {
      for (const [name, def] of inner) if (name !== "default" && !map.has(name)) map.set(name, def);
      continue;
    }
    for (const item of list
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)) {
      const [orig, as = orig] = item.split(/\s+as\s+/);
      map.set(as, inner.get(orig) ?? { file: resolve(dirname(file), from), name: orig });
      reexported.add(as);
    }
  }
  for (const name of Object.keys(await import(pathToFileURL(file).href))) {
    if (!map.has(name) && !reexported.has(name)) map.set(name, { file, name });
  }
  return map;
}
const IMPORT_NAMED = /(import|export)\s*\{([^}]*)\}\s*from\s*"(@podnet\/[a-z-]+)";/g;
const directImports = {
  name: "direct-imports",
  setup(b) {
    b.onLoad({ filter: /\/packages\/[a-z-]+\/dist\/.*\.js$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      const out = [];
      let last = 0;
      for (const m of text.matchAll(IMPORT_NAMED)) {
        const [whole, kind, list, pkg] = m;
        if (!(pkg in BARRELS)) continue;
        const defs = await definitions(BARRELS[pkg]);
        const byFile = new Map();
        for (const item of list
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean)) {
          const [name, as = name] = item.split(/\s+as\s+/);
          const def = defs.get(name);
          const key = def?.file ?? pkg;
          const imported = def?.name ?? name;
          byFile.set(key, [...(byFile.get(key) ?? []), imported === as ? as : `${imported} as ${as}`]);
        }
        out.push(text.slice(last, m.index));
        out.push(
          [...byFile]
            .map(([file, names]) => `${kind} { ${names.join(", ")} } from ${JSON.stringify(file)};`)
            .join("\n"),
        );
        last = m.index + whole.length;
      }
      out.push(text.slice(last));
      return { contents: out.join(""), loader: "js", resolveDir: dirname(args.path) };
    });
  },
};

// commander requires child_process when it loads, for executable subcommands (podnet has none);
// Node's child_process brings dgram and the process bindings with it. commander gets it on
// first use instead.
const lazyChildProcess = {
  name: "lazy-child-process",
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]commander[\\/]/.test(args.importer) ? { path: "child_process", namespace: "lazy" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "lazy" }, () => ({
      contents:
        'let cp; const get = () => (cp ??= require("node:child_process"));\n' +
        "module.exports = new Proxy({}, { get: (_, key) => get()[key], has: (_, key) => key in get() });\n",
      loader: "js",
    }));
  },
};

const cliManifest = JSON.parse(
  await readFile(new URL("../packages/cli/package.json", import.meta.url), "utf8"),
);
const target = new URL("../packages/cli/bundle", import.meta.url).pathname;
// Built aside and swapped in, so a podnet running from the bundle never sees it half-written.
const outdir = `${target}.tmp-${process.pid}`;
// The ES-module stage: esbuild splits only ES modules.
const esmdir = `${target}.esm-${process.pid}`;
await rm(outdir, { recursive: true, force: true });
await rm(esmdir, { recursive: true, force: true });
await build({
  entryPoints: { main: new URL("../packages/cli/dist/bin.js", import.meta.url).pathname },
  outdir: esmdir,
  bundle: true,
  splitting: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  external: Object.keys(cliManifest.dependencies),
  // Bundled CommonJS dependencies call require(): the loader gives each chunk one.
  define: {
    __PODNET_COMMIT__: JSON.stringify(gitCommit()),
    __PODNET_VERSION__: JSON.stringify(cliManifest.version),
  },
  plugins: [directImports, lazyChildProcess],
  logLevel: "warning",
});
// The CommonJS stage, file by file (no bundling): imports become require() calls of the same
// files (dynamic ones too), exports live getters; the source maps chain back to the sources.
const esmFiles = [
  "main.js",
  ...(await readdir(join(esmdir, "chunks"))).filter((f) => f.endsWith(".js")).map((f) => `chunks/${f}`),
];
await build({
  entryPoints: esmFiles.map((f) => join(esmdir, f)),
  outbase: esmdir,
  outdir,
  bundle: false,
  minify: true,
  sourcemap: "linked",
  format: "cjs",
  platform: "node",
  target: "node20",
  // A chunk's `require` and `import.meta.url` are given by the loader (bundle-loader.cjs).
  supported: { "dynamic-import": false },
  define: { "import.meta.url": "__podnetUrl" },
  logLevel: "warning",
});
await rm(esmdir, { recursive: true, force: true });
// bin.ts's `#!` line is the loader's now; left in main.js it would end up inside the loader's wrapper.
const main = join(outdir, "main.js");
await writeFile(main, (await readFile(main, "utf8")).replace(/^#!.*/, ""));
// The build's identity keys the loader's compile cache: a hash of every chunk it can load and
// of the loader itself (its wrapper is part of each compiled source).
const outFiles = [
  "main.js",
  ...(await readdir(join(outdir, "chunks"))).filter((f) => f.endsWith(".js")).map((f) => `chunks/${f}`),
].sort();
const hash = createHash("sha256");
for (const f of outFiles) hash.update(`${f}\0`).update(await readFile(join(outdir, f)));
const loader = await readFile(new URL("./bundle-loader.cjs", import.meta.url), "utf8");
hash.update("bundle-loader.cjs\0").update(loader);
await writeFile(
  join(outdir, "podnet.js"),
  loader.replace("__PODNET_BUILD__", hash.digest("hex").slice(0, 16)),
  {
    mode: 0o755,
  },
);
// The chunks and the loader are CommonJS, whatever the package around them says.
await writeFile(join(outdir, "package.json"), '{ "type": "commonjs" }\n');
const old = `${target}.old-${process.pid}`;
await rename(target, old).catch(() => undefined);
await rename(outdir, target);
await rm(old, { recursive: true, force: true });
