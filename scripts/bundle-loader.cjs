#!/usr/bin/env node
"use strict";
/*
 * bundle/podnet.js: runs the podnet program from its CommonJS chunks (scripts/bundle.mjs builds
 * them and puts this file in front). Each chunk is compiled with vm.Script and run with what
 * CommonJS gives a module: exports, require (chunks by relative path, anything else through
 * Node's require from here), module, its file and directory, and its file URL for
 * import.meta.url; in strict mode, as the ES modules it was built from.
 *
 * Why not Node's own loader: compiling is most of podnet's start-up, and Node 20 has no compile
 * cache (module.enableCompileCache is Node 22+). vm.Script takes V8's code cache on every
 * version: a chunk's compiled code is kept in the user's cache directory, keyed by Node's
 * version and this build, and read back instead of compiling again. V8 checks each cache
 * against its own version and flags and compiles afresh when it does not fit; a cache that
 * cannot be read or written is no error, only a slower start. NODE_DISABLE_COMPILE_CACHE=1
 * (Node's own switch) turns it off.
 */
const {
  mkdirSync,
  closeSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require("node:fs");
const { createRequire, isBuiltin } = require("node:module");
const { basename, dirname, isAbsolute, join, resolve } = require("node:path");
const { pathToFileURL } = require("node:url");
const { cachedDataVersionTag, setFlagsFromString } = require("node:v8");
const { Script } = require("node:vm");

/**
 * The young generation kept at its initial size (1 MB semi-spaces) for every command, on Node
 * 22 to 26. Loading podnet's modules alone makes V8 double the semi-spaces twice (8 MB
 * committed and touched, until a memory reducer long after a command has ended); on Node 24
 * and 26 that was what put the listing views at 65,000 leases over 100 MB (99-103 MB peak,
 * 93-96 MB with this). Node 20 is left as it is: its views peak under 82 MB, and the flag
 * cost its summary views ~7%. V8 reads the factor at each growth, so setting it here works;
 * it must come before any chunk is compiled, as V8's flags are part of every cached code's
 * key (see startTag).
 *
 * Node's own modules are compiled from code cached in its binary, which V8 takes only under
 * the flags it was made with: under the factor, node:http2 and the ~60 modules it brings
 * were compiled afresh (15-40 ms of CPU a command). So node:http2, which every command's
 * modules import (the etcd transport), is required first, under node's flags: from an empty
 * heap it grows the young generation once, to 2 MB, where it then stays (on Node 26 V8
 * sometimes grows it to 4 MB by rules of its own); later, amid the program's modules, it grew
 * it to 4 MB. Any other module of node's own is required with
 * the flags put back for the while (see outsideRequire).
 *
 * A semi-space size the user gave node (command line or NODE_OPTIONS) is theirs. The flag is
 * known to every V8 of those lines; a later line is left alone (V8 prints an unknown flag to
 * stderr instead of throwing). What was set is left at Symbol.for("podnet.launcherFlags") on
 * globalThis, so that the agent's own heap sizing (packages/cli/src/agent-heap.ts) neither
 * sets it again nor puts it back.
 */
const GROWTH_FACTOR = "--semi-space-growth-factor=1";
/** The factor at V8's default (the same on every V8 of Node 22-26). */
const GROWTH_DEFAULT = "--semi-space-growth-factor=2";
const launcherFlags = (() => {
  const major = Number(process.versions.node.split(".")[0]);
  const given = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`.replaceAll("_", "-");
  if (major < 22 || major > 26) return [];
  const sized = /(^|\s)--(no-)?(semi-space-growth-factor|max-semi-space-size|min-semi-space-size)(=|\s|$)/;
  if (sized.test(given)) return [];
  require("node:http2");
  setFlagsFromString(GROWTH_FACTOR);
  return [GROWTH_FACTOR];
})();
globalThis[Symbol.for("podnet.launcherFlags")] = launcherFlags;

/** This build's identity (a hash of its chunks), written in by scripts/bundle.mjs. */
const BUILD = "__PODNET_BUILD__";
/** How many other builds' caches are kept beside this one's. */
const KEPT_BUILDS = 3;
const nodeRequire = createRequire(__filename);

/**
 * A module from outside the bundle: one of node's own is required with V8's flags as node
 * started them, for the while (see launcherFlags); a dependency's has no code in node's
 * binary, and is required as it is.
 */
function outsideRequire(id) {
  if (launcherFlags.length === 0 || !isBuiltin(id)) return nodeRequire(id);
  setFlagsFromString(GROWTH_DEFAULT);
  try {
    return nodeRequire(id);
  } finally {
    setFlagsFromString(GROWTH_FACTOR);
  }
}
const chunks = new Map();
const cacheDir = compileCacheDir();
/** Chunks compiled without a usable cache: their code is written to the cache at exit. */
const uncached = [];
/** V8's version, flags and CPU features as the run starts (the agent sets heap flags later). */
const startTag = cachedDataVersionTag();

/** Whether `path` exists and is this user's, writable by no one else (uid checks only where there are uids). */
function ownedByMe(st) {
  const me = typeof process.geteuid === "function" ? process.geteuid() : undefined;
  return me === undefined || (st.uid === me && (st.mode & 0o022) === 0);
}

/**
 * `$XDG_CACHE_HOME/podnet/compile-cache/<node version>-<arch>/<build>` (else ~/.cache/...).
 * None without a home, with a relative XDG_CACHE_HOME (the XDG spec says to ignore it), or
 * when the home is not this user's: V8 checks cached code against the source's length only,
 * so a cache someone else can write (root under `sudo -E`, a unit with another user's HOME)
 * would run their code.
 */
function compileCacheDir() {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  const home = process.env.HOME;
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : home && isAbsolute(home) ? join(home, ".cache") : "";
  if (base === "") return undefined;
  try {
    if (!ownedByMe(statSync(home && base === join(home, ".cache") ? home : base))) return undefined;
  } catch {
    return undefined; // no such home: nothing is created there
  }
  return join(base, "podnet", "compile-cache", `${process.version}-${process.arch}`, BUILD);
}

/** The cached code of chunk `name`, if this user's own file (anyone else's is never run). */
function cachedCode(name) {
  if (cacheDir === undefined) return undefined;
  let fd;
  try {
    fd = openSync(join(cacheDir, name), "r");
    if (!ownedByMe(fstatSync(fd))) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The error of a chunk that cannot be read or compiled: the installation is damaged. The CLI
 * prints its message as it is (packages/cli/src/exit.ts knows the code).
 */
function damagedInstall(err, file) {
  const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
  // A read names the file; a compile (a chunk cut short) only says what is wrong.
  const why = message.includes(file) ? message : `${file}: ${message}`;
  const damaged = new Error(
    `cannot load podnet's own code (${why}); the installation is damaged: reinstall podnet`,
  );
  damaged.code = "ERR_PODNET_DAMAGED_INSTALL";
  return damaged;
}

function load(file) {
  const known = chunks.get(file);
  if (known !== undefined) return known.exports;
  const dir = dirname(file);
  const name = basename(file);
  const cachedData = cachedCode(name);
  let script;
  try {
    // The wrapper's own line is line -1: positions in the chunk (stack traces, source maps) stay its own.
    const source = `(function (exports, require, module, __filename, __dirname, __podnetUrl) {"use strict";\n${readFileSync(file, "utf8")}\n})`;
    script = new Script(source, { filename: file, lineOffset: -1, ...(cachedData && { cachedData }) });
  } catch (err) {
    throw damagedInstall(err, file);
  }
  const module = { exports: {} };
  chunks.set(file, module);
  if (cacheDir !== undefined && (cachedData === undefined || script.cachedDataRejected)) {
    uncached.push({ name, script });
  }
  const run = script.runInThisContext();
  const chunkRequire = (id) =>
    id.startsWith("./") || id.startsWith("../") ? load(resolve(dir, id)) : outsideRequire(id);
  run.call(module.exports, module.exports, chunkRequire, module, file, dir, pathToFileURL(file).href);
  return module.exports;
}

// At exit the code cache holds the functions this run compiled too, not only the top level.
process.on("exit", () => {
  // A run that changed V8's flags (the agent's heap sizing) would leave caches every other
  // command refuses: it writes none.
  if (uncached.length === 0 || cachedDataVersionTag() !== startTag) return;
  try {
    const created = mkdirSync(cacheDir, { recursive: true, mode: 0o700 }) !== undefined;
    for (const { name, script } of uncached) {
      const tmp = join(cacheDir, `.${name}.${process.pid}`);
      try {
        // "wx": never through a file or link already there.
        writeFileSync(tmp, script.createCachedData(), { flag: "wx", mode: 0o600 });
        renameSync(tmp, join(cacheDir, name)); // whole or not at all, whoever else writes it
      } catch (err) {
        rmSync(tmp, { force: true }); // a full disk leaves no half-written file behind
        throw err;
      }
    }
    // A new build's first run keeps the caches of the three builds made last before it (two
    // installs used in turn do not evict each other) and drops the rest.
    if (created) {
      const builds = dirname(cacheDir);
      const others = readdirSync(builds)
        .filter((b) => b !== BUILD)
        .map((b) => ({ dir: join(builds, b), made: statSync(join(builds, b)).mtimeMs }))
        .sort((a, b) => b.made - a.made);
      for (const { dir } of others.slice(KEPT_BUILDS)) rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // No cache this time: the next run compiles again.
  }
});

try {
  load(join(__dirname, "main.js"));
} catch (err) {
  // A damaged install (a chunk missing or unreadable): one line, not a stack.
  const { message } = err?.code === "ERR_PODNET_DAMAGED_INSTALL" ? err : damagedInstall(err, "main.js");
  process.stderr.write(`podnet: ${message}\n`);
  process.exitCode = 1;
}
