/**
 * `pnpm bench [name ...]`: runs the benchmarks, each beside its baseline measured in the same
 * run, prints a table of ratios and writes bench/results/latest.json. Not part of the tests.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { acquireBench } from "./acquire.js";
import { agentBench } from "./agent.js";
import { growthBench } from "./growth.js";
import { listBench } from "./list.js";
import type { Figure } from "./measure.js";
import { startupBench } from "./startup.js";
import { viewsBench } from "./views.js";

const benches: Record<string, () => Promise<Figure[]> | Figure[]> = {
  startup: () => startupBench(),
  acquire: () => acquireBench(),
  growth: () => growthBench(),
  list: () => listBench(),
  agent: () => agentBench(),
  views: () => viewsBench(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = wanted.filter((w) => !(w in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benches).join(", ")}`);
  process.exit(2);
}
const figures: Figure[] = [];
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stderr.write(`bench: ${name} ...\n`);
  const got = await run();
  figures.push(...got);
  for (const f of got) process.stderr.write(`  ${line(f)}\n`);
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
function line(f: Figure): string {
  return `${f.what}: ${fmt(f.podnet)} ${f.unit} vs ${f.baselineName} ${fmt(f.baseline)} ${f.unit} = ${f.ratio.toFixed(2)}x (aim ${f.aim})${f.note ? `; ${f.note}` : ""}`;
}

console.log("| benchmark | podnet | baseline | ratio | aim |");
console.log("|---|---|---|---|---|");
for (const f of figures) {
  console.log(
    `| ${f.what} | ${fmt(f.podnet)} ${f.unit} | ${f.baselineName}: ${fmt(f.baseline)} ${f.unit} | ${f.ratio.toFixed(2)}x | ${f.aim} |`,
  );
}
const dir = fileURLToPath(new URL("../../../results/", import.meta.url));
await mkdir(dir, { recursive: true });
await writeFile(
  `${dir}latest.json`,
  `${JSON.stringify({ date: new Date().toISOString(), figures }, null, 2)}\n`,
);
process.exit(0);
