#!/usr/bin/env node
import "./compile-cache.js";
import "./agent-heap-start.js";
import { reportError } from "./exit.js";
import { flanneldArgv } from "./flanneld-argv.js";
import { errorLine } from "./print/stderr.js";
import { run } from "./program.js";

// Deprecation notices from dependencies (grpc sets an IP as TLS server name) are not the admin's business.
process.noDeprecation = true;

// A reader that goes away (`podnet lease list | head`) ends podnet as it ends `ls`: quietly,
// with status 141 (128 + SIGPIPE), never a stack trace and never a made-up success (the
// command's own status is not known until its output is written). A command with its own
// handler (watch) stops itself.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (process.stdout.listenerCount("error") > 1) return;
  if (err.code === "EPIPE") process.exit(141);
  errorLine(`cannot write the output: ${err.message}`);
  process.exit(1);
});
// Nowhere to report a failing stderr (`podnet agent 2>&1 | tee` after tee died): carry on.
process.stderr.on("error", () => undefined);

// `podnet agent` takes a flanneld command line as it is (Go's flag syntax); other commands are untouched.
let argv: string[] | undefined;
try {
  argv = flanneldArgv(process.argv.slice(2));
} catch (err) {
  process.exitCode = reportError(err);
}
if (argv !== undefined) process.exitCode = await run(argv);
// Every connection is closed by now; should a grpc socket still linger (grpc-js cannot always
// abandon a connection attempt), it must not keep a finished command alive.
setTimeout(() => process.exit(), 500).unref();
