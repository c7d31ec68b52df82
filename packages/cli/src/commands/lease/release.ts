import { isReservation } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { etcdLeaseHex, leaseData, subnetText } from "../../print/lease.js";
import { leaseTargetFrom } from "./flags.js";
import { requireLeases, viewsOf } from "./lease-context.js";

/** `podnet lease release SUBNET|--public-ip IP`: delete the lease, only if it is unchanged since read. */
export function releaseCommand(): Command {
  return new Command("release")
    .description(
      "release a lease (delete its key and revoke its etcd lease), only if nobody changed it meanwhile",
    )
    .argument("[subnet]", "the lease's subnet, like 10.5.52.0/24 or 10.5.52.0-24")
    .option("--public-ip <ip>", "release the lease(s) of this host instead")
    .action(
      withContext(async (ctx, subnet: string | undefined, flags: { publicIp?: string }) => {
        const target = leaseTargetFrom(subnet, flags.publicIp);
        const { registry, listing, found } = await requireLeases(ctx, target);
        const views = await viewsOf(registry, found, listing);
        for (const lease of found) await registry.release(lease);
        const sentence = (v: (typeof views)[number]) => {
          const l = v.lease;
          const what = isReservation(l)
            ? "reservation; nothing to revoke"
            : `lease; etcd lease ${etcdLeaseHex(l.etcdLease)} revoked`;
          return `released ${subnetText(l.subnet)} (held by ${l.attrs.publicIP}): deleted ${l.key}, a ${what}`;
        };
        await ctx.print({
          data: { released: views.map(leaseData) },
          human: () => views.map(sentence).join("\n"),
          rows: () => views.map((v) => [subnetText(v.lease.subnet), v.lease.attrs.publicIP, "released"]),
        });
        return undefined;
      }),
    );
}
