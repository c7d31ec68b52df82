#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, lint, typecheck, test.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run build
pnpm run lint
pnpm run typecheck
mkdir -p .tmp
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest.json "$@" || status=$?
# One plain closing line, whatever the runner's own summary looks like.
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(".tmp/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
