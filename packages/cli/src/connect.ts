/**
 * What the context (`connect`) loads when it first needs etcd. A named re-export, not
 * `import("@podnet/ipam-core")`: a dynamic import of the package keeps its whole namespace
 * together, and the bundle then puts every module of it (and of whatever shares a chunk with
 * it) into one chunk that every command loads. `podnet version`'s `etcdVersions` has its own
 * (etcd-versions.ts), so the commands that only connect do not load node:https with it.
 */
export { connect } from "@podnet/ipam-core";
