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
 * JSON.stringify and yaml see a plain array (toJSON). `compact`, when given, yields each
 * element's text exactly as JSON.stringify writes it, made without the element's object: the
 * compact `-o json` of a big listing writes that instead of stringifying 65,000 objects.
 */
export class LazyArray<T> {
  constructor(
    readonly length: number,
    readonly each: () => Iterable<T>,
    readonly compact?: () => Iterable<string>,
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
      return undefined;
    },
    pretty,
  );
  return out;
}

/** A write of output: undefined when it was taken, a promise when the caller must wait for it. */
type Write = (chunk: string) => Promise<void> | undefined;

/** Output is handed to stdout in buffers of this many bytes: big enough for few writes, small enough to stay out of V8's large-object space. */
const BUFFER_BYTES = 64 * 1024;
/** Chunks are joined into a string of about this many characters before it is encoded (fewer, bigger encodes). */
const JOIN_CHARS = 16 * 1024;

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
  let buf = Buffer.allocUnsafe(BUFFER_BYTES);
  let used = 0;
  let pending = "";
  const send = (chunk: Uint8Array | string): Promise<void> | undefined =>
    process.stdout.write(chunk) ? undefined : new Promise<void>((r) => process.stdout.once("drain", r));
  const flush = (): Promise<void> | undefined => {
    if (used === 0) return undefined;
    const full = buf.subarray(0, used);
    // The stream may keep the buffer until it is written: never reuse it.
    buf = Buffer.allocUnsafe(BUFFER_BYTES);
    used = 0;
    return send(full);
  };
  /** Encodes what is pending into the buffer (a UTF-16 code unit is at most 3 bytes of UTF-8). */
  const encode = (): Promise<void> | undefined => {
    const text = pending;
    pending = "";
    if (used + 3 * text.length <= buf.length) {
      used += buf.write(text, used, "utf8");
      return undefined;
    }
    const wait = flush();
    if (3 * text.length > buf.length) return wait === undefined ? send(text) : wait.then(() => send(text));
    used = buf.write(text, 0, "utf8");
    return wait;
  };
  await emit(
    result,
    format,
    (chunk) => {
      pending += chunk;
      return pending.length >= JOIN_CHARS ? encode() : undefined;
    },
    pretty,
  );
  await encode();
  await flush();
}

/** Writes every chunk, waiting only when a write asks to. */
async function writeAll(chunks: Iterable<string>, write: Write, end = ""): Promise<void> {
  for (const chunk of chunks) {
    const wait = write(chunk + end);
    if (wait !== undefined) await wait;
  }
}

async function emit(result: Result, format: OutputFormat, write: Write, pretty: boolean): Promise<void> {
  switch (format) {
    case "json":
      await writeAll(jsonChunks(result.data, { pretty }), write);
      await write("\n");
      return;
    case "yaml": {
      const { yamlChunks } = await import("./yaml.js");
      await writeAll(yamlChunks(result.data), write);
      return;
    }
    case "simple": {
      if (result.rows) {
        await writeAll(
          mapRows(result.rows(), (row) => row.join("\t")),
          write,
          "\n",
        );
        return;
      }
      await write(withNewline(result.human()));
      return;
    }
    default:
      if (result.humanLines) {
        await writeAll(result.humanLines(), write, "\n");
        return;
      }
      await write(withNewline(result.human()));
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
