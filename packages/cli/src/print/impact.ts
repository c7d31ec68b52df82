import type { ConfigImpact, OrphanReason } from "@podnet/netcfg";
import type { Palette } from "./colour.js";

const REASONS: Readonly<Record<OrphanReason, string>> = {
  "outside-range": "outside the new range",
  "wrong-length": "has the wrong length for the new SubnetLen",
  "wrong-family": "does not match the new address families",
};

/** The impact of a config change as lines for a human: orphaned leases, data-plane changes, the tally. */
export function formatImpact(impact: ConfigImpact, colours: Palette): string {
  const lines: string[] = [];
  const { hosts, unchanged, orphaned, dataPlane } = impact;
  lines.push(
    `impact: ${hosts} host${hosts === 1 ? "" : "s"} hold leases; ${unchanged} keep working unchanged` +
      (orphaned.length > 0 ? `; ${orphaned.length} orphaned` : ""),
  );
  for (const o of orphaned) {
    const what = o.reservation ? "reservation" : "lease";
    lines.push(colours.red(`  orphaned ${what} ${o.subnet} (PublicIP ${o.publicIP}): ${REASONS[o.reason]}`));
  }
  for (const c of dataPlane) {
    const change = `  data plane: ${c.setting} ${show(c.from)} -> ${show(c.to)}`;
    lines.push(
      hosts === 0
        ? `${change} (no host runs the old one)`
        : colours.red(`${change}: running hosts disagree until each restarts`),
    );
  }
  if (!impact.disruptive) lines.push(colours.green("  no running host is disrupted"));
  return lines.join("\n");
}

/** The refusal line of a disruptive change written without --allow-disruption. */
export function refusalLine(dryRun: boolean): string {
  return dryRun
    ? "dry run: this change disrupts running hosts and would be refused without --allow-disruption; nothing was written"
    : "refused: this change disrupts running hosts (see the impact above); nothing was written; pass --allow-disruption to write it anyway";
}

function show(v: string | number | boolean | null): string {
  return v === null ? "(unset)" : String(v);
}
