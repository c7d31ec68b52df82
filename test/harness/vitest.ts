import { afterAll, beforeAll } from "vitest";
import { type EtcdCluster, type EtcdClusterOptions, startEtcd } from "./etcd.js";
import { cleanupTempDirs } from "./tmp.js";

/**
 * Starts an etcd before the tests of the enclosing suite (or file) and stops it after
 * them. Returns a getter, since the cluster only exists once beforeAll has run:
 *
 *   const etcd = useEtcd({ members: 3 });
 *   it("...", async () => { await etcd().etcdctl(["put", "k", "v"]); });
 */
export function useEtcd(opts: EtcdClusterOptions = {}): () => EtcdCluster {
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    cluster = await startEtcd(opts);
  });
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  return () => {
    if (!cluster) throw new Error("useEtcd: the cluster is not running (used outside the suite's tests?)");
    return cluster;
  };
}

/** Removes every directory made by tempDir() once the enclosing suite (or file) is done. */
export function useTempDirs(): void {
  afterAll(cleanupTempDirs);
}
