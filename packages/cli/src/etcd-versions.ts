/** What `podnet version` loads to ask etcd's `/version` (see connect.ts for why a re-export). */
export { etcdVersions } from "@podnet/ipam-core";
