/**
 * Progress of a long operation, on one `\r`-rewritten line of stderr, only when stderr is a
 * terminal: scripts, pipes and logs never see it, and stdout stays clean for the result.
 */

/** A running progress line. */
export interface Progress {
  /** `n` steps done, of `total` when known. */
  update(n: number, total?: number): void;
  /** Clears the line; later updates are ignored. */
  done(): void;
}

/** How often the line is redrawn at most, so a tight loop does not flood the terminal. */
const REDRAW_MS = 80;

const SILENT: Progress = { update: () => undefined, done: () => undefined };

/** A progress line labelled `label` on `stream` (stderr); silent when it is not a TTY. */
export function progress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return SILENT;
  let drawn = false;
  let finished = false;
  let lastDraw = 0;
  return {
    update(n, total) {
      if (finished) return;
      const now = Date.now();
      const last = total !== undefined && n >= total;
      if (!last && drawn && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      drawn = true;
      const count =
        total === undefined || total <= 0
          ? `${n}`
          : `${n}/${total} (${Math.floor((Math.min(n, total) / total) * 100)}%)`;
      const width = Math.max(10, (stream.columns || 80) - 1);
      stream.write(`\r${`${label} ${count}`.slice(0, width)}\u001b[K`);
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write("\r\u001b[K");
    },
  };
}
