import { hasIPv4, type LeaseSubnet } from "@podnet/ipam-core";
import { overlayMtu, readSubnetFile, writeSubnetFile } from "@podnet/netcfg";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatLease, leaseData, subnetText } from "../../print/lease.js";
import { note } from "../../print/warn.js";
import {
  type AttrFlags,
  allowsNoVtepMac,
  leaseAttrsFrom,
  mtuFlag,
  ttlFlag,
  VTEP_MAC_HINT,
  withAttrOptions,
} from "./flags.js";
import { acquiredView, loadNetwork, openRegistry } from "./lease-context.js";

interface AcquireFlags extends AttrFlags {
  ttl?: string;
  subnetFile?: string;
  mtu?: string;
  ipMasq?: boolean;
}

/** `podnet lease acquire`: this host's lease, as flanneld would take it, guarded and retried. */
export function acquireCommand(): Command {
  return withAttrOptions(new Command("acquire"))
    .description(
      "lease a subnet for a host: its own lease again, else its previous subnet if free, else a random free one",
    )
    .option("--ttl <duration>", "lifetime of a new lease, like 24h or 90m (default: 24h, as flannel)")
    .option(
      "--subnet-file <path>",
      "read the previous subnet from this flannel subnet file and write the new one there (e.g. /run/flannel/subnet.env)",
    )
    .option(
      "--mtu <n>",
      "FLANNEL_MTU to write (default: the vxlan Backend's MTU minus 50, else 1450 = 1500 - 50; the agent uses the real interface's)",
    )
    .option("--ip-masq", "write FLANNEL_IPMASQ=true")
    .action(
      withContext(async (ctx, flags: AcquireFlags) => {
        const ttlSeconds = flags.ttl === undefined ? undefined : ttlFlag(flags.ttl);
        const attrsFor = leaseAttrsFrom(flags);
        const mtuGiven = flags.mtu === undefined ? undefined : mtuFlag(flags.mtu);
        const { resolved, network, revision } = await loadNetwork(ctx);
        const attrs = attrsFor(resolved.Backend);
        let previous: LeaseSubnet | undefined;
        if (flags.subnetFile !== undefined) {
          previous = (await readSubnetFile(flags.subnetFile))?.previousSubnet();
        }
        const registry = await openRegistry(ctx, ttlSeconds);
        const result = await registry.acquire({
          network,
          attrs,
          ...(previous !== undefined && { previous }),
          ...(ttlSeconds !== undefined && { ttlSeconds }),
          // The leases as they stood with the config just read: one snapshot, and no read to pin it.
          atRevision: revision,
          allowIncomplete: allowsNoVtepMac(flags),
          incompleteHint: VTEP_MAC_HINT,
        });
        const { lease } = result;
        const mtu = mtuGiven ?? overlayMtu(resolved.Backend).mtu;
        if (flags.subnetFile !== undefined) {
          await writeSubnetFile(flags.subnetFile, {
            ...(hasIPv4(lease.subnet) && { subnet: lease.subnet.ipv4, network: network.ipv4?.network }),
            ...(lease.subnet.ipv6 !== undefined && {
              ipv6Subnet: lease.subnet.ipv6,
              ipv6Network: network.ipv6?.network,
            }),
            mtu,
            ipMasq: flags.ipMasq === true,
          });
        }
        const view = await acquiredView(registry, result);
        const removed = result.removed.map((l) => l.key);
        for (const l of result.removed) {
          note(`removed this host's lease ${subnetText(l.subnet)}: it no longer fits the network config`);
        }
        const how = {
          reused: "this host's lease, reused",
          previous: "the previous subnet, taken again",
          new: "a free subnet, newly leased",
        }[result.outcome];
        await ctx.print({
          data: {
            ...leaseData(view),
            outcome: result.outcome,
            attempts: result.attempts,
            removed,
            subnetFile: flags.subnetFile ?? null,
            ...(flags.subnetFile !== undefined && { mtu }),
          },
          human: () =>
            formatLease(view, [
              [
                "Outcome",
                `${result.outcome} (${how}${result.attempts > 1 ? `, after ${result.attempts} attempts` : ""})`,
              ],
              ...(flags.subnetFile !== undefined
                ? ([["SubnetFile", `${flags.subnetFile} (FLANNEL_MTU=${mtu})`]] as const)
                : []),
            ]),
          rows: () => [[subnetText(lease.subnet), lease.attrs.publicIP, result.outcome]],
        });
        return undefined;
      }),
    );
}
