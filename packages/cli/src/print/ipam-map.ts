/**
 * The address space as a picture: `ipam show --map` draws one character per cell on the
 * terminal (coloured only when colours are on), or writes the same grid as an SVG file.
 */
import type { AddressMap, CellState } from "@podnet/ipam-core";
import type { Palette } from "./colour.js";

/** Cells per row, on the terminal and in the SVG. */
export const MAP_COLUMNS = 64;

/** The character of each cell state (the legend of the plain map and of `-o json`). */
export const CELL_CHARS: Record<CellState, string> = {
  free: ".",
  leased: "#",
  reserved: "R",
  expiring: "e",
  partial: "+",
  problem: "!",
};

const LEGEND: Record<CellState, string> = {
  free: "free",
  leased: "leased",
  reserved: "reserved",
  expiring: "expiring within 1h",
  partial: "block partly used",
  problem: "problem (damaged, overlapping or wrong length)",
};

const SVG_COLOURS: Record<CellState, string> = {
  free: "#e5e7eb",
  leased: "#16a34a",
  reserved: "#2563eb",
  expiring: "#f59e0b",
  partial: "#86efac",
  problem: "#dc2626",
};

/** The machine form of one family's map: rows of cell characters, keyed by CELL_CHARS. */
export function mapData(map: AddressMap) {
  const counts: Record<CellState, number> = {
    free: 0,
    leased: 0,
    reserved: 0,
    expiring: 0,
    partial: 0,
    problem: 0,
  };
  for (const c of map.cells) counts[c.state]++;
  return {
    family: map.family,
    network: map.network,
    subnetLen: map.subnetLen,
    subnets: map.family === 4 ? Number(map.subnets) : map.subnets.toString(),
    subnetsPerCell: map.family === 4 ? Number(map.blockSize) : map.blockSize.toString(),
    columns: MAP_COLUMNS,
    cellCounts: counts,
    rows: rowsOf(map).map((row) => ({
      start: row[0]?.start ?? "",
      cells: row.map((c) => CELL_CHARS[c.state]).join(""),
    })),
  };
}

/** The legend of `-o json`: character to state. */
export function mapLegend(): Record<string, CellState> {
  return Object.fromEntries(Object.entries(CELL_CHARS).map(([state, ch]) => [ch, state as CellState]));
}

/** What one cell stands for, e.g. "one cell per /24 subnet" or "one cell per 32 /24 subnets (a /19)". */
export function cellText(map: AddressMap): string {
  if (map.blockSize === 1n) return `one cell per /${map.subnetLen} subnet`;
  return `one cell per ${map.blockSize} /${map.subnetLen} subnets`;
}

/** The map on the terminal: a heading, rows labelled with their first address, a legend. */
export function formatMap(
  map: AddressMap,
  colours: { enabled: boolean; palette: Palette },
  foreign = 0,
): string {
  const paint = paintFor(colours);
  const rows = rowsOf(map);
  const width = Math.max(0, ...rows.map((r) => (r[0]?.start ?? "").length));
  const lines = [
    `IPv${map.family} ${map.network}: ${map.subnets} /${map.subnetLen} subnets, ${cellText(map)}, ${MAP_COLUMNS} per row`,
  ];
  for (const row of rows) {
    lines.push(
      `${(row[0]?.start ?? "").padEnd(width)}  ${row.map((c) => paint(c.state, CELL_CHARS[c.state])).join("")}`,
    );
  }
  const shown = (Object.keys(CELL_CHARS) as CellState[]).filter((s) => s !== "partial" || map.blockSize > 1n);
  lines.push("", `legend: ${shown.map((s) => `${paint(s, CELL_CHARS[s])} ${LEGEND[s]}`).join("  ")}`);
  if (foreign > 0) {
    const keys =
      foreign === 1 ? "1 foreign key under subnets/ has" : `${foreign} foreign keys under subnets/ have`;
    lines.push(`${keys} no place on the map (see 'podnet ipam check')`);
  }
  return lines.join("\n");
}

function paintFor(colours: {
  enabled: boolean;
  palette: Palette;
}): (state: CellState, text: string) => string {
  if (!colours.enabled) return (_s, text) => text;
  const p = colours.palette;
  const by: Record<CellState, (t: string) => string> = {
    free: p.dim,
    leased: p.green,
    reserved: p.bold,
    expiring: p.yellow,
    partial: p.green,
    problem: p.red,
  };
  return (state, text) => by[state](text);
}

/** The maps of each family as one SVG document: a title naming the network, the grid, a legend. */
export function mapSvg(maps: readonly AddressMap[], title: string): string {
  const cell = 10;
  const gap = 2;
  const pitch = cell + gap;
  const labelWidth = Math.max(
    80,
    ...maps.flatMap((m) => rowsOf(m).map((r) => (r[0]?.start.length ?? 0) * 7 + 10)),
  );
  const width = labelWidth + MAP_COLUMNS * pitch + 20;
  const out: string[] = [];
  let y = 30;
  const body: string[] = [];
  body.push(`<text x="10" y="20" class="title">${esc(title)}</text>`);
  for (const map of maps) {
    y += 10;
    body.push(
      `<text x="10" y="${y}" class="heading">${esc(`IPv${map.family} ${map.network}: ${map.subnets} /${map.subnetLen} subnets, ${cellText(map)}`)}</text>`,
    );
    y += 8;
    body.push(`<g class="grid" data-family="${map.family}" data-network="${esc(map.network)}">`);
    for (const row of rowsOf(map)) {
      body.push(`<text x="10" y="${y + cell - 1}" class="label">${esc(row[0]?.start ?? "")}</text>`);
      row.forEach((c, i) => {
        body.push(
          `<rect x="${labelWidth + i * pitch}" y="${y}" width="${cell}" height="${cell}" fill="${SVG_COLOURS[c.state]}" data-state="${c.state}"><title>${esc(`${c.start}: ${c.state}`)}</title></rect>`,
        );
      });
      y += pitch;
    }
    body.push("</g>");
  }
  y += 14;
  body.push('<g class="legend">');
  let x = 10;
  for (const state of Object.keys(CELL_CHARS) as CellState[]) {
    body.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${SVG_COLOURS[state]}"/>`);
    body.push(`<text x="${x + cell + 4}" y="${y + cell - 1}" class="label">${esc(LEGEND[state])}</text>`);
    x += cell + 12 + LEGEND[state].length * 6;
  }
  body.push("</g>");
  const height = y + 30;
  const fullWidth = Math.max(width, x + 10);
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fullWidth}" height="${height}" viewBox="0 0 ${fullWidth} ${height}">`,
  );
  out.push(`<title>${esc(title)}</title>`);
  out.push(
    "<style>text{font-family:monospace;fill:#111827}.title{font-size:14px;font-weight:bold}.heading{font-size:12px}.label{font-size:10px}</style>",
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(...body, "</svg>", "");
  return out.join("\n");
}

function rowsOf(map: AddressMap): AddressMap["cells"][] {
  const rows: AddressMap["cells"][] = [];
  for (let i = 0; i < map.cells.length; i += MAP_COLUMNS) rows.push(map.cells.slice(i, i + MAP_COLUMNS));
  return rows;
}

function esc(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
