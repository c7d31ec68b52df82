/**
 * Case-insensitive key matching, as Go's encoding/json does it for flannel: every key of an
 * object is matched to a known field ignoring case; the last of several spellings wins.
 * Unlike flannel, podnet reports keys it does not know, with a "did you mean" when one is close.
 */
import { childPointer, type Diagnostic, warning } from "./diagnostic.js";

/** The known fields found in an object, by canonical name, plus what was odd about its keys. */
export interface MatchedKeys {
  /** Canonical field name → value (the last spelling wins, as in Go). */
  readonly values: Map<string, unknown>;
  /** Canonical field name → the key as written in the document (for JSON pointers). */
  readonly spelling: Map<string, string>;
  readonly warnings: Diagnostic[];
}

/** Where an unknown key belongs instead, by lower-cased key, e.g. "vni" → "it belongs inside Backend". */
export type Elsewhere = ReadonlyMap<string, string>;

/**
 * Matches the own keys of `obj` (at JSON pointer `path`) against `known`, case-insensitively.
 * `elsewhere` names keys that are real fields of another object, for a better hint.
 */
export function matchKeys(
  obj: object,
  known: readonly string[],
  path: string,
  elsewhere: Elsewhere = new Map(),
): MatchedKeys {
  const byLower = new Map(known.map((k) => [k.toLowerCase(), k]));
  const values = new Map<string, unknown>();
  const spelling = new Map<string, string>();
  const warnings: Diagnostic[] = [];
  for (const key of Object.keys(obj)) {
    const value: unknown = Reflect.get(obj, key);
    const canonical = byLower.get(key.toLowerCase());
    if (canonical === undefined) {
      warnings.push(warning(childPointer(path, key), unknownKeyMessage(key, known, elsewhere)));
      continue;
    }
    const earlier = spelling.get(canonical);
    if (earlier !== undefined) {
      warnings.push(
        warning(
          childPointer(path, key),
          `${JSON.stringify(earlier)} and ${JSON.stringify(key)} both set ${canonical}; flannel uses the last one (${JSON.stringify(key)})`,
        ),
      );
    }
    values.set(canonical, value);
    spelling.set(canonical, key);
  }
  return { values, spelling, warnings };
}

function unknownKeyMessage(key: string, known: readonly string[], elsewhere: Elsewhere): string {
  const base = `unknown key ${JSON.stringify(key)} is ignored by flannel`;
  const where = elsewhere.get(key.toLowerCase());
  if (where !== undefined) return `${base}; ${where}`;
  const suggestion = closestKey(key, known);
  return suggestion === undefined ? base : `${base}; did you mean \`${suggestion}\`?`;
}

/** The known key closest to `key` (case ignored) within edit distance 2, if any. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    // A distance as long as the key itself means nothing in common ("ab" vs "VNI").
    if (d < bestDistance && d < Math.max(lower.length, 2)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}
