/** Diagnostics: what the validator found, where (a JSON pointer), and how bad it is. */

/** An error stops flannel (or podnet's stricter rules); a warning is worth reading but not fatal. */
export type Severity = "error" | "warning";

/** One finding of the validator. */
export interface Diagnostic {
  severity: Severity;
  /** JSON pointer to the offending value, e.g. "/Backend/VNI"; "" for the whole document. */
  path: string;
  /** One sentence for a human. */
  message: string;
  /** 1-based line of `path` in the source text (only from validateConfigText). */
  line?: number;
  /** 1-based column of `path` in the source text (only from validateConfigText). */
  column?: number;
}

/** An error diagnostic at `path`. */
export function error(path: string, message: string): Diagnostic {
  return { severity: "error", path, message };
}

/** A warning diagnostic at `path`. */
export function warning(path: string, message: string): Diagnostic {
  return { severity: "warning", path, message };
}

/** Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901). */
export function childPointer(parent: string, token: string | number): string {
  return `${parent}/${String(token).replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

/** Describes a value for a message without ever throwing (it may be anything). */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case "number":
    case "bigint":
      return `the number ${String(value)}`;
    case "boolean":
      return String(value);
    case "undefined":
      return "nothing";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? "an array" : "an object";
    default:
      return `a ${typeof value}`;
  }
}

/** Turns zod issues on a flat object into diagnostics; `at` maps a field name to its pointer. */
export function issueDiagnostics(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  at: (field: string) => string,
): Diagnostic[] {
  return issues.map((issue) => {
    const field = issue.path[0];
    if (typeof field !== "string") return error("", issue.message);
    return error(at(field), `${field} ${issue.message}`);
  });
}
