export * from "./address.js";
export * from "./errors.js";
export * from "./etcd/connection.js";
export { connect, prefixEnd } from "./etcd/etcd-store.js";
export type * from "./etcd/store.js";
export * from "./keys.js";
export * from "./lease.js";
export * from "./lease-codec.js";
export * from "./subnet-range.js";
