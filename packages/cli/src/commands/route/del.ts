import { findLeases, isReservation, PodnetError } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { formatTtl, revokedText, subnetText } from "../../print/lease.js";
import { removedText, routeData, routeEntries, routeSimpleRow } from "../../print/route.js";
import { subnetArg } from "../lease/flags.js";
import { noLeaseError, openRegistry, viewsOf } from "../lease/lease-context.js";

/**
 * `podnet route del SUBNET [--force]`: deletes a reservation, or a lease whose etcd lease has
 * run out; a live lease only with --force. The delete is a transaction that compares the key
 * with what was read (value and etcd lease), so nothing written meanwhile is ever deleted.
 */
export function delCommand(): Command {
  return new Command("del")
    .alias("delete")
    .description(
      "remove a reservation or lease; a live lease only with --force, and only if unchanged since read",
    )
    .argument("<subnet>", "the subnet, like 10.5.7.0/24 or 10.5.7.0-24")
    .option("--force", "delete a live lease too (its host loses its subnet; flanneld would shut down)")
    .action(
      withContext(async (ctx, text: string, flags: { force?: boolean }) => {
        const target = { kind: "subnet", subnet: subnetArg(text), text } as const;
        const registry = await openRegistry(ctx);
        const listing = await registry.list();
        const found = findLeases(listing, target);
        const [lease] = found;
        if (lease === undefined) throw noLeaseError(listing, target);
        if (found.length > 1) {
          throw new PodnetError(
            "usage",
            `${text} names ${found.length} leases (${found.map((l) => subnetText(l.subnet)).join(", ")}); give the whole subnet`,
          );
        }
        const [view] = await viewsOf(registry, [lease]);
        const ttl = view?.ttlSeconds ?? null;
        const live = !isReservation(lease) && ttl !== null && ttl > 0;
        if (live && flags.force !== true) {
          throw new PodnetError(
            "conflict",
            `${subnetText(lease.subnet)} is a live lease of ${lease.attrs.publicIP} (${formatTtl(ttl)} left); its host still uses it; nothing was deleted; pass --force to delete it anyway`,
          );
        }
        // A reservation is what route add made: route del is its unreserve.
        let revoked = "";
        if (isReservation(lease)) await registry.unreserve(lease.subnet, { expect: lease });
        else revoked = `; ${revokedText(lease.etcdLease, (await registry.release(lease)).revoked)}`;
        const routes = routeEntries(view === undefined ? [] : [view], undefined);
        await ctx.print({
          data: { removed: routes.map(routeData) },
          human: () =>
            `deleted ${subnetText(lease.subnet)}: ${lease.key}, the ${removedText(lease, ttl)}${revoked}`,
          rows: () => routes.map((r) => [...routeSimpleRow(r), "deleted"]),
        });
        return undefined;
      }),
    );
}
