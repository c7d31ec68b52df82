#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, lint, typecheck, test
# on the workspace's Node, then the unit and real-etcd integration tests again on Node 24 and 26.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run build
pnpm run lint
pnpm run typecheck
mkdir -p .tmp
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest.json "$@" || status=$?
# One plain closing line, whatever the runner's own summary looks like.
summary() {
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`${process.argv[2]}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$1" "$2" || true
}
summary .tmp/vitest.json "tests (Node $(node -p process.versions.node))"

# The other supported Node lines: the unit tests and the real-etcd integration tests of the
# libraries (not the CLI end-to-end or network-namespace tests), one vitest run per version.
# Skipped when a file filter was passed, so `npm test -- path` stays quick.
other_runs=()
if [ "$#" -eq 0 ] && [ "${PODNET_TEST_OTHER_NODES-24 26}" != "" ]; then
  for major in ${PODNET_TEST_OTHER_NODES-24 26}; do
    bin="$(bash scripts/node-version.sh "$major")"
    "$bin" node_modules/vitest/vitest.mjs run --reporter=dot --reporter=json \
      --outputFile=".tmp/vitest-node$major.json" \
      packages/ test/registry.test.ts test/registry-reliability.test.ts test/lease-watch.test.ts \
      test/etcd-store.test.ts test/connection-security.test.ts test/harness-etcd.test.ts \
      test/front-door.test.ts || status=$?
    other_runs+=("$major")
  done
fi
for major in "${other_runs[@]}"; do
  summary ".tmp/vitest-node$major.json" "unit + integration tests (Node $major)"
done
exit "$status"
