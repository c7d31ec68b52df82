/**
 * Carries out a {@link V2MigrationPlan} against the v3 store: every write create-if-absent (a
 * compare on "the key does not exist"), a lease attached to a fresh etcd lease granted with
 * the TTL it still had, a reservation to none; the config's replace (`--prefer v2`) a
 * compare-and-swap on the revision read. A lost compare is re-read and reported as present or
 * as a conflict; nothing is ever overwritten.
 */
import type { Store } from "@podnet/ipam-core";
import type { ConfigStep, LeaseStep, V2MigrationPlan } from "./v2-plan.js";

/** How many leases are written at once. */
const PARALLEL = 16;

/**
 * Writes what the plan says and returns it with each step's final status. `nowMs` is the
 * clock the remaining TTLs count down on (the plan's TTLs were read at `readAtMs`).
 */
export async function applyV2Migration(
  store: Store,
  plan: V2MigrationPlan,
  clock: { readAtMs: number; nowMs: () => number },
): Promise<V2MigrationPlan> {
  const config = await writeConfigStep(store, plan.config);
  const leases: LeaseStep[] = [...plan.leases];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < leases.length; i = next++) {
      const step = leases[i]!;
      if (step.status === "migrate") leases[i] = await writeLease(store, step, clock);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, leases.length) }, worker));
  return { ...plan, config, leases };
}

async function writeConfigStep(store: Store, step: ConfigStep): Promise<ConfigStep> {
  if (step.status !== "migrate" && step.status !== "replace") return step;
  const expect = step.status === "replace" ? (step.v3Revision ?? 0) : 0;
  const res = await store.txn(
    [{ key: step.key, modRevision: expect }],
    [{ put: step.key, value: step.text }],
  );
  if (res.succeeded) {
    return { ...step, status: step.status === "replace" ? "replaced" : "migrated", revision: res.revision };
  }
  const now = (await store.get(step.key)).value;
  const v3Text = now?.value.toString("utf8");
  const found = {
    ...step,
    ...(v3Text !== undefined && { v3Text }),
    ...(now !== undefined && { v3Revision: now.modRevision }),
  };
  return { ...found, status: v3Text === step.text ? "present" : "conflict" };
}

async function writeLease(
  store: Store,
  step: LeaseStep,
  clock: { readAtMs: number; nowMs: () => number },
): Promise<LeaseStep> {
  let grant: string | undefined;
  if (step.ttlSeconds !== null) {
    const left = step.ttlSeconds - Math.floor((clock.nowMs() - clock.readAtMs) / 1000);
    if (left <= 0) return { ...step, status: "expired", reason: "its TTL ran out during the migration" };
    grant = await store.grant(left);
  }
  const put = { put: step.key, value: step.value, ...(grant !== undefined && { lease: grant }) };
  let succeeded = false;
  let failure: unknown;
  try {
    succeeded = (await store.txn([{ key: step.key, modRevision: 0 }], [put])).succeeded;
  } catch (err) {
    failure = err; // the answer may be lost after the write committed: look before revoking
  }
  if (succeeded) return { ...step, status: "migrated" };
  // A failed compare can be our own write, committed by an attempt whose answer was lost (a
  // retry on another endpoint then finds the key): if it is on our grant, it is ours to keep.
  const now = (await store.get(step.key)).value;
  const ours = now !== undefined && grant !== undefined && now.lease === grant;
  if (!ours && grant !== undefined) await store.revoke(grant).catch(() => undefined);
  if (ours) return { ...step, status: "migrated" };
  if (failure !== undefined) throw failure;
  if (now !== undefined && now.value.toString("utf8") === step.value) return { ...step, status: "present" };
  return { ...step, status: "conflict", reason: `v3 holds a different value at ${step.key}` };
}
