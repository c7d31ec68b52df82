import { isPodnetError, leaseFits, PodnetError } from "@podnet/ipam-core";
import type { ResolvedConfig } from "@podnet/netcfg";
import { Command } from "commander";
import { withContext } from "../../context.js";
import { subnetText } from "../../print/lease.js";
import { formatRoutes, routeData, routeEntries, routeSimpleRow } from "../../print/route.js";
import { ipv4Flag, leaseAttrsFrom, macFlag, subnetArg } from "../lease/flags.js";
import { loadNetwork, openRegistry, viewsOf } from "../lease/lease-context.js";

/**
 * The words after SUBNET, in route(8)'s grammar: `gw IP [vtep MAC|none]`, in any order;
 * `vtep none` reserves a vxlan subnet without a VtepMAC on purpose (its host writes its own).
 */
export function routeAddWords(words: readonly string[]): { gw: string; vtep?: string | false } {
  const given = new Map<string, string>();
  for (let i = 0; i < words.length; i += 2) {
    const word = words[i] ?? "";
    const value = words[i + 1];
    if (word !== "gw" && word !== "vtep") {
      throw new PodnetError("usage", `unknown word "${word}"; give 'gw PUBLIC-IP' and optionally 'vtep MAC'`);
    }
    if (value === undefined) throw new PodnetError("usage", `'${word}' needs a value`);
    if (given.has(word)) throw new PodnetError("usage", `'${word}' is given twice`);
    given.set(word, value);
  }
  const gw = given.get("gw");
  if (gw === undefined) {
    throw new PodnetError("usage", "give the host's address: route add SUBNET gw PUBLIC-IP [vtep MAC]");
  }
  ipv4Flag(gw, "gw");
  const vtep = given.get("vtep");
  if (vtep === undefined) return { gw };
  if (vtep === "none") return { gw, vtep: false };
  try {
    return { gw, vtep: macFlag(vtep) };
  } catch (err) {
    if (!isPodnetError(err, "usage")) throw err;
    throw new PodnetError("usage", `vtep "${vtep}" is not a MAC address like c6:d2:32:6f:8f:44`);
  }
}

/** `podnet route add SUBNET gw PUBLIC-IP [vtep MAC]`: a reservation, flannel's value, never expiring. */
export function addCommand(): Command {
  return new Command("add")
    .description(
      "reserve SUBNET for the host PUBLIC-IP (a lease with no TTL); vxlan: 'vtep MAC' writes its VtepMAC",
    )
    .argument("<subnet>", "the subnet, like 10.5.7.0/24 or 10.5.7.0-24")
    .argument("<words...>", "gw PUBLIC-IP [vtep MAC|none]")
    .action(
      withContext(async (ctx, text: string, words: string[]) => {
        const subnet = subnetArg(text);
        const { gw, vtep } = routeAddWords(words);
        const attrsFor = leaseAttrsFrom({ publicIp: gw, ...(typeof vtep === "string" && { vtepMac: vtep }) });
        const { resolved, network } = await loadNetwork(ctx);
        const backend = resolved.Backend;
        if (typeof vtep === "string" && backend.Type !== "vxlan") {
          throw new PodnetError(
            "usage",
            `'vtep' is for vxlan networks; this network's backend is ${backend.Type}, so give only 'gw'`,
          );
        }
        if (!leaseFits(network, subnet)) {
          throw new PodnetError(
            "failed",
            `${subnetText(subnet)} is not one of the network's subnets (${rangeText(resolved)}); nothing was written`,
          );
        }
        const attrs = attrsFor(backend);
        const registry = await openRegistry(ctx);
        const lease = await registry.reserve(subnet, attrs, {
          allowIncomplete: vtep === false,
          incompleteHint:
            "add 'vtep MAC' (the host's flannel.<VNI> MAC), or 'vtep none' to reserve it without one",
        });
        const views = await viewsOf(registry, [lease]);
        const routes = routeEntries(views, backend.Type === "vxlan" ? backend.VNI : undefined);
        const note =
          backend.Type === "vxlan" && vtep === false
            ? "\n(no VtepMAC yet: the host writes its own when it takes the reservation)"
            : "";
        await ctx.print({
          data: routes.map(routeData),
          human: () =>
            `reserved ${subnetText(lease.subnet)} for ${gw}: ${lease.key} (no TTL, never expires)${note}\n\n` +
            formatRoutes(routes, true),
          rows: () => routes.map(routeSimpleRow),
        });
        return undefined;
      }),
    );
}

function rangeText(r: ResolvedConfig): string {
  const parts: string[] = [];
  if (r.Network !== undefined) {
    parts.push(`/${r.SubnetLen} subnets of ${r.Network} from ${r.SubnetMin} to ${r.SubnetMax}`);
  }
  if (r.IPv6Network !== undefined) parts.push(`/${r.IPv6SubnetLen} subnets of ${r.IPv6Network}`);
  return parts.join(" and ");
}
