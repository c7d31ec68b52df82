import { leaseFits, PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatLease, leaseData, subnetText } from "../../print/lease.js";
import {
  type AttrFlags,
  allowsNoVtepMac,
  leaseAttrsFrom,
  subnetArg,
  VTEP_MAC_HINT,
  withAttrOptions,
} from "./flags.js";
import { loadNetwork, openRegistry, viewsOf } from "./lease-context.js";

/** `podnet lease reserve SUBNET --public-ip IP`: a lease with no TTL, for a host that must keep its subnet. */
export function reserveCommand(): Command {
  return withAttrOptions(new Command("reserve"))
    .description("reserve a subnet for a host: a lease with no etcd lease, so it never expires")
    .argument("<subnet>", "the subnet, like 10.5.52.0/24 or 10.5.52.0-24")
    .action(
      withContext(async (ctx, text: string, flags: AttrFlags) => {
        const subnet = subnetArg(text);
        const attrsFor = leaseAttrsFrom(flags);
        const { resolved, network } = await loadNetwork(ctx);
        const attrs = attrsFor(resolved.Backend);
        if (!leaseFits(network, subnet)) {
          throw new PodnetError(
            "failed",
            `${subnetText(subnet)} is not one of the network's subnets (${rangeText(resolved)}); nothing was written`,
          );
        }
        const registry = await openRegistry(ctx);
        const lease = await registry.reserve(subnet, attrs, {
          allowIncomplete: allowsNoVtepMac(flags),
          incompleteHint: VTEP_MAC_HINT,
        });
        const [view] = await viewsOf(registry, [lease]);
        if (view === undefined) return undefined;
        await ctx.print({
          data: leaseData(view),
          human: () => `reserved ${subnetText(lease.subnet)} for ${attrs.publicIP}\n${formatLease(view)}`,
          rows: () => [[subnetText(lease.subnet), attrs.publicIP, "reserved"]],
        });
        return undefined;
      }),
    );
}

function rangeText(r: {
  Network?: string | undefined;
  SubnetLen?: number | undefined;
  SubnetMin?: string | undefined;
  SubnetMax?: string | undefined;
  IPv6Network?: string | undefined;
  IPv6SubnetLen?: number | undefined;
}): string {
  const parts: string[] = [];
  if (r.Network !== undefined)
    parts.push(`/${r.SubnetLen} of ${r.Network} from ${r.SubnetMin} to ${r.SubnetMax}`);
  if (r.IPv6Network !== undefined) parts.push(`/${r.IPv6SubnetLen} of ${r.IPv6Network}`);
  return parts.join(" and ");
}
