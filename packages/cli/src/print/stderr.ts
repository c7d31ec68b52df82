/**
 * The CLI's other lines on stderr: errors, prompts, the agent's log and the debug stack. With
 * warn.ts, the only place besides stdout's printers where the CLI writes to the terminal.
 */

/** `podnet: <message>` on stderr: an error or a plain remark. */
export function errorLine(message: string): void {
  process.stderr.write(`podnet: ${message}\n`);
}

/** Text on stderr as it is (a prompt, a block of diagnostics, a stack trace). */
export function stderrText(text: string): void {
  process.stderr.write(text);
}

/** One timestamped line of a long-running command's log: `<ISO time> podnet <who>: <line>`. */
export function logLine(who: string, line: string): void {
  process.stderr.write(`${new Date().toISOString()} podnet ${who}: ${line}\n`);
}
