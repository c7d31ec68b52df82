/** Aligns rows into columns under an upper-case header, like `route -n` and `ip` do. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  // No spread of the rows into Math.max: 65,000 arguments overflow the stack on some engines.
  const widths = head.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? "").length), h.length));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** `Key: value` lines with the values aligned. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n");
}

/**
 * `table` line by line over rows made twice (once for the widths, once to print), so that a
 * table of 65,000 rows is never held as rows or as one string.
 */
export function* tableLines(
  head: readonly string[],
  rows: () => Iterable<readonly string[]>,
): Generator<string> {
  const widths = head.map((h) => h.length);
  for (const r of rows()) {
    for (let i = 0; i < widths.length; i++) {
      const len = (r[i] ?? "").length;
      if (len > (widths[i] ?? 0)) widths[i] = len;
    }
  }
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  yield line(head);
  for (const r of rows()) yield line(r);
}
