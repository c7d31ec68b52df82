/**
 * Warnings on stderr: the one place the CLI writes a warning line. After the first
 * {@link WARNING_LIMIT} lines the rest are counted and summarised at exit, unless
 * `--verbose` asked for all of them.
 */

/** How many warning lines are printed before the rest are only counted. */
export const WARNING_LIMIT = 20;

let verbose = false;
let printed = 0;
let held = 0;

/** Prints every warning from now on (`--verbose`). */
export function setVerboseWarnings(on: boolean): void {
  verbose = on;
}

/** Writes `podnet: warning: <message>` on stderr (counted, not printed, past the limit). */
export function warn(message: string): void {
  if (!verbose && printed >= WARNING_LIMIT) {
    held++;
    return;
  }
  printed++;
  process.stderr.write(`podnet: warning: ${message}\n`);
}

/** Writes a plain note line on stderr (progress remarks that are not warnings). */
export function note(message: string): void {
  process.stderr.write(`podnet: ${message}\n`);
}

/** The summary of the warnings that were held back, if any; prints it once. */
export function flushWarnings(): void {
  if (held === 0) return;
  process.stderr.write(
    `podnet: warning: ${held} more warning${held === 1 ? "" : "s"} not shown; --verbose shows them all\n`,
  );
  held = 0;
}
