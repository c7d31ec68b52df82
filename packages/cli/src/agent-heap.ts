/**
 * The agent's heap sizing, set by the podnet program for its agent command only (a library must
 * never change the heap of the program that imports it). The agent's peak memory is what a
 * host pays, so V8 is asked to favour size over speed:
 *
 * - V8 doubles its young generation (up to 2 x 16 MB) whenever much of it survives, as 10,000
 *   decoded leases do; the agent's steady state needs none of that room. A growth factor of 1
 *   keeps the semi-spaces at their initial 1 MB; only scavenges become more frequent. The
 *   factor is read at each growth, so setting it at run time works, but it must come before
 *   the program's modules load: loading them alone grows the semi-spaces twice (to 4 MB each,
 *   8 MB committed, until the memory reducer shrinks them ~8 s later), which a flag set in the
 *   agent's action was too late for. So agent-heap-start.ts sets it as the program starts,
 *   before commander and the agent load. (On node's command line the factor would not do:
 *   V8 raises a start-up value below 2 to 2; only --max-semi-space-size would.) On Node 22 to
 *   26 the bundle's loader has set it already, for every command (scripts/bundle-loader.cjs):
 *   it is then left as it is, neither set again nor put back.
 * - A burst of thousands of lease events promotes short-lived objects to the old generation,
 *   and V8 by default lets it grow to up to 4x its live size after a full GC (~50 MB of
 *   garbage at 10,000 peers) before the next. A growing factor of 1.2 bounds that slack; it is
 *   read at each limit computation. The limit still follows the live size: no hard heap cap,
 *   and no forced GCs.
 * - The optimising compiler (TurboFan) is left out: V8 stops at its baseline compiler
 *   (Sparkplug). Optimising start-up's hot code (the etcd client's decoding, the listing)
 *   costs ~10 MB that stays resident: its compile threads' malloc arenas, the compiler's own
 *   pages of the node binary and the optimised code (measured 2026-12-01: 66-70 MB against
 *   57 MB for an agent waiting on etcd; 99-103 MB against 88 MB with 10,000 peers). The
 *   agent's steady work is small and its one hot loop, splitting iproute2's JSON, runs in
 *   native JSON.parse; a full reconcile at 10,000 peers measured the same CPU. The flag is
 *   read at each tiering decision, so setting it at run time works.
 */
import { createRequire } from "node:module";
import { cachedDataVersionTag, setFlagsFromString } from "node:v8";

/** child_process, loaded only when the flags are looked up: every command imports this file, few need it. */
const childProcess = (): typeof import("node:child_process") =>
  createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process");

const FLAGS = ["--semi-space-growth-factor=1", "--heap-growing-percent=20", "--max-opt=1"];

/**
 * Switches V8 changes itself when one of FLAGS is set, and does not change back when it is put
 * back: `--max-opt=1` turns off `--turbofan` on Node 20 and `--osr-from-maglev` on Node 22.
 * Each is put back as it was too, or V8's flags (part of every cached code's key) would stay
 * changed for the rest of the command, whose modules' code caches would then be refused. As
 * it was, not to `--v8-options`' default: V8's own implications at start-up may have set it
 * otherwise (`--osr-from-maglev` is on at start on Node 24, its listed default off).
 */
const IMPLIED: Readonly<Record<string, readonly string[]>> = {
  "--max-opt": ["--turbofan", "--osr-from-maglev"],
};

/** Every flag name whose default is looked up: FLAGS' and IMPLIED's. */
export const HEAP_FLAG_NAMES: readonly string[] = [
  ...FLAGS.map((f) => f.slice(0, f.indexOf("="))),
  ...Object.values(IMPLIED).flat(),
];

/**
 * The defaults of {@link HEAP_FLAG_NAMES} on Node `major`, for the lines podnet supports (20 to
 * 26, from `node --v8-options` of 20.20, 22.23, 24.22 and 26.12; agent-heap.test.ts holds the
 * line it runs on to it), so that no process is spawned to look them up; undefined for another
 * line. A name a line's V8 does not have is absent.
 */
export function knownDefaults(major: number): ReadonlyMap<string, string> | undefined {
  if (major < 20 || major > 26) return undefined;
  const all = new Map([
    ["--semi-space-growth-factor", "--semi-space-growth-factor=2"],
    ["--heap-growing-percent", "--heap-growing-percent=0"],
    ["--max-opt", "--max-opt=999"],
    ["--turbofan", "--turbofan"],
  ]);
  if (major >= 22) all.set("--osr-from-maglev", major === 22 ? "--osr-from-maglev" : "--no-osr-from-maglev");
  return all;
}

/**
 * A lookup of each flag's default as `--name=value` (`--name` or `--no-name` for a switch),
 * undefined for a flag this V8 does not have; undefined when they cannot be looked up.
 */
function flagDefaults(): ((name: string) => string | undefined) | undefined {
  const known = knownDefaults(Number(process.versions.node.split(".")[0]));
  if (known !== undefined) return (name) => known.get(name);
  let text: string;
  try {
    text =
      childProcess().spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 5000 })
        .stdout ?? "";
  } catch {
    return undefined;
  }
  return (name) => defaultIn(text, name);
}

/**
 * A switch's value now, `--name` or `--no-name`, told by V8's code-cache tag, which hashes
 * every flag off its default: setting the value it has leaves the tag as it was. (V8 has no
 * reading of a flag from JavaScript.)
 */
function switchNow(name: string): string {
  const tag = cachedDataVersionTag();
  setFlagsFromString(name);
  if (cachedDataVersionTag() === tag) return name;
  const off = `--no-${name.slice(2)}`;
  setFlagsFromString(off);
  return off;
}

/** `name`'s default in `node --v8-options`' text (`--name=value`, or `--name` / `--no-name` for a switch). */
export function defaultIn(known: string, name: string): string | undefined {
  const at = known.indexOf(`\n  ${name} `);
  if (at < 0) return undefined;
  const bare = name.slice(2);
  return new RegExp(`default: (--(?:no-)?${bare}(?:=\\S+)?)(?:\\s|$)`).exec(known.slice(at))?.[1];
}

/**
 * The flags the bundle's loader set as the program started (scripts/bundle-loader.cjs): the
 * young generation's sizing on Node 22-26, which the agent wants too and must not put back.
 */
function launcherFlags(): string[] {
  const set = (globalThis as Record<symbol, unknown>)[Symbol.for("podnet.launcherFlags")];
  return Array.isArray(set) ? set.filter((f): f is string => typeof f === "string") : [];
}

/** Each flag as it was before {@link keepAgentHeapSmall} set it (`--name=value`), for {@link restoreHeapDefaults}. */
let previous: string[] | undefined;

/**
 * Sets the flags this V8 knows; a second call does nothing. Node 20 prints an unknown flag to
 * stderr instead of throwing, so each is first looked up: in {@link knownDefaults} on Node 20
 * to 26, else in `node --v8-options` (one short process, at agent start only), which also
 * gives its default for {@link restoreHeapDefaults}.
 */
export function keepAgentHeapSmall(): void {
  if (previous !== undefined) return;
  previous = [];
  const flags = flagsNotGiven(FLAGS, [
    ...process.execArgv,
    process.env["NODE_OPTIONS"] ?? "",
    ...launcherFlags(),
  ]);
  if (flags.length === 0) return;
  const defaults = flagDefaults();
  if (defaults === undefined) return;
  for (const flag of flags) {
    const name = flag.slice(0, flag.indexOf("="));
    // Unknown to this V8 (Node 20 would print it to stderr instead of throwing): not set.
    const was = defaults(name);
    if (was === undefined) continue;
    const implied = (IMPLIED[name] ?? []).filter((n) => defaults(n) !== undefined).map(switchNow);
    try {
      setFlagsFromString(flag);
      previous.push(was, ...implied);
    } catch {
      // An engine that refuses it: the default sizing.
    }
  }
}

/** Puts back the flags {@link keepAgentHeapSmall} set: the command line turned out not to be the agent's. */
export function restoreHeapDefaults(): void {
  for (const flag of previous ?? []) setFlagsFromString(flag);
  previous = undefined;
}

/**
 * The flags of `flags` (`--name=value`) that node's own options (`execArgv`, NODE_OPTIONS) do
 * not name: a value the user gave node is theirs, kept and never reset. V8 reads `-` and `_`
 * in a name alike.
 */
export function flagsNotGiven(flags: readonly string[], nodeOptions: readonly string[]): string[] {
  const given = nodeOptions.join(" ").replaceAll("_", "-");
  return flags.filter((flag) => {
    const name = flag.slice(2, flag.indexOf("=")).replaceAll("_", "-");
    return !new RegExp(`(^|\\s)--(no-)?${name}(=|\\s|$)`).test(given);
  });
}
