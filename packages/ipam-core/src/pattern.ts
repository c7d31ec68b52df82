/**
 * Regular expressions admins type (flanneld's `--iface-regex`): compiled as given (unanchored,
 * as flanneld's RE2 patterns are), or refused with one line naming the pattern and its source.
 */
import { PodnetError } from "./errors.js";

/** Compiles `pattern`; a bad one is a `usage` error naming `source` (a flag or a variable). */
export function compilePattern(pattern: string, source: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    // Node says "Invalid regular expression: /PATTERN/: WHY"; the pattern is named already.
    const why = err instanceof Error ? err.message.slice(err.message.lastIndexOf(": ") + 2) : String(err);
    throw new PodnetError("usage", `${source} "${pattern}" is not a valid regular expression (${why})`);
  }
}
