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
  --initial-cluster "demo=http://127.0.0.1:$peer_port" --enable-v2=true >"$work/etcd.log" 2>&1 &
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

step "Coming from flannel on etcd v2: a keyspace written the old way (curl -XPUT .../v2/keys/...), migrated into v3"
node -e '
  const [base, prefix] = process.argv.slice(1);
  const put = (key, value, ttl) => fetch(`${base}/v2/keys${prefix}/${key}`, { method: "PUT",
    body: new URLSearchParams({ value, ...(ttl ? { ttl: String(ttl) } : {}) }) }).then((r) => { if (!r.ok) throw new Error(key); });
  const lease = (ip, mac) => `{"PublicIP":"${ip}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
  (async () => {
    await put("config", "{\"Network\": \"10.9.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}\n");
    await put("subnets/10.9.1.0-24", lease("192.0.2.21", "0e:00:00:00:00:21"), 86000);
    await put("subnets/10.9.2.0-24", lease("192.0.2.22", "0e:00:00:00:00:22"), 43000);
    await put("subnets/10.9.9.0-24", lease("192.0.2.29", "0e:00:00:00:00:29"));
    await put("subnets/old-notes", "written by hand");
  })();' "http://127.0.0.1:$client_port" /legacy/network
echo "(v2: a config, two leases with TTLs, a reservation without one, and a foreign key, under /legacy/network)"
show --prefix /legacy/network migrate v2 --dry-run
show --prefix /legacy/network migrate v2
echo "(a second run writes nothing)"
show --prefix /legacy/network migrate v2
show --prefix /legacy/network lease list

step "Lease subnets: three hosts acquire, each gets its own /24 (the subnet file is flannel's subnet.env)"
# Each host's subnet file names the subnet it had before, which it gets back while it is free
# (as after a reboot): the demo's own reservations and hand-written leases below never meet a
# host's random pick.
for h in 1 2 3; do mkdir -p "$work/host$h"; done
echo "FLANNEL_SUBNET=10.5.11.1/24" >"$work/host1/subnet.env"
echo "FLANNEL_SUBNET=10.5.157.1/24" >"$work/host2/subnet.env"
echo "FLANNEL_SUBNET=10.5.13.1/24" >"$work/host3/subnet.env"
show lease acquire --public-ip 192.0.2.11 --vtep-mac 0e:00:00:00:00:11 --subnet-file "$work/host1/subnet.env"
cat "$work/host1/subnet.env"
show lease acquire --public-ip 192.0.2.12 --vtep-mac 0e:00:00:00:00:12 --subnet-file "$work/host2/subnet.env" -o simple
show lease acquire --public-ip 192.0.2.13 --vtep-mac 0e:00:00:00:00:13 --subnet-file "$work/host3/subnet.env" -o simple

step "Acquiring again from the same host reuses its lease"
show lease acquire --public-ip 192.0.2.11 --vtep-mac 0e:00:00:00:00:11 -o simple

step "A reservation never expires; a lease written by hand exactly as flanneld writes it is read like any other"
show lease reserve 10.5.200.0/24 --public-ip 192.0.2.50 --vtep-mac 0e:00:00:00:00:50
grant=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" lease grant 86400 | awk '{print $2}')
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" put --lease="$grant" /coreos.com/network/subnets/10.5.77.0-24 \
  '{"PublicIP":"192.0.2.77","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}' >/dev/null
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" put /coreos.com/network/subnets/not-a-subnet 'junk' >/dev/null
show lease list
show lease show 10.5.77.9

step "Renew keeps the same etcd lease alive; release deletes only what is still ours"
show lease renew --public-ip 192.0.2.12 -o simple
show lease release --public-ip 192.0.2.13

step "The overlay as ifconfig would show it, and this host's lease"
show ifconfig --public-ip 192.0.2.11

step "Change a setting in ifconfig's grammar (a dry run: validated, diffed, its impact shown, nothing written)"
echo "(a new VXLAN port under running hosts splits the overlay: without --allow-disruption it is refused)"
show_failing ifconfig flannel.1 port 8472 --dry-run
# ifconfig's own ADDRESS netmask MASK; a mask with a hole gets netmask's verdict in one line
show_failing ifconfig flannel.1 10.5.0.0 netmask 255.0.255.0 --dry-run

step "Changing a network safely: narrowing it would orphan live leases and is refused; widening is not"
sed 's|"10.5.0.0/16"|"10.5.0.0/17"|' examples/network.json >"$work/network-narrow.json"
sed 's|"10.5.0.0/16"|"10.4.0.0/14"|' examples/network.json >"$work/network-wide.json"
show_failing config set "$work/network-narrow.json"
show config set "$work/network-wide.json" --dry-run

step "The overlay routing table, from the leases, as route -n shows a routing table"
show route -n
show route add 10.5.201.0/24 gw 192.0.2.60 vtep 0e:00:00:00:00:60
show_failing route del "$(podnet lease show 192.0.2.11 -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).subnet))')"

step "Utilisation, who holds an address, the free space, and a map of the address space"
show ipam show
show ipam show --ip 10.5.77.9
show ipam show --map
show ipam show --map "$work/ipam-map.svg"
head -c 300 "$work/ipam-map.svg"; echo " ..."

step "Find what is broken: an overlapping lease and the foreign key written earlier"
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" put --lease="$grant" /coreos.com/network/subnets/10.5.76.0-23 \
  '{"PublicIP":"192.0.2.78","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:45"}}' >/dev/null
show_failing ipam check --report "$work/report.json"
show ipam release --from-report "$work/report.json" --dry-run
show ipam release --from-report "$work/report.json"
show ipam check

step "doctor: etcd, the config, the leases, and this host"
show_failing doctor

step "An unreachable etcd fails fast, in one sentence"
show_failing --endpoints 127.0.0.1:1 config get

step "podnet agent takes flanneld's command line as it is; flanneld flags it does not implement are named (exit 2)"
show_failing agent -etcd-endpoints=http://127.0.0.1:1 -iface=eth0 --ip-masq=true -v=2 -kube-subnet-mgr -iptables-resync=5

step "A dead endpoint among live ones costs nothing: the call moves on to the next"
show --endpoints "127.0.0.1:1,127.0.0.1:$client_port" config get -o json

step "For scripts, as etcdctl users expect: -w, raw values (TTLs in seconds), version, completion"
show lease list -w simple
show version
printf '$ source <(podnet completion bash)\n'
podnet completion bash | sed -n 1p

step "Secrets stay secret: an ipsec PSK prints as <redacted> unless --show-secrets"
printf '{"Network":"10.9.0.0/16","Backend":{"Type":"ipsec","PSK":"%s"}}\n' "$(head -c 90 /dev/urandom | base64 -w0)" >"$work/ipsec.json"
podnet --prefix /demo-secret config set "$work/ipsec.json" -o simple
show --prefix /demo-secret config get

# ---------------------------------------------------------------------------------------
# podnet agent: three hosts in network namespaces, an agent in each, traffic across the
# overlay. Needs root and `ip netns`; skipped with one line otherwise. Its own etcd runs in
# a "switch" namespace on the hosts' bridge (192.0.2.254), so nothing leaves the namespaces.
agent_skip=""
if [ "$(id -u)" != 0 ]; then
  agent_skip="not root"
elif ! command -v ip >/dev/null 2>&1; then
  agent_skip="iproute2 is not installed"
elif ! ip netns add "pnd$$-probe" 2>/dev/null; then
  agent_skip="'ip netns add' is refused here"
else
  ip netns del "pnd$$-probe"
fi
if [ -n "$agent_skip" ]; then
  step "podnet agent: skipped ($agent_skip; the overlay demo needs root and network namespaces)"
else
  ag="pnd$$"
  ag_url="http://192.0.2.254:2379"
  ag_pids=()
  ag_etcd=""
  agent_cleanup() {
    for pid in "${ag_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${ag_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$ag_etcd" ]; then kill "$ag_etcd" 2>/dev/null || true; wait "$ag_etcd" 2>/dev/null || true; fi
    for ns in "$ag-h1" "$ag-h2" "$ag-h3" "$ag-sw"; do ip netns del "$ns" 2>/dev/null || true; done
  }
  trap 'agent_cleanup; cleanup' EXIT INT TERM
  in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
  ag_podnet() { local ns=$1; shift; printf '[%s]$ podnet %s\n' "${ns#"$ag-"}" "$*"; in_ns "$ns" node "$PODNET_JS" --endpoints "$ag_url" "$@"; }

  step "podnet agent: three hosts (network namespaces h1..h3 on one bridge, 192.0.2.11-13), etcd on 192.0.2.254"
  ip netns add "$ag-sw"
  ip -n "$ag-sw" link set lo up
  ip -n "$ag-sw" link add br0 type bridge
  ip -n "$ag-sw" addr add 192.0.2.254/24 dev br0
  ip -n "$ag-sw" link set br0 up
  for i in 1 2 3; do
    ip netns add "$ag-h$i"
    ip -n "$ag-h$i" link set lo up
    ip -n "$ag-sw" link add "p$i" type veth peer name eth0 netns "$ag-h$i"
    ip -n "$ag-sw" link set "p$i" master br0 up
    ip -n "$ag-h$i" addr add "192.0.2.1$i/24" dev eth0
    ip -n "$ag-h$i" link set eth0 up
  done
  # Background processes start as `ip netns exec ... &` (not through a function) so that $! is
  # the process itself (ip execs it) and a signal reaches it.
  ip netns exec "$ag-sw" etcd --name agents --data-dir "$work/etcd-agents" \
    --listen-client-urls "$ag_url" --advertise-client-urls "$ag_url" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster agents=http://127.0.0.1:2380 >"$work/etcd-agents.log" 2>&1 &
  ag_etcd=$!
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 in_ns "$ag-sw" etcdctl --endpoints "$ag_url" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
  ag_podnet "$ag-sw" config set examples/network.json

  step "Start an agent on each host, all at once (each logs one line per event to stderr)"
  for i in 1 2 3; do
    extra=()
    if [ "$i" = 1 ]; then
      extra=(--healthz-port 9100)
      if command -v iptables-restore >/dev/null 2>&1; then extra+=(--ip-masq); fi
    fi
    printf '[h%s]$ podnet agent --iface eth0 --subnet-file %s --reconcile-interval 2s --release-on-exit %s\n' \
      "$i" "$work/h$i.env" "${extra[*]:-}"
    ip netns exec "$ag-h$i" node "$PODNET_JS" --endpoints "$ag_url" agent --iface eth0 --subnet-file "$work/h$i.env" \
      --reconcile-interval 2s --release-on-exit "${extra[@]}" 2>"$work/agent$i.log" &
    ag_pids+=($!)
  done
  for _ in $(seq 1 240); do
    n=$(ip -n "$ag-h1" -4 route show dev flannel.1 2>/dev/null | grep -c onlink || true)
    if [ -f "$work/h1.env" ] && [ -f "$work/h2.env" ] && [ -f "$work/h3.env" ] && [ "$n" = 2 ]; then break; fi
    sleep 0.25
  done
  echo "--- h1's agent log:"
  cat "$work/agent1.log"
  echo "--- h1's subnet file:"
  cat "$work/h1.env"

  overlay_ip() { sed -n 's/^FLANNEL_SUBNET=\(.*\)\.1\/.*/\1.0/p' "$work/h$1.env"; }
  h2_ip=$(overlay_ip 2)
  h3_ip=$(overlay_ip 3)
  step "Traffic across the overlay: h1 to h2's and h3's flannel.1 addresses"
  if command -v ping >/dev/null 2>&1; then
    printf '[h1]$ ping -c 2 %s\n' "$h2_ip"; in_ns "$ag-h1" ping -c 2 -W 2 "$h2_ip"
    printf '[h1]$ ping -c 2 %s\n' "$h3_ip"; in_ns "$ag-h1" ping -c 2 -W 2 "$h3_ip"
  else
    echo "(ping is not installed here: a TCP hello across the overlay instead)"
    for i in 2 3; do
      ip netns exec "$ag-h$i" node -e 'require("node:net").createServer((s) => s.end("hello from h" + process.argv[1] + "\n")).listen(7777)' "$i" &
      ag_pids+=($!)
    done
    sleep 1
    for ip_ in "$h2_ip" "$h3_ip"; do
      printf '[h1]$ connect %s:7777 -> ' "$ip_"
      in_ns "$ag-h1" node -e 'const s = require("node:net").connect(7777, process.argv[1]); s.setTimeout(3000, () => { console.log("no answer"); s.destroy(); }); s.pipe(process.stdout)' "$ip_"
    done
  fi

  h1_ip=$(overlay_ip 1)
  step "h1 masquerades (--ip-masq): its pods reach beyond the overlay under h1's address"
  if command -v iptables-restore >/dev/null 2>&1 && command -v ping >/dev/null 2>&1; then
    printf '[h1]$ iptables -t nat -S PODNET-POSTRTG\n'
    for _ in $(seq 1 40); do ip netns exec "$ag-h1" iptables -t nat -S PODNET-POSTRTG >/dev/null 2>&1 && break; sleep 0.25; done
    ip netns exec "$ag-h1" iptables -t nat -S PODNET-POSTRTG
    echo "(192.0.2.254 is outside the overlay and has no route to it; the answer comes back to h1's address)"
    printf '[h1]$ ping -c 1 -I %s 192.0.2.254\n' "$h1_ip"
    in_ns "$ag-h1" ping -c 1 -W 2 -I "$h1_ip" 192.0.2.254
  else
    echo "(iptables or ping is not installed here: skipped)"
  fi

  step "h1's routing table as podnet sees it, then compared with h1's kernel"
  ag_podnet "$ag-h1" route
  ag_podnet "$ag-h1" route --kernel --subnet-file "$work/h1.env" || echo "(podnet route --kernel is not available in this build)"
  printf '[h1]$ ip -4 route show dev flannel.1\n'
  ip -n "$ag-h1" -4 route show dev flannel.1

  step "Drift is repaired: delete h1's route to h2 by hand and watch it come back"
  printf '[h1]$ ip route del %s/24\n' "$h2_ip"
  ip -n "$ag-h1" route del "$h2_ip/24"
  for _ in $(seq 1 40); do ip -n "$ag-h1" -4 route show | grep -q "^$h2_ip/24" && break; sleep 0.25; done
  ip -n "$ag-h1" -4 route show dev flannel.1
  tail -n 1 "$work/agent1.log"

  step "Health, readiness and metrics of h1's agent"
  in_ns "$ag-h1" node -e 'fetch("http://127.0.0.1:9100/healthz").then(async (r) => console.log("/healthz", r.status, (await r.text()).trim()))'
  in_ns "$ag-h1" node -e 'fetch("http://127.0.0.1:9100/readyz").then(async (r) => console.log("/readyz", r.status, (await r.text()).trim()))'
  in_ns "$ag-h1" node -e 'fetch("http://127.0.0.1:9100/metrics").then(async (r) => process.stdout.write((await r.text()).split("\n").filter((l) => l.startsWith("podnet_")).join("\n") + "\n"))'

  step "Stop h3's agent (--release-on-exit): its lease goes, and h1 drops its entries"
  kill -TERM "${ag_pids[2]}"
  wait "${ag_pids[2]}" || true
  tail -n 3 "$work/agent3.log"
  for _ in $(seq 1 40); do ip -n "$ag-h1" -4 route show | grep -q "^$h3_ip/24" || break; sleep 0.25; done
  ag_podnet "$ag-h1" route
  tail -n 4 "$work/agent1.log"
fi

printf '\nDemo finished; the throwaway etcd is stopped and its data removed.\n'
