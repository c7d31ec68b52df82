/** Test fixtures for failures (not built: see tsconfig.json). */
import { isPodnetError, type PodnetError } from "./errors.js";

/** The PodnetError `p` rejects with; throws when it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<PodnetError> {
  try {
    await p;
  } catch (err) {
    if (isPodnetError(err)) return err;
    throw err;
  }
  throw new Error("expected a PodnetError, but the call succeeded");
}
