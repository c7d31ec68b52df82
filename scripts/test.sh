#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, lint, typecheck, test
# on the workspace's Node, then the unit and real-etcd integration tests again on Node 24 and 26.
set -euo pipefail
PODNET_SETUP_SHELLS=1 source "$(dirname "$0")/setup.sh"
pnpm run build
pnpm run lint
pnpm run typecheck
mkdir -p .tmp
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest.json "$@" || status=$?
# Each run's counts, then one plain closing line over all of them.
counts() {
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.numPassedTests, r.numFailedTests, r.numPendingTests + r.numTodoTests);
  ' "$1" 2>/dev/null || echo "0 1 0"
}
reports=(".tmp/vitest.json")
labels=("Node $(node -p process.versions.node): all tests")

# The other supported Node lines: the unit tests and the real-etcd integration tests of the
# libraries (not the CLI end-to-end or network-namespace tests), and the bundle loader's
# heap flags, which differ by line; one vitest run per version.
# Skipped when a file filter was passed, so `npm test -- path` stays quick.
if [ "$#" -eq 0 ] && [ "${PODNET_TEST_OTHER_NODES-24 26}" != "" ]; then
  for major in ${PODNET_TEST_OTHER_NODES-24 26}; do
    bin="$(bash scripts/node-version.sh "$major")"
    "$bin" node_modules/vitest/vitest.mjs run --reporter=dot --reporter=json \
      --outputFile=".tmp/vitest-node$major.json" \
      packages/ test/registry.test.ts test/registry-reliability.test.ts test/lease-watch.test.ts \
      test/etcd-store.test.ts test/connection-security.test.ts test/harness-etcd.test.ts \
      test/front-door.test.ts test/bundle-heap.test.ts || status=$?
    reports+=(".tmp/vitest-node$major.json")
    labels+=("Node $("$bin" -p process.versions.node): unit and integration tests")
  done
fi
passed=0 failed=0 skipped=0
for i in "${!reports[@]}"; do
  read -r p f s < <(counts "${reports[$i]}")
  echo "${labels[$i]}: $p passed, $f failed, $s skipped"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
