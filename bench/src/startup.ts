/** Start-up: `podnet --version` and `podnet config validate`, each paired with bare `node -e ''`. */
import { fileURLToPath } from "node:url";
import { alternate, type Figure, figure, pairedOf, timeCommand } from "./measure.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const podnet = `${root}packages/cli/bundle/podnet.js`;

export async function startupBench(): Promise<Figure[]> {
  const node = process.execPath;
  const bare = (): number => timeCommand([node, "-e", ""]);
  const out: Figure[] = [];
  for (const [what, argv] of [
    ["podnet --version", [node, podnet, "--version"]],
    [
      "podnet config validate examples/network.json",
      [node, podnet, "config", "validate", `${root}examples/network.json`],
    ],
  ] as const) {
    const got = await alternate(() => timeCommand(argv), bare);
    out.push(
      figure({
        bench: "startup",
        what,
        paired: pairedOf(got.podnet, got.baseline),
        baselineName: "node -e ''",
        unit: "ms",
        aim: "<= 2x",
      }),
    );
  }
  return out;
}
