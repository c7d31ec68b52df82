/**
 * A consistent snapshot read in several reads: the first at the latest revision, the later ones
 * pinned to its revision (a listing's pages, the config then the leases). etcd may compact that
 * revision in between (auto-compaction on a busy cluster, `etcdctl compact`); nothing was
 * written, so the whole read starts over at a fresh revision instead of failing.
 */
import { isPodnetError } from "../errors.js";

/** How many times {@link readSnapshot} tries in all before etcd's compacted error stands. */
export const SNAPSHOT_ATTEMPTS = 3;

/**
 * Runs `read` (reads only: its later reads pinned to its first one's revision) and, when it
 * fails because etcd compacted that revision, runs it again from the start at a fresh revision;
 * at most `attempts` times in all, then the compacted error as it is. `read` is told whether
 * its attempt is the last, so one that keeps failures as values keeps a compacted one only then.
 */
export async function readSnapshot<T>(
  read: (last: boolean) => Promise<T>,
  attempts: number = SNAPSHOT_ATTEMPTS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= attempts;
    try {
      return await read(last);
    } catch (err) {
      if (last || !isPodnetError(err, "compacted")) throw err;
    }
  }
}
