/** ANSI colour, applied only when the output is a terminal and NO_COLOR is unset. */
export interface Palette {
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const wrap = (code: number, reset: number) => (text: string) => `\u001b[${code}m${text}\u001b[${reset}m`;
const plain = (text: string) => text;

/** The palette for an output that does or does not take colour. */
export function palette(enabled: boolean): Palette {
  if (!enabled) return { red: plain, yellow: plain, green: plain, dim: plain, bold: plain };
  return {
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}
