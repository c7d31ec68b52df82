/**
 * Carries out a {@link V2MigrationPlan} against the v3 store: every write create-if-absent (a
 * compare on "the key does not exist"), a lease attached to a fresh etcd lease granted with
 * the TTL it still had, a reservation to none; the config's replace (`--prefer v2`) a
 * compare-and-swap on the revision read. A lost compare is re-read and reported as present or
 * as a conflict; nothing is ever overwritten.
 */
import { guardedWrite, putLanded, type Store } from "@podnet/ipam-core";
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
  // The plan found v3 without this text: holding it now, the key shows our put landed (its answer maybe lost).
  const res = await guardedWrite(
    () => store.txn([{ key: step.key, modRevision: expect }], [{ put: step.key, value: step.text }]),
    () => putLanded(store, step.key, step.text, "0"),
  );
  if (res.kind !== "lost") {
    const revision = res.kind === "written" ? res.revision : res.found.modRevision;
    return { ...step, status: step.status === "replace" ? "replaced" : "migrated", revision };
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
  // A failed compare (or no answer) can be our own write, committed by an attempt whose answer
  // was lost: a key on our grant (or our reservation, with our value) is ours to keep.
  const revokeGrant = async () => {
    if (grant !== undefined) await store.revoke(grant).catch(() => undefined);
  };
  const res = await guardedWrite(
    () => store.txn([{ key: step.key, modRevision: 0 }], [put]),
    () => putLanded(store, step.key, step.value, grant ?? "0"),
  ).catch(async (err: unknown) => {
    await revokeGrant(); // with its key, if the write did land: nothing is left half-migrated
    throw err;
  });
  if (res.kind !== "lost") return { ...step, status: "migrated" };
  await revokeGrant();
  const now = (await store.get(step.key)).value;
  if (now !== undefined && now.value.toString("utf8") === step.value) return { ...step, status: "present" };
  return { ...step, status: "conflict", reason: `v3 holds a different value at ${step.key}` };
}
