/** Start-up: `podnet --version` and `podnet config validate` against bare `node -e ''`. */
import { fileURLToPath } from "node:url";
import { type Figure, figure, interleaved } from "./measure.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const podnet = `${root}packages/cli/bundle/podnet.js`;

export function startupBench(rounds = 30): Figure[] {
  const node = process.execPath;
  const m = interleaved(
    {
      bare: [node, "-e", ""],
      version: [node, podnet, "--version"],
      validate: [node, podnet, "config", "validate", `${root}examples/network.json`],
    },
    rounds,
  );
  const base = m["bare"] ?? 1;
  return [
    figure({
      bench: "startup",
      what: "podnet --version",
      podnet: m["version"] ?? 0,
      baseline: base,
      baselineName: "node -e ''",
      unit: "ms",
      aim: "<= 2x",
    }),
    figure({
      bench: "startup",
      what: "podnet config validate examples/network.json",
      podnet: m["validate"] ?? 0,
      baseline: base,
      baselineName: "node -e ''",
      unit: "ms",
      aim: "<= 2x",
    }),
  ];
}
