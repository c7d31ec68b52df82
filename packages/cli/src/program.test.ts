import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { completionScript } from "./print/completion.js";
import { commandPath, EXAMPLES } from "./print/examples.js";
import { buildProgram } from "./program.js";

function leaves(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) =>
    c.commands.length === 0 || c.name() === "route" ? [c, ...leaves(c)] : leaves(c),
  );
}

const program = await buildProgram();

describe("the command tree", () => {
  it("every runnable command has examples in its help (ifconfig's come with its grammar)", () => {
    const missing = leaves(program)
      .map(commandPath)
      .filter((p) => p !== "ifconfig" && (EXAMPLES[p] ?? []).length === 0);
    expect(missing).toEqual([]);
    for (const path of Object.keys(EXAMPLES)) {
      expect(leaves(program).map(commandPath), `${path} is a command`).toContain(path);
    }
  });

  it("the completion scripts carry every command and every flag", () => {
    const bash = completionScript(program, "bash");
    const fish = completionScript(program, "fish");
    for (const cmd of leaves(program)) {
      expect(bash).toContain(`'${commandPath(cmd)}')`);
      for (const option of cmd.options.filter((o) => !o.hidden)) {
        if (option.long !== undefined) {
          expect(bash).toContain(option.long);
          expect(fish).toContain(`-l ${option.long.slice(2)}`);
        }
      }
    }
    expect(bash).toContain("-o) COMPREPLY=($(compgen -W 'table json yaml simple'");
  });
});
