import { fields } from "./table.js";

/** The resolved config as aligned `Field: value` lines; the backend on one line. */
export function formatResolved(resolved: Readonly<Record<string, unknown>>): string {
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(resolved)) {
    if (value === undefined || value === null) continue;
    if (typeof value === "object") {
      const { Type, ...rest } = value as Record<string, unknown>;
      const settings = Object.entries(rest)
        .filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      pairs.push([key, settings === "" ? String(Type) : `${String(Type)} ${settings}`]);
    } else {
      pairs.push([key, String(value)]);
    }
  }
  return fields(pairs);
}
