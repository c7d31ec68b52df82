/**
 * Keys written and read the way flanneld and etcdctl see them, for tests that check podnet's
 * bytes against flannel's: a lease made as flanneld makes it (grant, then put --lease), and a
 * key as etcd stores it (value and etcd lease id).
 */
import type { EtcdCluster } from "./etcd.js";

/** flanneld's vxlan lease value for a host. */
export function flannelVxlanValue(publicIP: string, mac: string, vni = 1): string {
  return `{"PublicIP":"${publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;
}

/** Writes `key` as flanneld does: grants an etcd lease of `ttl` seconds and puts the key on it; returns the lease id (hex). */
export async function putFlannelLease(
  etcd: EtcdCluster,
  key: string,
  value: string,
  ttl = 3600,
): Promise<string> {
  const grant = await etcd.etcdctlOk(["lease", "grant", String(ttl)]);
  const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
  if (id === undefined) throw new Error(`no lease id in ${grant}`);
  await etcd.etcdctlOk(["put", `--lease=${id}`, key, value]);
  return id;
}

/** The key as etcd holds it: its value and its etcd lease id in decimal ("0" for none); undefined when absent. */
export async function storedKey(
  etcd: EtcdCluster,
  key: string,
): Promise<{ value: string; lease: string } | undefined> {
  // -w json prints the lease id as a number too large for a double: read it from the text.
  const out = await etcd.etcdctlOk(["get", key, "-w", "json"]);
  const doc = JSON.parse(out) as { kvs?: { value: string }[] };
  const kv = doc.kvs?.[0];
  if (kv === undefined) return undefined;
  const lease = /"lease":(\d+)/.exec(out)?.[1] ?? "0";
  return { value: Buffer.from(kv.value, "base64").toString("utf8"), lease };
}

/** The id (hex, as etcdctl prints it) of every etcd lease the cluster holds. */
export async function etcdLeaseIds(etcd: EtcdCluster): Promise<string[]> {
  const out = await etcd.etcdctlOk(["lease", "list"]);
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[0-9a-f]+$/.test(l));
}

/** The remaining TTL of an etcd lease (hex id) in seconds, as etcdctl reports it; -1 when gone. */
export async function leaseTtl(etcd: EtcdCluster, id: string): Promise<number> {
  const out = await etcd.etcdctlOk(["lease", "timetolive", id]);
  return Number(/remaining\((-?\d+)s\)/.exec(out)?.[1] ?? "-1");
}

/** A VXLAN host's lease attributes as podnet's registry takes them, with VNI 1 and one VtepMAC. */
export function vxlanHostAttrs(publicIP: string, mac = "02:00:00:00:00:01") {
  return {
    publicIP,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: `{"VNI":1,"VtepMAC":"${mac}"}`,
  };
}

/** A key under `dir` as a store's listing returns it (value bytes, one revision for all three). */
export function storedEntry(dir: string, name: string, value: string, lease = "0", rev = 5) {
  return {
    key: dir + name,
    value: Buffer.from(value),
    createRevision: rev,
    modRevision: rev,
    version: 1,
    lease,
  };
}

/** The subnet part of a lease key (`10.5.1.0-24` of `<prefix>/subnets/10.5.1.0-24`). */
export function subnetNameOf(key: string): string {
  return key.slice(key.indexOf("/subnets/") + "/subnets/".length);
}
