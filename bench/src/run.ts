/**
 * `pnpm bench [name ...]`: runs the benchmarks, each podnet command paired run by run with its
 * baseline (A B A B ..., one warm-up pair, then PODNET_BENCH_PAIRS >= 7 pairs), prints a table
 * of the median pair-by-pair ratio and its spread, with the machine's load before and after each
 * benchmark, and writes bench/results/latest.json. PODNET_BENCH_QUICK=1: fewer keys and pairs.
 * Not part of the tests; nothing here asserts a timing.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { acquireBench } from "./acquire.js";
import { agentBench } from "./agent.js";
import { growthBench } from "./growth.js";
import { listBench } from "./list.js";
import { type Figure, machineLoad, PAIRS, QUICK } from "./measure.js";
import { startupBench } from "./startup.js";
import { viewsBench } from "./views.js";

const benches: Record<string, () => Promise<Figure[]> | Figure[]> = {
  startup: () => startupBench(),
  acquire: () => acquireBench(),
  growth: () => growthBench(),
  list: () => listBench(),
  views: () => viewsBench(),
  agent: () => agentBench(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = wanted.filter((w) => !(w in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benches).join(", ")}`);
  process.exit(2);
}

interface Load {
  readonly bench: string;
  readonly before: number;
  readonly after: number;
  readonly nproc: number;
  readonly seconds: number;
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return "-";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
const x = (n: number): string => (Number.isNaN(n) ? "-" : `${n.toFixed(2)}x`);
function spread(f: Figure): string {
  if (f.pairs === 0) return "(not paired)";
  return `${x(f.ratioMin)}–${x(f.ratioMax)} (IQR ${f.ratioQ1.toFixed(2)}–${f.ratioQ3.toFixed(2)})`;
}
function line(f: Figure): string {
  return `${f.what}: ${x(f.ratio)} [${spread(f)}] over ${f.pairs} pairs; podnet ${fmt(f.podnet)} ${f.unit}, ${f.baselineName} ${fmt(f.baseline)} ${f.unit} (aim ${f.aim})${f.note ? `; ${f.note}` : ""}`;
}

const figures: Figure[] = [];
const loads: Load[] = [];
const start = machineLoad();
process.stderr.write(
  `bench: ${start.nproc} cores, load ${start.load1.toFixed(2)}; ${PAIRS} pairs after a warm-up pair${QUICK ? " (quick mode)" : ""}\n`,
);
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const before = machineLoad();
  const t0 = Date.now();
  process.stderr.write(`bench: ${name} (load ${before.load1.toFixed(2)} on ${before.nproc} cores) ...\n`);
  const got = await run();
  const after = machineLoad();
  loads.push({
    bench: name,
    before: before.load1,
    after: after.load1,
    nproc: before.nproc,
    seconds: (Date.now() - t0) / 1000,
  });
  process.stderr.write(
    `bench: ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s (load ${after.load1.toFixed(2)})\n`,
  );
  figures.push(...got);
  for (const f of got) process.stderr.write(`  ${line(f)}\n`);
}

const date = new Date().toISOString();
console.log(
  `Run ${date}, ${start.nproc} cores${QUICK ? ", quick mode" : ""}; 1-minute load average before/after each benchmark:`,
);
for (const l of loads)
  console.log(`- ${l.bench}: ${l.before.toFixed(2)} / ${l.after.toFixed(2)} (${l.seconds.toFixed(0)} s)`);
console.log("");
console.log(
  "| benchmark | ratio (median of pairs) | spread: min–max (IQR) | pairs | podnet | baseline | aim |",
);
console.log("|---|---|---|---|---|---|---|");
for (const f of figures) {
  console.log(
    `| ${f.what} | ${x(f.ratio)} | ${spread(f)} | ${f.pairs} | ${fmt(f.podnet)} ${f.unit} | ${f.baselineName}: ${fmt(f.baseline)} ${f.unit} | ${f.aim} |`,
  );
}
const dir = fileURLToPath(new URL("../../../results/", import.meta.url));
await mkdir(dir, { recursive: true });
await writeFile(
  `${dir}latest.json`,
  `${JSON.stringify({ date, quick: QUICK, pairs: PAIRS, loads, figures }, null, 2)}\n`,
);
process.exit(0);
