import { findLeases } from "@podnet/ipam-core";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { subnetText } from "../../print/lease.js";
import { subnetArg } from "./flags.js";
import { openRegistry } from "./lease-context.js";

/** `podnet lease unreserve SUBNET`: delete a reservation (a live lease is refused: release it instead). */
export function unreserveCommand(): Command {
  return new Command("unreserve")
    .description("delete a reservation; a live lease is refused (use 'lease release')")
    .argument("<subnet>", "the reserved subnet, like 10.5.52.0/24 or 10.5.52.0-24")
    .action(
      withContext(async (ctx, text: string) => {
        const wanted = subnetArg(text);
        const registry = await openRegistry(ctx);
        // An IPv4 part alone names a dual-stack reservation too.
        const [match] = findLeases(await registry.list(), { kind: "subnet", subnet: wanted, text });
        const lease = await registry.unreserve(match?.subnet ?? wanted);
        await ctx.print({
          data: { unreserved: subnetText(lease.subnet), publicIP: lease.attrs.publicIP, key: lease.key },
          human: () =>
            `unreserved ${subnetText(lease.subnet)} (was reserved for ${lease.attrs.publicIP}): deleted ${lease.key}`,
          rows: () => [[subnetText(lease.subnet), lease.attrs.publicIP, "unreserved"]],
        });
        return undefined;
      }),
    );
}
