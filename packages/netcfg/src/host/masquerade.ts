/**
 * `--ip-masq`: the NAT rules flanneld installs, so pods reach the world beyond the overlay
 * under their host's address while pod-to-pod traffic keeps its source. They live in podnet's
 * own chain, jumped to from the nat table's POSTROUTING, and are applied in one
 * `iptables-restore --noflush` transaction, replacing only podnet's chain; an unchanged rule
 * set is left alone (its counters keep counting). IPv6 gets the same rules from ip6tables.
 */
import type { AddressFamily } from "./family.js";
import { type HostTarget, runTool } from "./iproute.js";

/** podnet's chain in the nat table. */
export const MASQ_CHAIN = "PODNET-POSTRTG";
const COMMENT = `-m comment --comment "podnet masq"`;
/** The jump from POSTROUTING, as `iptables-save` prints it. */
const JUMP_SPEC = `${COMMENT} -j ${MASQ_CHAIN}`;
const JUMP = `-A POSTROUTING ${JUMP_SPEC}`;
/** kube-proxy marks what it masquerades itself; NAT-ing it twice breaks it on some kernels. */
const KUBE_PROXY_MARK = "0x4000/0x4000";

/**
 * The chain's rules, in `iptables-save`'s own spelling (so the kernel's copy compares equal),
 * for the pod network `network` and this host's `subnet`, both CIDRs. flanneld's order:
 * pod-to-pod traffic keeps its source; pods to anywhere else but multicast are masqueraded;
 * traffic from outside the overlay to this host's pods keeps its source; the host itself
 * talking to other hosts' pods is masqueraded, so their replies come back over the overlay.
 * `randomFully` (fully random source ports, as flanneld uses when iptables has it) defaults on.
 */
export function planMasquerade(
  network: string,
  subnet: string,
  opts: { randomFully?: boolean; family?: AddressFamily } = {},
): string[] {
  const c = MASQ_CHAIN;
  const multicast = opts.family === 6 ? "ff00::/8" : "224.0.0.0/4";
  const masq = opts.randomFully === false ? "MASQUERADE" : "MASQUERADE --random-fully";
  return [
    `-A ${c} -m mark --mark ${KUBE_PROXY_MARK} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${subnet} -d ${network} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${network} -d ${subnet} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${network} ! -d ${multicast} ${COMMENT} -j ${masq}`,
    `-A ${c} ! -s ${network} -d ${subnet} ${COMMENT} -j RETURN`,
    `-A ${c} ! -s ${network} -d ${network} ${COMMENT} -j ${masq}`,
  ];
}

/** Whether an `iptables-save -V` answer (`iptables-save v1.8.9 (nf_tables)`) is 1.6.2 or later, which has --random-fully. */
export function hasRandomFully(versionLine: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionLine);
  if (m === null) return true; // an unknown spelling: a modern iptables
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major !== 1 ? major > 1 : minor !== 6 ? minor > 6 : patch >= 2;
}

/** The save and restore tools of a family. */
function tools(family: AddressFamily): {
  save: "iptables-save" | "ip6tables-save";
  restore: "iptables-restore" | "ip6tables-restore";
} {
  return family === 6
    ? { save: "ip6tables-save", restore: "ip6tables-restore" }
    : { save: "iptables-save", restore: "iptables-restore" };
}

/** Per namespace and family: does its iptables have --random-fully (asked once). */
const randomFullyIn = new Map<string, Promise<boolean>>();

function randomFully(target: HostTarget, family: AddressFamily): Promise<boolean> {
  const key = `${target.netns ?? ""}/${family}`;
  let known = randomFullyIn.get(key);
  if (known === undefined) {
    known = runTool(tools(family).save, ["-V"], target).then(hasRandomFully);
    // A failure (iptables missing) is reported by the caller and asked again next time.
    known.catch(() => randomFullyIn.delete(key));
    randomFullyIn.set(key, known);
  }
  return known;
}

/** The nat table's state as far as podnet's rules go. */
interface MasqState {
  /** How many times POSTROUTING jumps to the chain (more than once only by accident or by hand). */
  readonly jumps: number;
  /** The chain's rules, or undefined when there is no chain. */
  readonly rules: string[] | undefined;
}

async function readMasquerade(target: HostTarget, family: AddressFamily): Promise<MasqState> {
  const saved = await runTool(tools(family).save, ["-t", "nat"], target);
  const lines = saved.split("\n");
  const chain = lines.some((line) => line.startsWith(`:${MASQ_CHAIN} `));
  return {
    jumps: lines.filter((line) => line === JUMP).length,
    rules: chain ? lines.filter((line) => line.startsWith(`-A ${MASQ_CHAIN} `)) : undefined,
  };
}

/** `-D` lines for `n` jumps to the chain. */
const deleteJumps = (n: number): string[] => Array.from({ length: n }, () => `-D POSTROUTING ${JUMP_SPEC}`);

/**
 * Makes the kernel's masquerade rules those of {@link planMasquerade}; returns why it changed
 * them ("missing", "changed", "jump missing", "duplicate jumps"), or undefined when they were
 * already right.
 */
export async function ensureMasquerade(
  network: string,
  subnet: string,
  target: HostTarget = {},
  family: AddressFamily = 4,
): Promise<string | undefined> {
  const want = planMasquerade(network, subnet, { randomFully: await randomFully(target, family), family });
  const have = await readMasquerade(target, family);
  const same = have.rules !== undefined && have.rules.join("\n") === want.join("\n");
  if (same && have.jumps === 1) return undefined;
  await restore(
    [
      // With --noflush, declaring a chain creates it or flushes it; nothing else is touched.
      `:${MASQ_CHAIN} - [0:0]`,
      ...want,
      // Exactly one jump, first in POSTROUTING, so no other rule masquerades pod-to-pod traffic first.
      ...(have.jumps === 1 ? [] : [...deleteJumps(have.jumps), `-I POSTROUTING 1 ${JUMP_SPEC}`]),
    ],
    target,
    family,
  );
  if (have.rules === undefined) return "missing";
  if (!same) return "changed";
  return have.jumps === 0 ? "jump missing" : "duplicate jumps";
}

/** Removes podnet's jumps and chain (of one family); false when there was nothing to remove. */
export async function removeMasquerade(target: HostTarget = {}, family: AddressFamily = 4): Promise<boolean> {
  const have = await readMasquerade(target, family);
  if (have.rules === undefined && have.jumps === 0) return false;
  await restore(
    [
      ...deleteJumps(have.jumps),
      ...(have.rules !== undefined ? [`-F ${MASQ_CHAIN}`, `-X ${MASQ_CHAIN}`] : []),
    ],
    target,
    family,
  );
  return true;
}

/**
 * One atomic transaction on the nat table. `-w 5` waits up to 5 s for another iptables user's
 * lock, then fails like any other reconcile error instead of stalling the agent.
 */
async function restore(lines: readonly string[], target: HostTarget, family: AddressFamily): Promise<void> {
  await runTool(tools(family).restore, ["--noflush", "-w", "5"], target, {
    stdin: ["*nat", ...lines, "COMMIT"],
  });
}
