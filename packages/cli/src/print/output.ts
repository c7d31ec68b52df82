import { PodnetError } from "@podnet/ipam-core";

/** The output formats every command offers (etcdctl's -w plus yaml). */
export const OUTPUT_FORMATS = ["table", "json", "yaml", "simple"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Parses -o/--output; a usage error names the formats. */
export function parseOutputFormat(text: string): OutputFormat {
  const format = text.toLowerCase();
  if ((OUTPUT_FORMATS as readonly string[]).includes(format)) return format as OutputFormat;
  throw new PodnetError("usage", `unknown output format "${text}"; use one of ${OUTPUT_FORMATS.join(", ")}`);
}

/**
 * What a command hands to the printer: one value, shown in every format. `data` is the
 * stable machine form (json, yaml); `human` the table view; `rows` the tab-separated one.
 */
export interface Result {
  readonly data: unknown;
  readonly human: () => string;
  readonly rows?: () => readonly (readonly string[])[];
}

/** Renders a result in the chosen format. */
export async function render(result: Result, format: OutputFormat): Promise<string> {
  switch (format) {
    case "json":
      return `${JSON.stringify(result.data, null, 2)}\n`;
    case "yaml": {
      const { stringify } = await import("yaml");
      return stringify(result.data);
    }
    case "simple": {
      const rows = result.rows ? result.rows() : undefined;
      if (!rows) return withNewline(result.human());
      return rows.map((row) => `${row.join("\t")}\n`).join("");
    }
    default:
      return withNewline(result.human());
  }
}

/** Prints a result on stdout. */
export async function print(result: Result, format: OutputFormat): Promise<void> {
  process.stdout.write(await render(result, format));
}

function withNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}
