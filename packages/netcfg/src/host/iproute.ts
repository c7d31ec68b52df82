/**
 * The one place podnet runs iproute2 (`ip`, `bridge`). Every kernel read is `-json`; every
 * batch of changes is one `ip -batch -` process, not one process per entry.
 */
import { execFile } from "node:child_process";
import { PodnetError } from "@podnet/ipam-core";

/** Where to run: the host's own network namespace, or a named one (`ip -n NAME`). */
export interface HostTarget {
  readonly netns?: string;
}

type Tool = "ip" | "bridge";

function run(tool: Tool, args: readonly string[], target: HostTarget, input?: string): Promise<string> {
  const argv = [...(target.netns !== undefined ? ["-n", target.netns] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(tool, argv, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        return reject(
          new PodnetError(
            "host",
            `the '${tool}' command (iproute2) is not installed or not on PATH; install iproute2 (Debian: apt-get install iproute2)`,
          ),
        );
      }
      const detail = (stderr || err.message).trim().split("\n").slice(0, 3).join("; ");
      const where = target.netns !== undefined ? ` in network namespace ${target.netns}` : "";
      reject(new PodnetError("host", `'${tool} ${argv.join(" ")}' failed${where}: ${detail}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

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
 * Applies many changes in one `ip -batch -` process. `-force` goes on past a failing line
 * so one stale entry cannot block the rest; the failures come back in the error.
 */
export async function ipBatch(lines: readonly string[], target: HostTarget = {}): Promise<void> {
  if (lines.length === 0) return;
  await run("ip", ["-force", "-batch", "-"], target, `${lines.join("\n")}\n`);
}

/** Applies many fdb changes in one `bridge -force -batch -` process, like {@link ipBatch}. */
export async function bridgeBatch(lines: readonly string[], target: HostTarget = {}): Promise<void> {
  if (lines.length === 0) return;
  await run("bridge", ["-force", "-batch", "-"], target, `${lines.join("\n")}\n`);
}

function parseJson<T>(text: string, tool: Tool): T {
  if (text.trim() === "") return [] as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PodnetError("host", `'${tool} -json' printed something that is not JSON; is iproute2 too old?`);
  }
}
