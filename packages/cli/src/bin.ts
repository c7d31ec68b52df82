#!/usr/bin/env node
import { run } from "./program.js";

// Deprecation notices from dependencies (grpc sets an IP as TLS server name) are not the admin's business.
process.noDeprecation = true;

process.exitCode = await run(process.argv.slice(2));
