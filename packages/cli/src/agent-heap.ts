/**
 * The agent's heap sizing, set by the podnet program for its agent command only (a library must
 * never change the heap of the program that imports it). The agent's peak memory is what a
 * host pays, so V8 is asked to favour size over speed:
 *
 * - V8 doubles its young generation (up to 2 x 16 MB) whenever much of it survives, as 10,000
 *   decoded leases do; the agent's steady state needs none of that room. A growth factor of 1
 *   keeps the semi-spaces at their initial size; the factor is read at each growth, so setting
 *   it after start-up takes effect (unlike --max-semi-space-size). Only scavenges become more
 *   frequent.
 * - A burst of thousands of lease events promotes short-lived objects to the old generation,
 *   and V8 by default lets it grow to up to 4x its live size after a full GC (~50 MB of
 *   garbage at 10,000 peers) before the next. A growing factor of 1.2 bounds that slack; it is
 *   read at each limit computation. The limit still follows the live size: no hard heap cap,
 *   no forced GCs, and (unlike --optimize-for-size) no change to the compiler.
 */
import { spawnSync } from "node:child_process";
import { setFlagsFromString } from "node:v8";

const FLAGS = ["--semi-space-growth-factor=1", "--heap-growing-percent=20"];

/**
 * Sets the flags this V8 knows. Node 20 prints an unknown flag to stderr instead of throwing,
 * so each is first looked up in `node --v8-options` (one short process, at agent start only).
 */
export function keepAgentHeapSmall(): void {
  let known: string;
  try {
    known = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 5000 }).stdout ?? "";
  } catch {
    return;
  }
  for (const flag of FLAGS) {
    const name = flag.slice(0, flag.indexOf("="));
    if (!known.includes(`${name} `)) continue;
    try {
      setFlagsFromString(flag);
    } catch {
      // An engine that refuses it: the default sizing.
    }
  }
}
