export * from "./check.js";
export * from "./etcd-checks.js";
export * from "./host-checks.js";
export * from "./network-checks.js";
