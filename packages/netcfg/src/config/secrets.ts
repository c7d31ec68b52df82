/**
 * The one redaction rule: a config field is secret when its backend's schema marks it so
 * (schema.ts: the ipsec and wireguard PSK). Every command that shows a config, a config's
 * text or a diff of two passes it through here first; the names match case-insensitively,
 * as flanneld reads them, and wherever they occur.
 */
import * as z from "zod";
import { BACKEND_SCHEMAS } from "./schema.js";

/** What a secret prints as. */
export const REDACTED = "<redacted>";

/** The lower-cased names of the fields any backend schema marks secret. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(
  Object.values(BACKEND_SCHEMAS).flatMap((schema) =>
    Object.entries(schema.shape as Record<string, z.ZodType>)
      .filter(([, field]) => z.globalRegistry.get(field)?.["secret"] === true)
      .map(([name]) => name.toLowerCase()),
  ),
);

/** Whether a field of that name holds a secret (any case). */
export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name.toLowerCase());
}

/**
 * A copy of a config document (as parsed or as resolved) with every secret value replaced by
 * REDACTED; the input is not changed. Walks with its own stack: any depth is safe.
 */
export function redactConfig<T>(doc: T): T {
  if (typeof doc !== "object" || doc === null) return doc;
  const root: unknown = Array.isArray(doc) ? [] : {};
  const stack: [unknown, Record<string, unknown> | unknown[]][] = [[doc, root as Record<string, unknown>]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [from, to] = top;
    for (const [key, value] of Object.entries(from as object)) {
      let out: unknown = value;
      if (!Array.isArray(from) && isSecretField(key) && value !== null && value !== undefined) out = REDACTED;
      else if (typeof value === "object" && value !== null) {
        out = Array.isArray(value) ? [] : {};
        stack.push([value, out as Record<string, unknown>]);
      }
      if (Array.isArray(to)) to[Number(key)] = out;
      else to[key] = out;
    }
  }
  return root as T;
}

/** How a secret's value is written in redacted text; `mark(value)` gives the replacement. */
export type SecretMark = (value: string) => string;

/**
 * Marks that tell secrets apart without showing them, for a diff: the same value gets the same
 * `<redacted N>` in both texts, so a changed key shows as a changed line.
 */
export function distinctSecretMarks(): SecretMark {
  const seen = new Map<string, number>();
  return (value) => {
    let n = seen.get(value);
    if (n === undefined) {
      n = seen.size + 1;
      seen.set(value, n);
    }
    return `<redacted ${n}>`;
  };
}

const KEY_COLON = /\s*:\s*/y;
const SCALAR = /[^\s,}\]]+/y;

/**
 * The end (just past the closing quote) of the JSON string starting at `i`, or -1 when it is
 * not closed on its line. A loop, not a regular expression: a regex over a string of many
 * megabytes overflows V8's backtracking stack.
 */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 92 /* \\ */) j++;
    else if (c === 34 /* " */) return j + 1;
    else if (c === 10 /* \n */) return -1;
  }
  return -1;
}

/**
 * A config text with the value of every secret field replaced, everything else byte for byte
 * (so it still reads, and diffs, as the stored text). Works on text that is not valid JSON too:
 * it looks for `"<secret name>": <value>` wherever it occurs.
 */
export function redactConfigText(text: string, mark: SecretMark = () => REDACTED): string {
  let out = "";
  let last = 0;
  let i = text.indexOf('"');
  while (i >= 0 && i < text.length) {
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) {
      i = text.indexOf('"', i + 1);
      continue;
    }
    let next = keyEnd;
    KEY_COLON.lastIndex = next;
    const colon = KEY_COLON.exec(text);
    if (colon !== null && isSecretField(decode(text.slice(i, keyEnd)))) {
      const at = KEY_COLON.lastIndex;
      SCALAR.lastIndex = at;
      const valueEnd = text[at] === '"' ? stringEnd(text, at) : (SCALAR.exec(text)?.[0].length ?? -1) + at;
      const value = valueEnd > at ? text.slice(at, valueEnd) : null;
      if (value !== null && value !== "null") {
        const end = valueEnd;
        out += `${text.slice(last, at)}${JSON.stringify(mark(decode(value)))}`;
        last = end;
        next = end;
      }
    }
    i = text.indexOf('"', next);
  }
  return out + text.slice(last);
}

/** A JSON string token's value; the token itself when it does not decode. */
function decode(token: string): string {
  try {
    const v: unknown = JSON.parse(token);
    return typeof v === "string" ? v : token;
  } catch {
    return token;
  }
}
