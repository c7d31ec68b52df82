/**
 * The built `podnet` reads its one-revision snapshots again when etcd compacts the revision
 * between the snapshot's two reads: `doctor` (the leases, then the config at their revision),
 * `ipam show` and `route` (the config, then the leases at its revision). A real etcd behind a
 * gRPC proxy that, before forwarding the second read of the command, writes elsewhere and
 * compacts etcd to that write, so the pinned read asks for a compacted revision.
 */
import { connect, type Store } from "@podnet/ipam-core";
import { podnetBuilt, type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { GRPC, type GrpcProxy, grpcProxy } from "@podnet/test-harness/grpc-proxy";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const PREFIX = "/snapcli/coreos.com/network";
const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const lease = (i: number) =>
  `{"PublicIP":"192.0.2.${i}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}`;

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

describe.skipIf(!etcdAvailable() || !podnetBuilt())("a compaction between a command's two reads", () => {
  const etcd = useEtcd();
  let store: Store;
  let proxy: GrpcProxy | undefined;
  beforeAll(async () => {
    store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 2000, commandTimeoutMs: 10_000 });
    const ops = [{ put: `${PREFIX}/config`, value: CONFIG }];
    for (let i = 1; i <= 12; i++) ops.push({ put: `${PREFIX}/subnets/10.5.${i}.0-24`, value: lease(i) });
    await store.txn([], ops);
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(() => store?.close());

  /**
   * Runs `args` through a proxy that compacts etcd (once) before it forwards the command's
   * second range read and every later one, and runs them directly for comparison.
   */
  const runCompacted = async (args: string[]) => {
    let ranges = 0;
    let compaction: Promise<number> | undefined;
    const compact = async () => {
      const { revision } = await store.txn([], [{ put: "/snapcli-elsewhere/tick", value: "x" }]);
      await store.compact(revision);
      return revision;
    };
    proxy = await grpcProxy(etcd().members[0]?.clientUrl ?? "", {
      before: (path) => {
        if (path !== GRPC.range || ++ranges < 2) return undefined;
        compaction ??= compact();
        return compaction.then(() => undefined);
      },
    });
    const compacted = await runPodnet(["--endpoints", proxy.url, "--prefix", PREFIX, "-o", "json", ...args]);
    const direct = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--prefix",
      PREFIX,
      "-o",
      "json",
      ...args,
    ]);
    expectNoStack(compacted);
    expect(compaction, "the proxy compacted etcd").toBeDefined();
    return { compacted, direct, compactedAt: await (compaction as Promise<number>), ranges };
  };

  it("podnet doctor: the config check passes, at a revision after the compaction", async () => {
    const { compacted, direct, compactedAt, ranges } = await runCompacted(["doctor"]);
    expect(compacted.stderr).toBe("");
    expect(compacted.code, compacted.stdout).toBe(0);
    type Doctor = {
      ok: boolean;
      revision: number;
      checks: { section: string; name: string; status: string }[];
    };
    const doc = JSON.parse(compacted.stdout) as Doctor;
    expect(doc.ok).toBe(true);
    expect(doc.checks.find((c) => c.section === "config" && c.name === "present")?.status).toBe("ok");
    expect(doc.checks.find((c) => c.section === "leases" && c.name === "leases")?.status).toBe("ok");
    expect(doc.revision).toBeGreaterThanOrEqual(compactedAt);
    // Read twice: the leases and the config of the first attempt, then of the second.
    expect(ranges).toBe(4);
    const sections = (d: Doctor) => d.checks.filter((c) => c.section !== "etcd");
    expect(sections(doc)).toEqual(sections(JSON.parse(direct.stdout) as Doctor));
  });

  it("podnet doctor against a compaction before every read but the first: three attempts, then the config check fails compacted", async () => {
    let ranges = 0;
    let compactions = 0;
    // Each compaction waits for the one before: one at a time, in order of the reads.
    let last: Promise<void> = Promise.resolve();
    proxy = await grpcProxy(etcd().members[0]?.clientUrl ?? "", {
      before: (path) => {
        if (path !== GRPC.range || ++ranges < 2) return undefined;
        last = last.then(async () => {
          const { revision } = await store.txn([], [{ put: "/snapcli-elsewhere/tick", value: "x" }]);
          await store.compact(revision);
          compactions++;
        });
        return last;
      },
    });
    const r = await runPodnet(["--endpoints", proxy.url, "--prefix", PREFIX, "-o", "json", "doctor"]);
    expectNoStack(r);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      checks: { section: string; name: string; status: string; detail: string }[];
    };
    expect(doc.checks.find((c) => c.section === "config" && c.name === "present")).toMatchObject({
      status: "fail",
      detail: "cannot read the config: etcd has compacted that revision; it is no longer available",
    });
    // The leases and the config, three times: bounded.
    expect(ranges).toBe(6);
    expect(compactions).toBe(5);
  });

  it("podnet ipam show, ipam check and route: the same answer, at a revision after the compaction", async () => {
    for (const args of [["ipam", "show"], ["ipam", "check"], ["route"]]) {
      const { compacted, direct, compactedAt, ranges } = await runCompacted(args);
      expect(compacted.stderr, args.join(" ")).toBe("");
      expect(compacted.code, args.join(" ")).toBe(0);
      expect(ranges, args.join(" ")).toBeGreaterThan(2);
      const answer = JSON.parse(compacted.stdout) as { revision: number };
      const expected = JSON.parse(direct.stdout) as { revision: number };
      expect(answer.revision).toBeGreaterThanOrEqual(compactedAt);
      // `ipam check` stamps its report with the time it was made.
      const timeless = (doc: object) => ({ ...doc, revision: 0, generatedAt: null });
      expect(timeless(answer)).toEqual(timeless(expected));
      await proxy?.close();
      proxy = undefined;
    }
  });
});
