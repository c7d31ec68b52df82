/**
 * What the context (`connect`) and `podnet version` (`etcdVersions`) load when they first
 * need etcd. A named re-export, not `import("@podnet/ipam-core")`: a dynamic import of the
 * package keeps its whole namespace together, and the bundle then puts every module of it
 * (and of whatever shares a chunk with it) into one chunk that every command loads.
 */
export { connect, etcdVersions } from "@podnet/ipam-core";
