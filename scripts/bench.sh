#!/usr/bin/env bash
# Benchmarks, each beside its baseline measured in the same run; figures go in the README.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run build
pnpm exec tsc -b bench/tsconfig.json
node bench/dist/bench/src/run.js "$@"
