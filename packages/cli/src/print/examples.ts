/**
 * The examples at the end of each command's `--help`, by command path. Kept in one table so
 * that every command has them (a test walks the command tree) and their style is one.
 */
import type { Command } from "commander";

/** Example command lines per command path (`lease list`); the first line is the common case. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  "config validate": [
    "podnet config validate net.json",
    "podnet config validate net.json --nodes 500 --underlay 192.168.0.0/16 -o json",
    "podnet config get | podnet config validate -",
  ],
  "config get": [
    "podnet config get",
    "podnet config get -o json | jq .revision",
    "podnet config get --show-secrets",
  ],
  "config set": ["podnet config set net.json --dry-run", "podnet config set net.json --expect-revision 42"],
  "config diff": ["podnet config diff net.json", "podnet config diff net.json >/dev/null || echo changed"],
  "config history": ["podnet config history", "podnet config history --limit 5 -o json"],
  "config rollback": ["podnet config rollback 42 --dry-run", "podnet config rollback 42"],
  "migrate v2": [
    "podnet migrate v2 --dry-run",
    "podnet migrate v2",
    "podnet migrate v2 --from http://old-etcd:2379 --v2-prefix /coreos.com/network -o json",
  ],
  route: [
    "podnet route -n",
    "podnet route --kernel --public-ip 192.0.2.7",
    "podnet route -o json | jq '.routes[0]'",
  ],
  "route add": ["podnet route add 10.5.7.0/24 gw 192.0.2.9 vtep c6:d2:32:6f:8f:44"],
  "route del": ["podnet route del 10.5.7.0/24", "podnet route del 10.5.7.0/24 --force"],
  "lease acquire": ["podnet lease acquire --public-ip 192.0.2.7 --vtep-mac c6:d2:32:6f:8f:44"],
  "lease renew": [
    "podnet lease renew --public-ip 192.0.2.7",
    "podnet lease renew 10.5.52.0/24 --public-ip 192.0.2.7",
  ],
  "lease release": ["podnet lease release 10.5.52.0/24", "podnet lease release --public-ip 192.0.2.7"],
  "lease list": ["podnet lease list", "podnet lease list -o simple | cut -f1,5", "podnet lease list -w json"],
  "lease show": ["podnet lease show 10.5.52.0/24", "podnet lease show 10.5.52.0-24 -o yaml"],
  "lease reserve": ["podnet lease reserve 10.5.9.0/24 --public-ip 192.0.2.9"],
  "lease unreserve": ["podnet lease unreserve 10.5.9.0/24"],
  "ipam show": ["podnet ipam show", "podnet ipam show --ip 10.5.52.17", "podnet ipam show --free -o json"],
  "ipam check": ["podnet ipam check", "podnet ipam check -o json > report.json"],
  "ipam release": ["podnet ipam release --from-report report.json --dry-run"],
  watch: ["podnet watch", "podnet watch --no-snapshot -o json | jq -c 'select(.type==\"removed\")'"],
  agent: ["podnet agent --iface eth0", "podnet agent --iface-regex '^ens' --healthz-port 8471"],
  doctor: ["podnet doctor", "podnet doctor --public-ip 192.0.2.7 -o json"],
  completion: [
    "source <(podnet completion bash)",
    "podnet completion zsh > ~/.zfunc/_podnet",
    "podnet completion fish > ~/.config/fish/completions/podnet.fish",
  ],
  version: ["podnet version", "podnet version -o json --endpoints 127.0.0.1:2379"],
};

/** The command path without the program name: `lease list`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Adds "Examples:" to the help of every command in the table (ifconfig has its own, with its grammar). */
export function addExamples(root: Command): void {
  const visit = (cmd: Command) => {
    const lines = EXAMPLES[commandPath(cmd)];
    if (lines !== undefined && lines.length > 0) {
      cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`);
    }
    for (const sub of cmd.commands) visit(sub);
  };
  for (const sub of root.commands) visit(sub);
}
