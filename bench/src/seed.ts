/**
 * A throwaway etcd holding N flannel leases (default 65,000) under /coreos.com/network, with
 * the benchmarks' config, for profiling a view by hand: `node bench/dist/bench/src/seed.js N`
 * prints `READY <endpoint>` and keeps etcd up until it is killed (Ctrl-C or SIGTERM).
 */
import { fill, freshEtcd, PREFIX, shuffled, slash8, storeOf } from "./etcd-common.js";

const count = Number(process.argv[2] ?? 65_000);
const cluster = await freshEtcd();
const stop = (): void => {
  void cluster.stop().finally(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const store = await storeOf(cluster);
await store.txn(
  [],
  [
    {
      put: `${PREFIX}/config`,
      value: '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}',
    },
  ],
);
const leases = await Promise.all(Array.from({ length: 16 }, () => store.grant(24 * 60 * 60)));
await fill(store, slash8().range, shuffled(65_535, 3).slice(0, count), { etcdLeases: leases });
store.close();
process.stdout.write(`READY ${cluster.endpoints[0] ?? ""}\n`);
setInterval(() => {}, 1 << 30);
