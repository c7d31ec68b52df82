// The API reference: typedoc over both libraries in its fail-on-warnings mode, so an
// exported symbol without TSDoc (or a broken {@link}) fails the suite.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify, stripVTControlCharacters } from "node:util";
import { REPO_ROOT } from "@podnet/test-harness/cli";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
// netcfg's conversion reads @podnet/ipam-core's declarations from its build.
const built = existsSync(join(REPO_ROOT, "packages", "ipam-core", "dist", "index.d.ts"));

describe.skipIf(!built)("the API reference (pnpm run docs)", () => {
  it("documents every exported symbol of both libraries: typedoc --treatWarningsAsErrors passes", async () => {
    const typedoc = join(REPO_ROOT, "node_modules", "typedoc", "bin", "typedoc");
    const result = await run(process.execPath, [typedoc, "--treatWarningsAsErrors", "--emit", "none"], {
      cwd: REPO_ROOT,
      maxBuffer: 16 << 20,
    }).then(
      () => ({ failed: false, output: "" }),
      (err: { stdout?: string; stderr?: string }) => ({
        failed: true,
        // Only the findings, without typedoc's colours.
        output: stripVTControlCharacters(`${err.stdout ?? ""}${err.stderr ?? ""}`)
          .split("\n")
          .filter((l) => /^\[(warning|error)\]/.test(l))
          .join("\n"),
      }),
    );
    expect(result.output).toBe("");
    expect(result.failed).toBe(false);
  }, 180_000);
});
