import { ownedBy, PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatLease, leaseData, subnetText } from "../../print/lease.js";
import { ipv4Flag, subnetArg } from "./flags.js";
import { requireLeases, viewsOf } from "./lease-context.js";

/**
 * `podnet lease renew [SUBNET] --public-ip IP`: refresh the TTL of a host's lease, only while
 * it is still that host's; a SUBNET alone is refused, naming whose lease it is.
 */
export function renewCommand(): Command {
  return new Command("renew")
    .description("renew a host's lease (its TTL starts again), refusing if it changed hands or expired")
    .argument(
      "[subnet]",
      "the lease's subnet, like 10.5.52.0/24 or 10.5.52.0-24 (default: all of the host's)",
    )
    .option("--public-ip <ip>", "the host whose lease this is (required); a lease of another host is refused")
    .addHelpText(
      "after",
      "\nExamples:\n  podnet lease renew --public-ip 192.0.2.7\n  podnet lease renew 10.5.52.0/24 --public-ip 192.0.2.7",
    )
    .action(
      withContext(async (ctx, subnet: string | undefined, flags: { publicIp?: string }) => {
        if (flags.publicIp === undefined && subnet === undefined) {
          throw new PodnetError("usage", "give --public-ip IP: the host whose lease to renew");
        }
        const publicIP = flags.publicIp === undefined ? undefined : ipv4Flag(flags.publicIp, "--public-ip");
        const target =
          subnet === undefined
            ? ({ kind: "owner", publicIP: publicIP ?? "", text: flags.publicIp ?? "" } as const)
            : ({ kind: "subnet", subnet: subnetArg(subnet), text: subnet } as const);
        const { registry, found } = await requireLeases(ctx, target);
        if (publicIP === undefined) {
          const owners = [...new Set(found.map((l) => l.attrs.publicIP))].join(" and ");
          throw new PodnetError(
            "usage",
            `${subnet} is held by ${owners}; renew it with --public-ip ${found[0]?.attrs.publicIP ?? "IP"} to say whose lease you mean; nothing was renewed`,
          );
        }
        const others = found.filter((l) => !ownedBy(l, publicIP));
        const [other] = others;
        if (other !== undefined) {
          throw new PodnetError(
            "conflict",
            `${subnetText(other.subnet)} is held by ${other.attrs.publicIP}, not ${publicIP}; nothing was renewed`,
          );
        }
        const renewed = [];
        for (const lease of found) renewed.push(await registry.renew(lease));
        const views = await viewsOf(registry, renewed);
        await ctx.print({
          data: { renewed: views.map(leaseData) },
          human: () =>
            views.map((v) => `renewed ${subnetText(v.lease.subnet)}\n${formatLease(v)}`).join("\n\n"),
          rows: () => views.map((v) => [subnetText(v.lease.subnet), v.lease.attrs.publicIP, "renewed"]),
        });
        return undefined;
      }),
    );
}
