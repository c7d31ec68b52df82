/**
 * Shared set-up of the etcd benchmarks: a fresh etcd, a store connection, the /8 network cut
 * into /24s (65,535 subnets), lease values as flanneld writes them, and a fast raw fill.
 */
import {
  connect,
  encodeLeaseValue,
  type LeaseNetwork,
  type LeaseSubnet,
  leaseKey,
  type Op,
  rangeSize,
  type Store,
  type SubnetRange4,
  subnetAt,
} from "@podnet/ipam-core";
import { type EtcdCluster, startEtcd } from "@podnet/test-harness/etcd";

export const PREFIX = "/coreos.com/network";

/** A fresh single-member etcd, with a bigger backend quota so 65k leases never hit it. */
export function freshEtcd(): Promise<EtcdCluster> {
  return startEtcd({ extraArgs: ["--quota-backend-bytes=4294967296", "--log-level=warn"] });
}

/** A store connection to `endpoint` with generous timeouts (benchmarks push etcd hard). */
export function storeOf(cluster: EtcdCluster): Promise<Store> {
  return connect({ endpoints: cluster.endpoints, dialTimeoutMs: 5_000, commandTimeoutMs: 60_000 });
}

/**
 * 10.0.0.0/8 with SubnetLen 24 as flanneld (and netcfg's validateConfig + leaseNetworkOf)
 * resolves it: SubnetMin 10.0.1.0, SubnetMax 10.255.255.0, 65,535 subnets. Spelled out here so
 * the benchmarks load only ipam-core, not the whole netcfg package.
 */
export function slash8(): { network: LeaseNetwork; range: SubnetRange4 } {
  const ip = (a: number, b: number, c: number, d: number): number =>
    ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const range: SubnetRange4 = {
    network: { ip: ip(10, 0, 0, 0), prefix: 8 },
    subnetLen: 24,
    min: ip(10, 0, 1, 0),
    max: ip(10, 255, 255, 0),
  };
  if (rangeSize(range) !== 65_535)
    throw new Error(`bench range holds ${rangeSize(range)} subnets, not 65,535`);
  return { network: { ipv4: range }, range };
}

/** A distinct public IP per index (172.16.0.0/12 holds a million). */
export function publicIPOf(i: number): string {
  const n = (172 << 24) | (16 << 16) | (i + 1);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The lease attributes of host `i`, a VXLAN host as flanneld writes it. */
export function attrsOf(i: number) {
  const mac = [0xc6, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255, 0x44]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join(":");
  return {
    publicIP: publicIPOf(i),
    publicIPv6: null,
    backendType: "vxlan",
    backendData: `{"VNI":1,"VtepMAC":"${mac}"}`,
  };
}

export function leaseValueOf(i: number): string {
  return encodeLeaseValue(attrsOf(i));
}

/** The subnet at index `i` of the range. */
export function subnetOf(range: SubnetRange4, i: number): LeaseSubnet {
  const net = subnetAt(range, i);
  if (net === null) throw new Error(`subnet index ${i} outside the range`);
  return { ipv4: net };
}

/** A deterministic permutation of 0..n-1 (xorshift-seeded Fisher–Yates). */
export function shuffled(n: number, seed = 12345): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** A seeded uniform generator in [0, 1) for reproducible allocation. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/**
 * Writes leases for the subnets at `indices` (range indices) with raw transactions of up to
 * 128 puts each (etcd's default --max-txn-ops), spread over a few shared etcd leases, with
 * `concurrency` transactions in flight. Host numbers start at `hostBase`.
 */
export async function fill(
  store: Store,
  range: SubnetRange4,
  indices: readonly number[],
  opts: { hostBase?: number; etcdLeases?: readonly string[]; concurrency?: number } = {},
): Promise<void> {
  const hostBase = opts.hostBase ?? 100_000;
  const leases = opts.etcdLeases ?? [];
  const batches: Op[][] = [];
  for (let start = 0; start < indices.length; start += 128) {
    batches.push(
      indices.slice(start, start + 128).map((idx, k) => {
        const i = start + k;
        const lease = leases.length > 0 ? leases[i % leases.length] : undefined;
        return {
          put: leaseKey(PREFIX, subnetOf(range, idx)),
          value: leaseValueOf(hostBase + i),
          ...(lease !== undefined ? { lease } : {}),
        };
      }),
    );
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let b = next++; b < batches.length; b = next++) {
      const res = await store.txn([], batches[b] ?? []);
      if (!res.succeeded) throw new Error("fill transaction failed");
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
}

/** Runs `count` tasks with `concurrency` in flight; resolves when all are done. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
