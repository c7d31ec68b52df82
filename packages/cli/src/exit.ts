import { type ErrorCode, isPodnetError } from "@podnet/ipam-core";
import { errorLine, stderrText } from "./print/stderr.js";

/** podnet's exit statuses (DESIGN.md): the one place codes become numbers. */
export const EXIT = { ok: 0, failed: 1, usage: 2, invalid: 3 } as const;

/** The exit status for an error code. */
export function exitStatusFor(code: ErrorCode): number {
  switch (code) {
    case "usage":
      return EXIT.usage;
    case "invalid":
      return EXIT.invalid;
    default:
      return EXIT.failed;
  }
}

/** Prints an error as one line on stderr and returns the exit status; never a stack trace. */
export function reportError(err: unknown): number {
  if (isPodnetError(err)) {
    errorLine(err.message);
    return exitStatusFor(err.code);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (damagedInstall(err)) {
    errorLine(message);
    return EXIT.failed;
  }
  errorLine(`unexpected failure: ${message.split("\n")[0]}`);
  if (process.env["PODNET_DEBUG"] && err instanceof Error) stderrText(`${err.stack}\n`);
  return EXIT.failed;
}

/** Whether ERR is the bundle loader's "a chunk of podnet cannot be loaded" (scripts/bundle-loader.cjs), its message a whole sentence. */
function damagedInstall(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === "ERR_PODNET_DAMAGED_INSTALL";
}
