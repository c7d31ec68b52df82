import { PodnetError } from "@podnet/ipam-core";
import { ByteSink } from "./byte-sink.js";
import { type BytePart, jsonChunks } from "./json-stream.js";

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
 * `humanLines`, when given, is the table view line by line (printed as it is produced; a
 * part written into bytes brings its own newlines).
 */
export interface Result {
  readonly data: unknown;
  readonly human: () => string;
  readonly humanLines?: () => Iterable<string | BytePart>;
  readonly rows?: () => Iterable<readonly string[]>;
}

/**
 * An array of `data` built element by element as it is printed: `-o json` writes each element
 * as it is made, so 65,000 routes never exist as objects (or as one string) all at once.
 * JSON.stringify and yaml see a plain array (toJSON). `compact`, when given, writes the whole
 * array's compact JSON text exactly as JSON.stringify writes it, into the output's bytes and
 * without the elements' objects, yielding after each element (so the printer can wait for a
 * slow reader): the compact `-o json` of a big listing writes that instead of stringifying
 * 65,000 objects.
 */
export class LazyArray<T> {
  constructor(
    readonly length: number,
    readonly each: () => Iterable<T>,
    readonly compact?: (out: ByteSink) => Iterable<unknown>,
  ) {}
  toJSON(): T[] {
    return [...this.each()];
  }
}

/** Renders a result in the chosen format, as one string (JSON indented unless `pretty` is false). */
export async function render(result: Result, format: OutputFormat, pretty = true): Promise<string> {
  const parts: Buffer[] = [];
  const out = new ByteSink((chunk) => {
    parts.push(Buffer.from(chunk));
    return undefined;
  });
  await emit(result, format, out, pretty);
  out.end();
  return Buffer.concat(parts).toString("utf8");
}

/**
 * Prints a result on stdout in writes of 64 kB, encoded into a buffer as it is made (no big
 * strings to build and flatten), waiting whenever stdout asks to (a slow pipe); JSON compact
 * (as etcdctl writes it) unless `pretty`, by default whether stdout is a terminal. A reader
 * that goes away ends the command through stdout's error handler (bin.ts).
 */
export async function print(
  result: Result,
  format: OutputFormat,
  pretty = process.stdout.isTTY === true,
): Promise<void> {
  const out = new ByteSink(
    (chunk) =>
      process.stdout.write(chunk) ? undefined : new Promise<void>((r) => process.stdout.once("drain", r)),
    // Written through at once: stdout keeps no reference to the chunk (see Writable's writableLength).
    () => process.stdout.writableLength === 0,
  );
  await emit(result, format, out, pretty);
  out.end();
  await out.wait();
}

/** Writes every chunk (text, or a part that writes bytes row by row), waiting whenever the output asks to. */
async function writeAll(chunks: Iterable<string | BytePart>, out: ByteSink, end = ""): Promise<void> {
  for (const chunk of chunks) {
    if (typeof chunk === "string") out.text(chunk + end);
    else {
      for (const _ of chunk.write(out)) {
        const wait = out.wait();
        if (wait !== undefined) await wait;
      }
    }
    const wait = out.wait();
    if (wait !== undefined) await wait;
  }
}

async function emit(result: Result, format: OutputFormat, out: ByteSink, pretty: boolean): Promise<void> {
  switch (format) {
    case "json":
      await writeAll(jsonChunks(result.data, { pretty }), out);
      out.text("\n");
      return;
    case "yaml": {
      const { yamlChunks } = await import("./yaml.js");
      await writeAll(yamlChunks(result.data), out);
      return;
    }
    case "simple": {
      if (result.rows) {
        await writeAll(
          mapRows(result.rows(), (row) => row.join("\t")),
          out,
          "\n",
        );
        return;
      }
      out.text(withNewline(result.human()));
      return;
    }
    default:
      if (result.humanLines) {
        await writeAll(result.humanLines(), out, "\n");
        return;
      }
      out.text(withNewline(result.human()));
  }
}

function* mapRows<A>(items: Iterable<A>, fn: (a: A) => string): Generator<string> {
  for (const a of items) yield fn(a);
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
