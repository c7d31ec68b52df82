#!/usr/bin/env node
import { run } from "./program.js";

// Deprecation notices from dependencies (grpc sets an IP as TLS server name) are not the admin's business.
process.noDeprecation = true;

// A reader that goes away (`podnet lease list | head`) ends the output as it would end `ls`'s:
// quietly, not with a stack trace. A command with its own handler (watch) stops itself.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (process.stdout.listenerCount("error") > 1) return;
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  process.stderr.write(`podnet: cannot write the output: ${err.message}\n`);
  process.exit(1);
});

process.exitCode = await run(process.argv.slice(2));
