/** Aligns rows into columns under an upper-case header, like `route -n` and `ip` do. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h) => h.length);
  for (const r of rows) widen(widths, r);
  return [alignedLine(head, widths), ...rows.map((r) => alignedLine(r, widths))].join("\n");
}

/** Widens `widths` to fit each cell of a row (cells beyond the header's count are not aligned). */
export function widen(widths: number[], cells: readonly string[]): void {
  const n = Math.min(widths.length, cells.length);
  for (let i = 0; i < n; i++) {
    const len = (cells[i] ?? "").length;
    if (len > (widths[i] ?? 0)) widths[i] = len;
  }
}

/** One row of a table: each cell but the last padded to its column's width, two spaces apart, no trailing blanks. */
export function alignedLine(cells: readonly string[], widths: readonly number[]): string {
  let out = "";
  const last = cells.length - 1;
  for (let i = 0; i < last; i++) out += `${(cells[i] ?? "").padEnd(widths[i] ?? 0)}  `;
  if (last < 0) return out;
  const end = cells[last] ?? "";
  out += end;
  // Only a last cell that is empty or ends in a blank can leave blanks at the end.
  const c = end.charCodeAt(end.length - 1);
  return c > 32 && c < 127 ? out : out.trimEnd();
}

/** `Key: value` lines with the values aligned. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n");
}

/**
 * `table` line by line without holding its rows: `rows` is called twice, once for the column
 * widths and once to print, so a table of 65,000 rows holds one row at a time (the rows must
 * come out the same both times).
 */
export function* tableLines(
  head: readonly string[],
  rows: () => Iterable<readonly string[]>,
): Generator<string> {
  const widths = head.map((h) => h.length);
  for (const r of rows()) widen(widths, r);
  yield alignedLine(head, widths);
  for (const r of rows()) yield alignedLine(r, widths);
}
