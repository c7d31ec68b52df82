/**
 * Applying a data-plane plan: read the kernel, diff, and run the changes in batches, at most
 * one process per tool (plus one `ip` process first when the device itself is (re)created,
 * since fdb entries need the device and routes come last).
 */
import { bridgeBatch, type HostTarget, ip, ipBatch } from "./iproute.js";
import { readKernelState, readKernelStateFor } from "./kernel-state.js";
import type { DataPlanePlan } from "./plan.js";
import { type DataPlaneChange, diffDataPlane, toBridgeBatch, toIpBatch } from "./reconcile.js";

/** What one apply changed (empty when the kernel already matched the plan). */
export interface ApplyResult {
  readonly changes: DataPlaneChange[];
}

/**
 * Makes the kernel match `plan` in `target`: the device, then fdb entries (`bridge -batch`),
 * then neighbours and routes (`ip -batch`); stale entries are deleted. Idempotent: a second
 * apply finds nothing to change. Throws a PodnetError ("host") when a tool is missing or a line fails.
 */
export async function applyDataPlane(plan: DataPlanePlan, target: HostTarget = {}): Promise<ApplyResult> {
  const state = await readKernelStateFor(plan, target);
  const changes = diffDataPlane(plan, state);
  if (changes.length === 0) return { changes };
  const device = changes.filter((c) => c.kind === "device");
  const entries = changes.filter((c) => c.kind !== "device");
  // Device first (fdb needs it); fdb before neighbours and routes, so a route never resolves
  // to a MAC the tunnel does not know yet.
  await ipBatch(toIpBatch(device), target);
  await bridgeBatch(toBridgeBatch(entries), target);
  await ipBatch(toIpBatch(entries), target);
  return { changes };
}

/** Deletes the VXLAN device, and with it every neighbour, fdb entry and route on it. No error when it is absent. */
export async function removeDataPlane(deviceName: string, target: HostTarget = {}): Promise<boolean> {
  const state = await readKernelState(deviceName, target);
  if (state.device === undefined) return false;
  await ip(["link", "del", deviceName], target);
  return true;
}
