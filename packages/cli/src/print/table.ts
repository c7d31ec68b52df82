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
 * `table` line by line over rows made once: each row is kept as one string (its cells joined)
 * with its cells' lengths until the column widths are known, so a table of 65,000 rows holds
 * 65,000 strings and a typed array, never the rows' arrays or what they were made from.
 */
export function* tableLines(
  head: readonly string[],
  rows: () => Iterable<readonly string[]>,
): Generator<string> {
  const widths = head.map((h) => h.length);
  const texts: string[] = [];
  /** Per row: its cell count, then each cell's length. */
  let cellLengths = new Uint32Array(16 * 1024);
  let used = 0;
  for (const r of rows()) {
    if (used + r.length + 1 > cellLengths.length) {
      const grown = new Uint32Array(Math.max(cellLengths.length * 2, used + r.length + 1));
      grown.set(cellLengths);
      cellLengths = grown;
    }
    cellLengths[used++] = r.length;
    for (let i = 0; i < r.length; i++) {
      const len = (r[i] ?? "").length;
      cellLengths[used++] = len;
      if (i < widths.length && len > (widths[i] ?? 0)) widths[i] = len;
    }
    texts.push(r.join(""));
  }
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  yield line(head);
  let at = 0;
  for (let k = 0; k < texts.length; k++) {
    const text = texts[k] ?? "";
    texts[k] = ""; // printed: let it go
    const count = cellLengths[at++] ?? 0;
    const cells: string[] = new Array(count);
    let from = 0;
    for (let i = 0; i < count; i++) {
      const len = cellLengths[at++] ?? 0;
      cells[i] = text.slice(from, from + len);
      from += len;
    }
    yield line(cells);
  }
}
