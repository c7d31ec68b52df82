import type { Diagnostic } from "@podnet/netcfg";
import type { Palette } from "./colour.js";

/** One line per diagnostic: severity, JSON pointer, sentence. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], colours: Palette): string {
  return diagnostics
    .map((d) => {
      const label = d.severity === "error" ? colours.red("error") : colours.yellow("warning");
      const where = d.path === "" ? "" : `${colours.bold(d.path)}: `;
      return `${label}: ${where}${d.message}`;
    })
    .join("\n");
}

/** The machine form of diagnostics: path and message only, as `config validate -o json` documents. */
export function diagnosticsData(diagnostics: readonly Diagnostic[]): { path: string; message: string }[] {
  return diagnostics.map((d) => ({ path: d.path, message: d.message }));
}
