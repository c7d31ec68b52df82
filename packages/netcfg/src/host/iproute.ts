/**
 * The one place podnet runs host tools: iproute2 (`ip`, `bridge`) and, for `--ip-masq`,
 * `iptables-save`/`iptables-restore`. Every iproute2 read is `-json`; every batch of changes
 * is one `ip -batch -` (or `iptables-restore`) process, not one process per entry.
 */
import { spawn } from "node:child_process";
import { PodnetError } from "@podnet/ipam-core";

/** Where to run: the host's own network namespace, or a named one (`ip -n NAME`). */
export interface HostTarget {
  readonly netns?: string;
}

/** The host tools podnet runs. */
export type Tool = "ip" | "bridge" | "iptables-save" | "iptables-restore";

/** What to install for a missing tool. */
function missingTool(tool: Tool): PodnetError {
  return tool === "ip" || tool === "bridge"
    ? new PodnetError(
        "host",
        `the '${tool}' command (iproute2) is not installed or not on PATH; install iproute2 (Debian: apt-get install iproute2)`,
      )
    : new PodnetError(
        "host",
        `the '${tool}' command (iptables) is not installed or not on PATH; install iptables (Debian: apt-get install iptables)`,
      );
}

/** Bytes handed to a batch process's stdin at a time. */
const STDIN_CHUNK = 64 * 1024;

/** How to feed a tool and where its output goes. */
export interface RunOptions {
  /** Lines written to stdin in chunks as the tool reads them (never joined into one string). */
  readonly stdin?: Iterable<string>;
  /** Receives stdout as it arrives; without it, stdout is collected and returned. */
  readonly onStdout?: (chunk: string) => void;
}

/**
 * Runs one host tool. A missing binary, a non-zero exit or an error thrown by
 * `onStdout` ends it as one PodnetError ("host") naming the command and its first lines of stderr.
 */
export function runTool(
  tool: Tool,
  args: readonly string[],
  target: HostTarget,
  opts: RunOptions = {},
): Promise<string> {
  // iproute2 enters a namespace itself (`ip -n NS`); other tools run under `ip netns exec NS`.
  const iproute = tool === "ip" || tool === "bridge";
  const inNetns = target.netns !== undefined && !iproute;
  const argv = inNetns
    ? ["netns", "exec", target.netns!, tool, ...args]
    : [...(target.netns !== undefined ? ["-n", target.netns] : []), ...args];
  const command = [tool, ...(inNetns ? args : argv)].join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(inNetns ? "ip" : tool, argv, {
      stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let failure: unknown;
    child.stdout!.setEncoding("utf8"); // piped above
    child.stdout!.on("data", (chunk: string) => {
      if (failure !== undefined) return;
      if (!opts.onStdout) {
        stdout += chunk;
        return;
      }
      try {
        opts.onStdout(chunk);
      } catch (err) {
        failure = err;
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      failure ??=
        err.code === "ENOENT"
          ? missingTool(inNetns ? "ip" : tool)
          : new PodnetError("host", `'${command}' failed: ${err.message}`);
    });
    child.on("close", (code) => {
      if (
        failure === undefined &&
        code !== 0 &&
        inNetns &&
        /^exec of ".*" failed: No such file/m.test(stderr)
      ) {
        failure = missingTool(tool);
      }
      if (failure === undefined && code !== 0) {
        const detail = (stderr || `exit status ${code}`).trim().split("\n").slice(0, 3).join("; ");
        const where = target.netns !== undefined ? ` in network namespace ${target.netns}` : "";
        failure = new PodnetError("host", `'${command}' failed${where}: ${detail}`);
      }
      if (failure !== undefined) reject(failure);
      else resolve(stdout);
    });
    if (opts.stdin && child.stdin) feed(child.stdin, opts.stdin);
  });
}

/** Writes lines to a child's stdin in chunks, waiting for it to drain. */
function feed(stdin: NodeJS.WritableStream, lines: Iterable<string>): void {
  // A tool that exits early (a failing neighbour line ends `ip`) closes its stdin: not our error.
  stdin.on("error", () => undefined);
  const it = lines[Symbol.iterator]();
  const pump = (): void => {
    for (;;) {
      let chunk = "";
      let done = false;
      while (chunk.length < STDIN_CHUNK) {
        const next = it.next();
        if (next.done === true) {
          done = true;
          break;
        }
        chunk += `${next.value}\n`;
      }
      if (done) {
        stdin.end(chunk);
        return;
      }
      if (!stdin.write(chunk)) {
        stdin.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

const run = (tool: Tool, args: readonly string[], target: HostTarget) => runTool(tool, args, target);

/** Runs `ip ARGS` and returns its output. */
export function ip(args: readonly string[], target: HostTarget = {}): Promise<string> {
  return run("ip", args, target);
}

/** Runs `ip -json ARGS` and parses the answer (an empty answer is an empty list). */
export async function ipJson<T>(args: readonly string[], target: HostTarget = {}): Promise<T> {
  return parseJson<T>(await run("ip", ["-json", ...args], target), "ip");
}

/** Runs `bridge -json ARGS` and parses the answer. */
export async function bridgeJson<T>(args: readonly string[], target: HostTarget = {}): Promise<T> {
  return parseJson<T>(await run("bridge", ["-json", ...args], target), "bridge");
}

/**
 * Applies many changes in one `ip -batch -` process, fed as it reads. `-force` goes on past
 * a failing line so one stale entry cannot block the rest; the failures come back in the error.
 */
export async function ipBatch(lines: Iterable<string>, target: HostTarget = {}): Promise<void> {
  await toolBatch("ip", lines, target);
}

/** Applies many fdb changes in one `bridge -force -batch -` process, like {@link ipBatch}. */
export async function bridgeBatch(lines: Iterable<string>, target: HostTarget = {}): Promise<void> {
  await toolBatch("bridge", lines, target);
}

/** Applies lines in one `TOOL -force -batch -` process, fed as it reads them. */
export async function toolBatch(tool: Tool, lines: Iterable<string>, target: HostTarget = {}): Promise<void> {
  if (Array.isArray(lines) && lines.length === 0) return;
  await runTool(tool, ["-force", "-batch", "-"], target, { stdin: lines });
}

function parseJson<T>(text: string, tool: Tool): T {
  if (text.trim() === "") return [] as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PodnetError("host", `'${tool} -json' printed something that is not JSON; is iproute2 too old?`);
  }
}
