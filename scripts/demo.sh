#!/usr/bin/env bash
# podnet's demo, end to end: a throwaway etcd on free loopback ports, then what an admin does
# with podnet, each command shown before it runs. Everything is removed on exit.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run --silent build

PODNET_JS="$PWD/packages/cli/bundle/podnet.js"
podnet() { node "$PODNET_JS" "$@"; }
step() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
show() { printf '$ podnet %s\n' "$*"; podnet "$@"; }
# A command that is meant to fail: show its exit status instead of stopping the demo.
show_failing() { printf '$ podnet %s\n' "$*"; local rc=0; podnet "$@" || rc=$?; printf '(exit status %s)\n' "$rc"; }

work=$(mktemp -d /tmp/podnet-demo.XXXXXX)
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

read -r client_port peer_port < <(node -e '
  const net = require("node:net");
  const free = () => new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  Promise.all([free(), free()]).then((p) => console.log(p.join(" ")));')

step "Start a throwaway etcd on 127.0.0.1:$client_port"
etcd --name demo --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "demo=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 100); do
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
echo "etcd is up (pid $etcd_pid)"
export PODNET_ENDPOINTS="127.0.0.1:$client_port"

step "Validate a network config offline"
cat examples/network.json
show config validate examples/network.json --nodes 200

step "A bad config is rejected with every problem named (flannel would accept most of it)"
cat examples/bad-network.json
show_failing config validate examples/bad-network.json

step "The same as JSON, for scripts and CI"
show_failing config validate examples/bad-network.json -o json

step "Reading a config that is not there yet says why it may be missing"
show_failing config get

step "Push the good config: validated, diffed, written only if nobody changed it meanwhile"
show config set examples/network.json

step "Read it back"
show config get
show config get -o json

step "Change it: a dry run shows the diff and writes nothing"
sed 's/"VNI": 1,/"VNI": 2,/' examples/network.json >"$work/network-vni2.json"
show config set "$work/network-vni2.json" --dry-run
show config set "$work/network-vni2.json"

step "Every version etcd still holds, and a rollback to the first"
show config history
first=$(podnet config history -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s).versions;console.log(v[v.length-1].revision)})')
show config rollback "$first"
show config get

step "Lease subnets: three hosts acquire, each gets its own /24 (the subnet file is flannel's subnet.env)"
show lease acquire --public-ip 192.0.2.11 --vtep-mac 0e:00:00:00:00:11 --subnet-file "$work/host1/subnet.env"
cat "$work/host1/subnet.env"
show lease acquire --public-ip 192.0.2.12 --vtep-mac 0e:00:00:00:00:12 -o simple
show lease acquire --public-ip 192.0.2.13 --vtep-mac 0e:00:00:00:00:13 -o simple

step "Acquiring again from the same host reuses its lease"
show lease acquire --public-ip 192.0.2.11 --vtep-mac 0e:00:00:00:00:11 -o simple

step "A reservation never expires; a lease written by hand exactly as flanneld writes it is read like any other"
show lease reserve 10.5.200.0/24 --public-ip 192.0.2.50
grant=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" lease grant 86400 | awk '{print $2}')
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" put --lease="$grant" /coreos.com/network/subnets/10.5.77.0-24 \
  '{"PublicIP":"192.0.2.77","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}' >/dev/null
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" put /coreos.com/network/subnets/not-a-subnet 'junk' >/dev/null
show lease list
show lease show 10.5.77.9

step "Renew keeps the same etcd lease alive; release deletes only what is still ours"
show lease renew --public-ip 192.0.2.12 -o simple
show lease release --public-ip 192.0.2.13

step "An unreachable etcd fails fast, in one sentence"
show_failing --endpoints 127.0.0.1:1 config get

printf '\nDemo finished; the throwaway etcd is stopped and its data removed.\n'
