import { PodnetError } from "@podnet/ipam-core";
import { redactConfig, validateConfigText } from "@podnet/netcfg";
import { Command, Option } from "commander";
import { readInput, withContext } from "../../context.js";
import { EXIT } from "../../exit.js";
import { formatResolved } from "../../print/config.js";
import { diagnosticsData, formatDiagnostics } from "../../print/diagnostics.js";

interface ValidateFlags {
  nodes?: string;
  underlay: string[];
  strict?: boolean;
  target: "linux" | "windows";
}

/** `podnet config validate [FILE|-]`: offline; exit 0 valid, 3 invalid. */
export function validateCommand(): Command {
  return new Command("validate")
    .description("check a network config document offline (flannel's rules and podnet's stricter ones)")
    .argument("[file]", "the document; '-' or nothing reads stdin")
    .option("--nodes <n>", "fail when the subnet range holds fewer than N subnets")
    .option(
      "--underlay <cidr>",
      "a host/underlay network the pod network must not overlap (repeatable)",
      collect,
      [],
    )
    .option("--strict", "treat warnings as errors")
    .addOption(
      new Option("--target <os>", "the hosts' operating system")
        .choices(["linux", "windows"])
        .default("linux"),
    )
    .action(
      withContext(async (ctx, file: string | undefined, flags: ValidateFlags) => {
        let nodes: number | undefined;
        if (flags.nodes !== undefined) {
          nodes = Number(flags.nodes);
          if (!Number.isInteger(nodes) || nodes < 1) {
            throw new PodnetError("usage", `--nodes "${flags.nodes}" is not a positive whole number`);
          }
        }
        const input = await readInput(file);
        const shown = <T>(value: T): T => (ctx.globals.showSecrets ? value : redactConfig(value));
        const result = validateConfigText(input.text, {
          ...(nodes !== undefined ? { nodes } : {}),
          underlay: flags.underlay,
          target: flags.target,
        });
        const failed = !result.valid || (flags.strict === true && result.warnings.length > 0);
        await ctx.print({
          data: {
            valid: result.valid && !failed,
            errors: diagnosticsData(result.errors),
            warnings: diagnosticsData(result.warnings),
            ...(result.resolved !== undefined ? { resolved: shown(result.resolved) } : {}),
          },
          human: () => {
            const c = ctx.colours;
            const verdict = failed
              ? c.red(result.valid ? "invalid (warnings count as errors with --strict)" : "invalid")
              : c.green("valid");
            const counts = `${plural(result.errors.length, "error")}, ${plural(result.warnings.length, "warning")}`;
            const lines = [`${input.name}: ${verdict} (${counts})`];
            const diagnostics = formatDiagnostics([...result.errors, ...result.warnings], c);
            if (diagnostics !== "") lines.push(diagnostics);
            if (result.resolved !== undefined && !failed) {
              lines.push("", formatResolved(shown(result.resolved) as Record<string, unknown>));
            }
            return lines.join("\n");
          },
          rows: () => [
            ["valid", String(!failed)],
            ...[...result.errors, ...result.warnings].map((d) => [d.severity, d.path, d.message]),
          ],
        });
        return failed ? EXIT.invalid : EXIT.ok;
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
