export * from "./address.js";
export * from "./allocator.js";
export * from "./analysis.js";
export * from "./backend-data.js";
export * from "./cidr-input.js";
export * from "./cleanup.js";
export * from "./connection-settings.js";
export * from "./errors.js";
export * from "./etcd/connection.js";
export * from "./etcd/endpoint-check.js";
export { connect, prefixEnd } from "./etcd/etcd-store.js";
export {
  checkLeaseTtl,
  checkRequestSize,
  DEFAULT_MAX_REQUEST_BYTES,
  MAX_LEASE_TTL_SECONDS,
} from "./etcd/limits.js";
export type { RangeWalk, ReplyBytes } from "./etcd/reply-decoders.js";
export * from "./etcd/server-version.js";
export * from "./etcd/snapshot-read.js";
export type * from "./etcd/store.js";
export * from "./etcdv2/v2-keyspace.js";
export * from "./host-lease.js";
export * from "./keys.js";
export * from "./lease.js";
export * from "./lease-codec.js";
export * from "./lease-lookup.js";
export * from "./lease-table.js";
export * from "./lease-watch.js";
export * from "./lost-answer.js";
export * from "./pattern.js";
export * from "./registry.js";
export * from "./scan-splits.js";
export * from "./subnet-range.js";
