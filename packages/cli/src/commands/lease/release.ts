import { isReservation, type Lease, PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { leaseData, revokedText, subnetText } from "../../print/lease.js";
import { warn } from "../../print/warn.js";
import { leaseTargetFrom } from "./flags.js";
import { requireLeases, viewsOf } from "./lease-context.js";

/**
 * `podnet lease release SUBNET|--public-ip IP`: delete the lease, only if it is unchanged since
 * read. A reservation is never released: it is named, kept, and left to `lease unreserve`.
 */
export function releaseCommand(): Command {
  return new Command("release")
    .description(
      "release a lease (delete its key and revoke its etcd lease), only if nobody changed it meanwhile; reservations are kept (see 'lease unreserve')",
    )
    .argument("[subnet]", "the lease's subnet, like 10.5.52.0/24 or 10.5.52.0-24")
    .option("--public-ip <ip>", "release the lease(s) of this host instead")
    .action(
      withContext(async (ctx, subnet: string | undefined, flags: { publicIp?: string }) => {
        const target = leaseTargetFrom(subnet, flags.publicIp);
        const { registry, listing, found } = await requireLeases(ctx, target);
        const kept = found.filter(isReservation);
        const live = found.filter((l) => !isReservation(l));
        if (live.length === 0) throw reservationError(kept);
        const views = await viewsOf(registry, live, listing);
        const revoked = new Map<string, boolean>();
        for (const lease of live) revoked.set(lease.key, (await registry.release(lease)).revoked);
        for (const r of kept) warn(keptText(r));
        const sentence = (v: (typeof views)[number]) => {
          const l = v.lease;
          return `released ${subnetText(l.subnet)} (held by ${l.attrs.publicIP}): deleted ${l.key}, a lease; ${revokedText(l.etcdLease, revoked.get(l.key) ?? true)}`;
        };
        await ctx.print({
          data: { released: views.map(leaseData), keptReservations: kept.map((l) => l.key) },
          human: () => views.map(sentence).join("\n"),
          rows: () => views.map((v) => [subnetText(v.lease.subnet), v.lease.attrs.publicIP, "released"]),
        });
        return undefined;
      }),
    );
}

function keptText(r: Lease): string {
  const name = subnetText(r.subnet);
  return `kept ${name}: it is a reservation for ${r.attrs.publicIP}, not a lease; 'podnet lease unreserve ${name}' deletes it`;
}

function reservationError(kept: readonly Lease[]): PodnetError {
  const [first, ...more] = kept;
  const text = first === undefined ? "" : keptText(first);
  return new PodnetError(
    "conflict",
    `nothing was released: ${text}${more.length > 0 ? ` (and ${more.length} more reservations)` : ""}`,
  );
}
