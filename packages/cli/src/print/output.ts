import { PodnetError } from "@podnet/ipam-core";
import { jsonChunks } from "./json-stream.js";

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
 * `humanLines`, when given, is the table view line by line (printed as it is produced).
 */
export interface Result {
  readonly data: unknown;
  readonly human: () => string;
  readonly humanLines?: () => Iterable<string>;
  readonly rows?: () => Iterable<readonly string[]>;
}

/**
 * An array of `data` built element by element as it is printed: `-o json` writes each element
 * as it is made, so 65,000 routes never exist as objects (or as one string) all at once.
 * JSON.stringify and yaml see a plain array (toJSON).
 */
export class LazyArray<T> {
  constructor(
    readonly length: number,
    readonly each: () => Iterable<T>,
  ) {}
  toJSON(): T[] {
    return [...this.each()];
  }
}

/** Renders a result in the chosen format, as one string (JSON indented unless `pretty` is false). */
export async function render(result: Result, format: OutputFormat, pretty = true): Promise<string> {
  let out = "";
  await emit(
    result,
    format,
    (chunk) => {
      out += chunk;
    },
    pretty,
  );
  return out;
}

/**
 * Prints a result on stdout, in chunks of about 64 kB; JSON compact (as etcdctl writes it)
 * unless `pretty`, by default whether stdout is a terminal.
 */
export async function print(
  result: Result,
  format: OutputFormat,
  pretty = process.stdout.isTTY === true,
): Promise<void> {
  let pending = "";
  const flush = async () => {
    if (pending === "") return;
    const chunk = pending;
    pending = "";
    if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once("drain", r));
  };
  await emit(
    result,
    format,
    async (chunk) => {
      pending += chunk;
      if (pending.length >= 65_536) await flush();
    },
    pretty,
  );
  await flush();
}

async function emit(
  result: Result,
  format: OutputFormat,
  write: (chunk: string) => void | Promise<void>,
  pretty: boolean,
): Promise<void> {
  switch (format) {
    case "json":
      for (const chunk of jsonChunks(result.data, { pretty })) await write(chunk);
      await write("\n");
      return;
    case "yaml": {
      const { yamlChunks } = await import("./yaml.js");
      for (const chunk of yamlChunks(result.data)) await write(chunk);
      return;
    }
    case "simple": {
      if (result.rows) {
        for (const row of result.rows()) await write(`${row.join("\t")}\n`);
        return;
      }
      await write(withNewline(result.human()));
      return;
    }
    default:
      if (result.humanLines) {
        for (const line of result.humanLines()) await write(`${line}\n`);
        return;
      }
      await write(withNewline(result.human()));
  }
}

/** Whether `value` is an object literal (not an array, class instance or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function withNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}
