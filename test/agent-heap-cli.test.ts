/**
 * The agent's heap sizing starts as the program starts, when "agent" is one of its arguments
 * (packages/cli/src/agent-heap-start.ts), and is put back once commander finds another command:
 * on the shipped bundle, such a command line runs as it always did, with nothing on stderr.
 */
import { runPodnet } from "@podnet/test-harness/cli";
import { describe, expect, it } from "vitest";

describe("a command line with the word agent", () => {
  it("that is not the agent's runs as before: --version, and a usage error naming the value", async () => {
    const v = await runPodnet(["--prefix", "agent", "--version"]);
    expect(v).toMatchObject({ code: 0, stderr: "" });
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bad = await runPodnet(["--prefix", "agent", "no-such-command"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("no-such-command");
    expect(bad.stderr).not.toMatch(/flag|v8-options/i);
  });

  it("that is the agent's: its help, with no word from V8 on stderr", async () => {
    const r = await runPodnet(["agent", "--help"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toContain("Usage: podnet agent");
  });
});
