import { createTwoFilesPatch } from "diff";
import type { Palette } from "./colour.js";

/** A unified diff of two texts, coloured when the palette is; empty when they are equal. */
export function unifiedDiff(
  oldName: string,
  oldText: string,
  newName: string,
  newText: string,
  colours: Palette,
): string {
  if (oldText === newText) return "";
  const patch = createTwoFilesPatch(
    oldName,
    newName,
    ensureNewline(oldText),
    ensureNewline(newText),
    "",
    "",
    {
      context: 3,
    },
  );
  return patch
    .split("\n")
    .filter((line) => !line.startsWith("===") && line !== "\\ No newline at end of file")
    .map((line) => {
      if (line.startsWith("--- ") || line.startsWith("+++ ")) return line.trimEnd(); // no empty header tab
      if (line.startsWith("+")) return colours.green(line);
      if (line.startsWith("-")) return colours.red(line);
      if (line.startsWith("@@")) return colours.dim(line);
      return line;
    })
    .join("\n")
    .trimEnd();
}

function ensureNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : `${text}\n`;
}
