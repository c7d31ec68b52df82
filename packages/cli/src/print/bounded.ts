/**
 * Output of stored values of any depth: JSON.stringify and yaml recurse, so a lease or config
 * nested 100,000 deep in etcd would end the command with "Maximum call stack size exceeded".
 * Such a value is printed cut at MAX_PRINT_DEPTH, the cut marked, with one warning; values of
 * normal depth are serialised as they are, at no extra cost.
 */
import { warn } from "./warn.js";

/** How deep a printed value goes before the rest is replaced by the marker. */
export const MAX_PRINT_DEPTH = 100;

/** What stands in for the part of a value below MAX_PRINT_DEPTH. */
export const DEPTH_MARKER = `<nested deeper than ${MAX_PRINT_DEPTH} levels: not shown>`;

/** A copy of `value` (after toJSON, as JSON.stringify sees it) cut at `maxDepth`. Never recurses. */
export function bounded(value: unknown, maxDepth = MAX_PRINT_DEPTH): unknown {
  const plain = (v: unknown): unknown =>
    typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function"
      ? (v as { toJSON(): unknown }).toJSON()
      : v;
  const start = plain(value);
  if (typeof start !== "object" || start === null) return start;
  const root: Record<string, unknown> | unknown[] = Array.isArray(start) ? [] : {};
  const stack: [object, Record<string, unknown> | unknown[], number][] = [[start, root, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [from, to, depth] = top;
    for (const [key, raw] of Object.entries(from)) {
      const v = plain(raw);
      let out: unknown = v;
      if (typeof v === "object" && v !== null) {
        if (depth >= maxDepth) out = DEPTH_MARKER;
        else {
          out = Array.isArray(v) ? [] : {};
          stack.push([v, out as Record<string, unknown>, depth + 1]);
        }
      }
      if (Array.isArray(to)) to[Number(key)] = out;
      else to[key] = out;
    }
  }
  return root;
}

function tooDeep(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

function cut(value: unknown): unknown {
  warn(
    `a stored value is nested too deep to print whole; it is cut at ${MAX_PRINT_DEPTH} levels and marked "${DEPTH_MARKER}" (the value is damaged: no flannel value is that deep)`,
  );
  return bounded(value);
}

/** JSON.stringify(value, null, indent), cutting a value too deep for it (see bounded). */
export function safeJson(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent) ?? "null";
  } catch (err) {
    if (!tooDeep(err)) throw err;
    return JSON.stringify(cut(value), null, indent) ?? "null";
  }
}

/** `serialise(value)`, cutting a value too deep for it (see bounded). */
export function safeSerialise(value: unknown, serialise: (v: unknown) => string): string {
  try {
    return serialise(value);
  } catch (err) {
    if (!tooDeep(err)) throw err;
    return serialise(cut(value));
  }
}
