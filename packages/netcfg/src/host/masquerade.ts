/**
 * `--ip-masq`: the NAT rules flanneld installs, so pods reach the world beyond the overlay
 * under their host's address while pod-to-pod traffic keeps its source. They live in podnet's
 * own chain, jumped to from the nat table's POSTROUTING, and are applied in one
 * `iptables-restore --noflush` transaction, replacing only podnet's chain; an unchanged rule
 * set is left alone (its counters keep counting).
 */
import { type HostTarget, runTool } from "./iproute.js";

/** podnet's chain in the nat table. */
export const MASQ_CHAIN = "PODNET-POSTRTG";
const COMMENT = `-m comment --comment "podnet masq"`;
/** The jump from POSTROUTING, as `iptables-save` prints it. */
const JUMP = `-A POSTROUTING ${COMMENT} -j ${MASQ_CHAIN}`;
/** kube-proxy marks what it masquerades itself; NAT-ing it twice breaks it on some kernels. */
const KUBE_PROXY_MARK = "0x4000/0x4000";

/**
 * The chain's rules, in `iptables-save`'s own spelling (so the kernel's copy compares equal),
 * for the pod network `network` and this host's `subnet`, both CIDRs. flanneld's order:
 * pod-to-pod traffic keeps its source; pods to anywhere else but multicast are masqueraded;
 * traffic from outside the overlay to this host's pods keeps its source; the host itself
 * talking to other hosts' pods is masqueraded, so their replies come back over the overlay.
 */
export function planMasquerade(network: string, subnet: string): string[] {
  const c = MASQ_CHAIN;
  return [
    `-A ${c} -m mark --mark ${KUBE_PROXY_MARK} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${subnet} -d ${network} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${network} -d ${subnet} ${COMMENT} -j RETURN`,
    `-A ${c} -s ${network} ! -d 224.0.0.0/4 ${COMMENT} -j MASQUERADE --random-fully`,
    `-A ${c} ! -s ${network} -d ${subnet} ${COMMENT} -j RETURN`,
    `-A ${c} ! -s ${network} -d ${network} ${COMMENT} -j MASQUERADE --random-fully`,
  ];
}

/** The nat table's state as far as podnet's rules go. */
interface MasqState {
  /** POSTROUTING jumps to the chain. */
  readonly jump: boolean;
  /** The chain's rules, or undefined when there is no chain. */
  readonly rules: string[] | undefined;
}

async function readMasquerade(target: HostTarget): Promise<MasqState> {
  const saved = await runTool("iptables-save", ["-t", "nat"], target);
  const lines = saved.split("\n");
  const chain = lines.some((line) => line.startsWith(`:${MASQ_CHAIN} `));
  return {
    jump: lines.includes(JUMP),
    rules: chain ? lines.filter((line) => line.startsWith(`-A ${MASQ_CHAIN} `)) : undefined,
  };
}

/**
 * Makes the kernel's masquerade rules those of {@link planMasquerade}; returns why it changed
 * them ("missing", "changed", "jump missing"), or undefined when they were already right.
 */
export async function ensureMasquerade(
  network: string,
  subnet: string,
  target: HostTarget = {},
): Promise<string | undefined> {
  const want = planMasquerade(network, subnet);
  const have = await readMasquerade(target);
  const same = have.rules !== undefined && have.rules.join("\n") === want.join("\n");
  if (same && have.jump) return undefined;
  await restore(
    [
      // With --noflush, declaring a chain creates it or flushes it; nothing else is touched.
      `:${MASQ_CHAIN} - [0:0]`,
      ...want,
      // First in POSTROUTING, so other rules cannot masquerade pod-to-pod traffic before ours.
      ...(have.jump ? [] : [`-I POSTROUTING 1 ${COMMENT} -j ${MASQ_CHAIN}`]),
    ],
    target,
  );
  return have.rules === undefined ? "missing" : !same ? "changed" : "jump missing";
}

/** Removes podnet's jump and chain; false when there was nothing to remove. */
export async function removeMasquerade(target: HostTarget = {}): Promise<boolean> {
  const have = await readMasquerade(target);
  if (have.rules === undefined && !have.jump) return false;
  await restore(
    [
      ...(have.jump ? [`-D POSTROUTING ${COMMENT} -j ${MASQ_CHAIN}`] : []),
      ...(have.rules !== undefined ? [`-F ${MASQ_CHAIN}`, `-X ${MASQ_CHAIN}`] : []),
    ],
    target,
  );
  return true;
}

/** One atomic transaction on the nat table; `-w` waits for another iptables user's lock. */
async function restore(lines: readonly string[], target: HostTarget): Promise<void> {
  await runTool("iptables-restore", ["--noflush", "-w"], target, { stdin: ["*nat", ...lines, "COMMIT"] });
}
