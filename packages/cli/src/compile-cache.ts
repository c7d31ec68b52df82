/**
 * Node 22.1+ keeps compiled code between runs (`module.enableCompileCache`); Node 20 has no
 * such call. Imported first by bin.ts, so it covers every module loaded after it starts: the
 * lazily-loaded commands and etcd's client (grpc-js, protobufjs), the bulk of start-up.
 * The CLI is a program, not a library: enabling it here changes no importer's process.
 */
import module from "node:module";

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
