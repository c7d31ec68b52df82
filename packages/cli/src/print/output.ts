import { PodnetError } from "@podnet/ipam-core";
import { safeJson, safeSerialise } from "./bounded.js";

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

/** Renders a result in the chosen format, as one string. */
export async function render(result: Result, format: OutputFormat): Promise<string> {
  let out = "";
  await emit(result, format, (chunk) => {
    out += chunk;
  });
  return out;
}

/** Prints a result on stdout, in chunks of about 64 kB. */
export async function print(result: Result, format: OutputFormat): Promise<void> {
  let pending = "";
  const flush = async () => {
    if (pending === "") return;
    const chunk = pending;
    pending = "";
    if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once("drain", r));
  };
  await emit(result, format, async (chunk) => {
    pending += chunk;
    if (pending.length >= 65_536) await flush();
  });
  await flush();
}

async function emit(
  result: Result,
  format: OutputFormat,
  write: (chunk: string) => void | Promise<void>,
): Promise<void> {
  switch (format) {
    case "json":
      for (const chunk of jsonChunks(result.data, "")) await write(chunk);
      await write("\n");
      return;
    case "yaml": {
      const { toYaml } = await import("./yaml.js");
      await write(safeSerialise(materialised(result.data), toYaml));
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

/**
 * `JSON.stringify(value, null, 2)` in pieces: a LazyArray (at the top or as a value of a plain
 * top-level object) is written element by element; everything else in one piece.
 */
function* jsonChunks(value: unknown, pad: string): Generator<string> {
  const inner = `${pad}  `;
  if (value instanceof LazyArray) {
    let first = true;
    for (const item of value.each()) {
      const text = safeJson(item, 2);
      yield `${first ? "[\n" : ",\n"}${inner}${indent(text, inner)}`;
      first = false;
    }
    yield first ? "[]" : `\n${pad}]`;
    return;
  }
  if (isPlainObject(value) && Object.values(value).some((v) => v instanceof LazyArray)) {
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      yield `${first ? "{\n" : ",\n"}${inner}${safeJson(k)}: `;
      yield* jsonChunks(v, inner);
      first = false;
    }
    yield first ? "{}" : `\n${pad}}`;
    return;
  }
  yield indent(safeJson(value, 2), pad);
}

/** The data with its LazyArrays (at the top or one level down) made plain arrays. */
function materialised(value: unknown): unknown {
  if (value instanceof LazyArray) return value.toJSON();
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = v instanceof LazyArray ? v.toJSON() : v;
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON text nested at `pad`: every line after the first indented (JSON strings hold no newlines). */
function indent(text: string, pad: string): string {
  return pad === "" ? text : text.replaceAll("\n", `\n${pad}`);
}

function withNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}
