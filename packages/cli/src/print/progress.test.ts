import { describe, expect, it } from "vitest";
import { progress } from "./progress.js";

/** A stand-in for process.stderr that records what is written. */
function stream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const s = {
    isTTY,
    columns: 80,
    written: "",
    write(chunk: string) {
      s.written += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WriteStream & { written: string };
}

describe("progress", () => {
  it("draws one rewritten line on a terminal and clears it when done", () => {
    const tty = stream(true);
    const p = progress("reading leases", tty);
    p.update(5000);
    expect(tty.written).toContain("\rreading leases 5000");
    p.update(10, 10);
    expect(tty.written).toContain("10/10 (100%)");
    p.done();
    const after = tty.written.length;
    p.update(20000);
    expect(tty.written.length).toBe(after);
  });

  it("writes nothing when the stream is not a terminal", () => {
    const pipe = stream(false);
    const p = progress("reading leases", pipe);
    p.update(5000);
    p.done();
    expect(pipe.written).toBe("");
  });
});
