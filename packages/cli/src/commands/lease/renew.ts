import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatLease, leaseData, subnetText } from "../../print/lease.js";
import { leaseTargetFrom } from "./flags.js";
import { requireLeases, viewsOf } from "./lease-context.js";

/** `podnet lease renew SUBNET|--public-ip IP`: refresh the lease's TTL, only while it is still ours. */
export function renewCommand(): Command {
  return new Command("renew")
    .description("renew a lease (its TTL starts again), refusing if it changed hands or expired")
    .argument("[subnet]", "the lease's subnet, like 10.5.52.0/24 or 10.5.52.0-24")
    .option("--public-ip <ip>", "renew the lease(s) of this host instead")
    .action(
      withContext(async (ctx, subnet: string | undefined, flags: { publicIp?: string }) => {
        const target = leaseTargetFrom(subnet, flags.publicIp);
        const { registry, found } = await requireLeases(ctx, target);
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
