/**
 * Node 22.1+ keeps compiled code between runs (`module.enableCompileCache`); Node 20 has no
 * such call. The bundle's own chunks get V8's code cache from its loader
 * (scripts/bundle-loader.cjs) on every version; this covers what Node's loaders load after it:
 * etcd's grpc-js client (etcd3, grpc-js, protobufjs) when PODNET_ETCD_TRANSPORT=grpc-js, and
 * the modules of an unbundled run. Imported first by bin.ts.
 * The CLI is a program, not a library: enabling it here changes no importer's process.
 */
import module from "node:module";

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
