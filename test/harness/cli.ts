import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest directory at or above `dir` holding pnpm-workspace.yaml (this file runs from test/harness/ or its dist/). */
function workspaceRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "pnpm-workspace.yaml"))) return d;
    if (dirname(d) === d) throw new Error(`no pnpm-workspace.yaml above ${dir}`);
  }
}

/** The repository root, with a trailing separator. */
export const REPO_ROOT = join(workspaceRoot(dirname(fileURLToPath(import.meta.url))), "/");
/** The built `podnet` entry point. */
export const PODNET_BIN = join(REPO_ROOT, "packages/cli/bundle/podnet.js");

export interface RunPodnetOptions {
  /** Extra environment; the child otherwise sees only PATH and HOME. */
  env?: Record<string, string>;
  /** Written to stdin (stdin is closed either way). */
  input?: string;
  /** SIGKILL after this long (default 30 s); the result then has code null. */
  timeoutMs?: number;
  /** Working directory (default: the repository root). */
  cwd?: string;
  /**
   * An installed `podnet` executable to run instead of the tree's bundle (e.g. a project's
   * node_modules/.bin/podnet), run itself: its `#!` line finds this test's node first on PATH.
   */
  bin?: string;
}

export interface RunPodnetResult {
  /** Exit code, or null when the process was killed by a signal (e.g. the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The signal that ended the process, if any. */
  signal: NodeJS.Signals | null;
}

/** True when `packages/cli/bundle/podnet.js` exists (i.e. `pnpm run build` has run). */
export function podnetBuilt(): boolean {
  return existsSync(PODNET_BIN);
}

/**
 * Runs `node packages/cli/bundle/podnet.js ...args` (or `opts.bin ...args`) with a clean environment: PATH and HOME plus
 * `opts.env`; no PODNET_*, ETCDCTL_* or FLANNELD_* variable is inherited from the caller.
 */
export function runPodnet(args: string[], opts: RunPodnetOptions = {}): Promise<RunPodnetResult> {
  if (opts.bin === undefined && !podnetBuilt()) {
    return Promise.reject(new Error(`podnet is not built (${PODNET_BIN} missing): run \`pnpm run build\``));
  }
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  Object.assign(env, opts.env ?? {});
  if (opts.bin !== undefined)
    env["PATH"] = [dirname(process.execPath), env["PATH"]].filter(Boolean).join(delimiter);
  const [file, argv] = opts.bin === undefined ? [process.execPath, [PODNET_BIN, ...args]] : [opts.bin, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: opts.cwd ?? REPO_ROOT,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: "SIGKILL",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.on("error", () => {
      // podnet may exit without reading its input
    });
    child.stdin.end(opts.input ?? "");
  });
}
