import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

describe("warn", () => {
  let written: string[];
  beforeEach(() => {
    vi.resetModules();
    written = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("prints the first 20 warnings, then counts the rest and summarises them once", async () => {
    const { warn, flushWarnings, WARNING_LIMIT } = await import("./warn.js");
    for (let i = 1; i <= 23; i++) warn(`w${i}`);
    expect(written).toHaveLength(WARNING_LIMIT);
    expect(written[0]).toBe("podnet: warning: w1\n");
    flushWarnings();
    flushWarnings();
    expect(written.slice(WARNING_LIMIT)).toEqual([
      "podnet: warning: 3 more warnings not shown; --verbose shows them all\n",
    ]);
  });

  it("--verbose prints every one and has nothing to summarise", async () => {
    const { warn, flushWarnings, setVerboseWarnings } = await import("./warn.js");
    setVerboseWarnings(true);
    for (let i = 1; i <= 25; i++) warn(`w${i}`);
    flushWarnings();
    expect(written).toHaveLength(25);
  });
});
