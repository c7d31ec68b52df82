import { PodnetError } from "@podnet/ipam-core";
import { parseDeviceName } from "@podnet/netcfg";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { setIfconfig } from "./set.js";
import { showIfconfig } from "./show.js";

interface IfconfigFlags {
  all?: boolean;
  publicIp?: string;
  subnetFile?: string;
  dryRun?: boolean;
  strict?: boolean;
  allowDisruption?: boolean;
}

const GRAMMAR = `
Setting: words in ifconfig's style, applied on top of the stored config (only what they name changes):
  [flannel.<VNI>]                 the vxlan device; implies vxlan and its VNI
  CIDR                            the pod network (Network)
  subnetlen N  min IP  max IP     SubnetLen, SubnetMin, SubnetMax
  ipv6 CIDR  ipv6subnetlen N  ipv6min IP  ipv6max IP    enable IPv6 and set its network
  -ipv4 | ipv4, -ipv6, [-]nftables                     EnableIPv4, EnableIPv6, EnableNFTables
  vxlan | host-gw | udp | ipip | wireguard | ...        the backend type
  vni N  port N  mtu N  [-]gbp  [-]learning  [-]directrouting   backend settings
The result is validated like 'config validate', shown as a diff, and written only if the stored
config is unchanged since it was read. Exit 3 when the result is invalid (nothing is written);
exit 1 when it would orphan live leases or change the running data plane, unless --allow-disruption.

Examples:
  podnet ifconfig -a
  podnet ifconfig --public-ip 192.0.2.7 -o json
  podnet ifconfig flannel.1 10.5.0.0/16 subnetlen 24 vxlan vni 1 port 4789 -gbp directrouting --dry-run
  podnet ifconfig flannel.1 port 4789`;

/** `podnet ifconfig`: the overlay as ifconfig would show it; with words, sets the config. */
export function ifconfigCommand(): Command {
  return (
    new Command("ifconfig")
      .description("show the overlay as ifconfig would, or set the network config in ifconfig's grammar")
      .argument("[words...]", "nothing (or the device name) to show; settings to change the config")
      // -a is taken from the words: as a declared short option, commander would split -arp into -a -rp
      .option("--all", "also show the local device's kernel counters (short: -a)")
      .option("--public-ip <ip>", "find this host's lease by its owner's public IP")
      .option(
        "--subnet-file <path>",
        "find this host's lease from this subnet file (default: /run/flannel/subnet.env)",
      )
      .option("--dry-run", "setting: show the diff and write nothing")
      .option("--strict", "setting: refuse a result with warnings too")
      .option(
        "--allow-disruption",
        "setting: write even when the change orphans live leases or changes the running data plane",
      )
      .allowUnknownOption() // -gbp, -ipv4, ... are words of the grammar, not options
      .addHelpText("after", GRAMMAR)
      .action(
        withContext(async (ctx, allWords: string[], flags: IfconfigFlags) => {
          const words = allWords.filter((w) => w !== "-a");
          const all = flags.all === true || words.length < allWords.length;
          const [first] = words;
          const showing =
            words.length === 0 ||
            (words.length === 1 && first !== undefined && parseDeviceName(first) !== undefined);
          if (showing) {
            const setterFlag = flags.dryRun
              ? "--dry-run"
              : flags.strict
                ? "--strict"
                : flags.allowDisruption
                  ? "--allow-disruption"
                  : undefined;
            if (setterFlag !== undefined) {
              throw new PodnetError(
                "usage",
                `${setterFlag} applies only when setting; give the settings to change`,
              );
            }
            return showIfconfig(ctx, {
              all,
              ...(flags.publicIp !== undefined && { publicIp: flags.publicIp }),
              ...(flags.subnetFile !== undefined && { subnetFile: flags.subnetFile }),
              ...(first !== undefined && { deviceWord: first }),
            });
          }
          const misplaced = all
            ? "-a"
            : flags.publicIp !== undefined
              ? "--public-ip"
              : flags.subnetFile !== undefined
                ? "--subnet-file"
                : undefined;
          if (misplaced !== undefined) {
            throw new PodnetError(
              "usage",
              `${misplaced} applies only when showing; drop it, or drop the settings to show`,
            );
          }
          return setIfconfig(ctx, words, {
            dryRun: flags.dryRun === true,
            strict: flags.strict === true,
            allowDisruption: flags.allowDisruption === true,
          });
        }),
      )
  );
}
