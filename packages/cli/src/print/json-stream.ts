/**
 * JSON text in pieces, so a listing of 65,000 rows is written as it is produced: compact (one
 * line, like `etcdctl -w json`: no whitespace, no re-indenting of each element) or indented by
 * two spaces (`JSON.stringify(value, null, 2)`, for people). A {@link LazyArray} at the top, or
 * as a value of a plain top-level object, is written element by element; anything else in one piece.
 */
import { safeJson } from "./bounded.js";
import type { ByteSink } from "./byte-sink.js";
import { isPlainObject, LazyArray } from "./output.js";

/** A piece of output written straight into the output's bytes, yielding between rows (see LazyArray.compact). */
export interface BytePart {
  readonly write: (out: ByteSink) => Iterable<unknown>;
}

/** How {@link jsonChunks} writes. */
export interface JsonStyle {
  /** Indent by two spaces; else compact. */
  readonly pretty: boolean;
}

/**
 * The JSON text of `value` in pieces (without a final newline), some written straight into the
 * output's bytes; written in order, it parses to `value`.
 */
export function* jsonChunks(value: unknown, style: JsonStyle): Generator<string | BytePart> {
  yield* style.pretty ? prettyChunks(value, "") : compactChunks(value);
}

function* compactChunks(value: unknown): Generator<string | BytePart> {
  if (value instanceof LazyArray) {
    const { compact } = value;
    if (compact !== undefined) {
      yield { write: compact };
      return;
    }
    let first = true;
    for (const text of mapIter(value.each(), (item) => safeJson(item))) {
      yield first ? `[${text}` : `,${text}`;
      first = false;
    }
    yield first ? "[]" : "]";
    return;
  }
  if (hasLazyArray(value)) {
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      if (!serialisable(v)) continue;
      yield `${first ? "{" : ","}${safeJson(k)}:`;
      yield* compactChunks(v);
      first = false;
    }
    yield first ? "{}" : "}";
    return;
  }
  yield safeJson(value);
}

function* prettyChunks(value: unknown, pad: string): Generator<string> {
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
  if (hasLazyArray(value)) {
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      if (!serialisable(v)) continue;
      yield `${first ? "{\n" : ",\n"}${inner}${safeJson(k)}: `;
      yield* prettyChunks(v, inner);
      first = false;
    }
    yield first ? "{}" : `\n${pad}}`;
    return;
  }
  yield indent(safeJson(value, 2), pad);
}

/** LazyArray.compact of elements given as their JSON texts: the array, element by element, yielding after each. */
export function* writeJsonArray(texts: Iterable<string>, out: ByteSink): Generator<undefined> {
  let sep = "[";
  for (const text of texts) {
    out.text(sep + text);
    sep = ",";
    if (out.blocked) yield;
  }
  out.text(sep === "[" ? "[]" : "]");
}

/** Characters JSON.stringify writes as they are inside a string (no quote, backslash, control or surrogate). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the ones JSON escapes.
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** JSON.stringify(text) for a string, without its per-call cost for the plain ASCII ones listings are made of. */
export function jsonString(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

const repeated = new Map<string, string>();

/** jsonString of a string that recurs row after row (a device, a BackendType), remembered for the first few hundred. */
export function jsonRepeated(text: string): string {
  let json = repeated.get(text);
  if (json === undefined) {
    json = jsonString(text);
    if (repeated.size < 256) repeated.set(text, json);
  }
  return json;
}

/** JSON.stringify of a number, or null for null and undefined (a missing value as the machine forms write it). */
export function jsonNumber(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "null" : String(n);
}

function* mapIter<A, B>(items: Iterable<A>, fn: (a: A) => B): Generator<B> {
  for (const a of items) yield fn(a);
}

function hasLazyArray(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.values(value).some((v) => v instanceof LazyArray);
}

/** What JSON.stringify writes as an object member (it leaves out undefined, functions, symbols). */
function serialisable(v: unknown): boolean {
  return v !== undefined && typeof v !== "function" && typeof v !== "symbol";
}

/** JSON text nested at `pad`: every line after the first indented (JSON strings hold no newlines). */
function indent(text: string, pad: string): string {
  return pad === "" ? text : text.replaceAll("\n", `\n${pad}`);
}
