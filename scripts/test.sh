#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, lint, typecheck, test.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run build
pnpm run lint
pnpm run typecheck
pnpm exec vitest run "$@"
