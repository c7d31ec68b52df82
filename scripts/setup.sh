#!/usr/bin/env bash
# Installs what podnet's demo, tests and benchmarks need on a fresh machine that has only
# Node and npm: pnpm (from npm), the workspace's dependencies, and etcd (Debian's etcd-server).
# Idempotent: each step is skipped when its tool is already there. Source it (the PATH it
# sets matters) or run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PNPM_VERSION=10.34.8

export PATH="$HOME/.local/bin:$PATH"
if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm@$PNPM_VERSION from npm" >&2
  # Global when we may write there (root, or a user prefix); else under ~/.local.
  npm install --global --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1 \
    || npm install --global --silent --prefix "$HOME/.local" "pnpm@$PNPM_VERSION"
fi

if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "setup: installing dependencies" >&2
  pnpm install --frozen-lockfile --reporter=silent
fi

# The data-plane demo and tests drive iproute2 and ping across the overlay, iptables for
# the agent's --ip-masq, and zsh and fish for the completion tests; all come from Debian and are only worth installing where we are root (namespaces need it anyway).
missing_debs=""
command -v ip >/dev/null 2>&1 || missing_debs="$missing_debs iproute2"
command -v ping >/dev/null 2>&1 || missing_debs="$missing_debs iputils-ping"
command -v iptables-restore >/dev/null 2>&1 || missing_debs="$missing_debs iptables"
# The completion tests source `podnet completion zsh|fish` in real shells (test.sh asks for them).
if [ "${PODNET_SETUP_SHELLS-}" = 1 ]; then
  command -v zsh >/dev/null 2>&1 || missing_debs="$missing_debs zsh"
  command -v fish >/dev/null 2>&1 || missing_debs="$missing_debs fish"
fi
if [ -n "$missing_debs" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing$missing_debs from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing_debs >/dev/null
fi

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing etcd-server and etcd-client from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq etcd-server etcd-client >/dev/null
  else
    echo "setup: etcd is not on PATH; install it (Debian: 'sudo apt-get install etcd-server etcd-client') or put the etcd and etcdctl binaries on PATH" >&2
    exit 1
  fi
fi
