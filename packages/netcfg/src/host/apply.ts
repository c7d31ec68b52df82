/**
 * Applying a data-plane plan: read the kernel, diff, and run the changes in batches, at most
 * one process per tool (plus one `ip` process first when the device itself is (re)created,
 * since fdb entries need the device and routes come last).
 */

import { bridgeBatch, type HostTarget, ip, ipBatch, toolBatch } from "./iproute.js";
import {
  readKernelDevice,
  readKernelState,
  readKernelStateFor,
  streamKernelEntries,
} from "./kernel-state.js";
import type { DataPlanePlan, PeerContext, PlannedDevice } from "./plan.js";
import {
  type DataPlaneChange,
  diffDataPlane,
  type PeerChanges,
  PeerDiff,
  type PeerTable,
  peerBatches,
  toBridgeBatch,
  toIpBatch,
} from "./reconcile.js";

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

/**
 * Makes the device match `device` (created, re-created or set; its /32 address), looking at
 * nothing but the device. Returns the changes made.
 */
export async function applyDevice(
  device: PlannedDevice,
  network: string,
  target: HostTarget = {},
): Promise<DataPlaneChange[]> {
  const found = await readKernelDevice(device.name, target, device.family);
  const plan: DataPlanePlan = { device, network, neighbours: [], fdb: [], routes: [], skipped: [] };
  const changes = diffDataPlane(plan, {
    ...(found !== undefined && { device: found }),
    neighbours: [],
    fdb: [],
    routes: [],
  });
  await ipBatch(toIpBatch(changes), target);
  return changes;
}

/**
 * Compares the kernel's neighbours, fdb entries and routes of the device (and DirectRouting
 * routes inside `network`) with `table`, streaming the kernel's answer, and applies the
 * difference. Returns it.
 */
export async function reconcilePeers(
  table: PeerTable,
  network: string,
  target: HostTarget = {},
): Promise<PeerChanges> {
  const diff = new PeerDiff(table);
  const { context } = table;
  await streamKernelEntries(
    context.device,
    diff,
    target,
    { underlayDev: context.underlayDev, network },
    context.family,
  );
  const changes = diff.finish();
  await applyPeerChanges(context, changes, target);
  return changes;
}

/**
 * Applies peer changes without reading the kernel, in at most three processes (see
 * peerBatches). A batch of deletions only that fails (an entry already gone) does not stop
 * the rest; the error is still thrown at the end, so the caller can reconcile fully.
 */
export async function applyPeerChanges(
  context: PeerContext,
  changes: PeerChanges,
  target: HostTarget = {},
): Promise<void> {
  let deferred: unknown;
  for (const batch of peerBatches(context, changes)) {
    try {
      await toolBatch(batch.tool, batch.lines(), target);
    } catch (err) {
      if (!batch.deletesOnly) throw err;
      deferred ??= err;
    }
  }
  if (deferred !== undefined) throw deferred;
}
