import { describe, expect, it } from "vitest";
import { ByteSink, sinkText } from "./byte-sink.js";

describe("ByteSink", () => {
  it("writes numbers, addresses and JSON strings as their texts", () => {
    const numbers = [0, 7, 9, 10, 99, 100, 255, 65_535, 86_399, 2 ** 32, 2 ** 53 - 1];
    const text = sinkText((out) => {
      for (const n of numbers) {
        out.room(40);
        out.uint(n);
        out.ascii(" ");
        out.jsonNumber(-n - 1);
        out.ascii(" ");
      }
      out.room(64);
      for (const n of [null, undefined, Number.NaN, 1.5]) out.jsonNumber(n);
      for (const ip of [0, 0x0a050700, 0xffffffff, 0xc0000201]) {
        out.room(16);
        out.ipv4(ip);
        out.ascii(",");
      }
      for (const s of ["plain", 'quo"te', "back\\slash", "grüße", "\u0001", "\ud800", ""]) out.jsonString(s);
    });
    const expected =
      numbers.map((n) => `${n} ${-n - 1} `).join("") +
      "nullnullnull1.5" +
      "0.0.0.0,10.5.7.0,255.255.255.255,192.0.2.1," +
      ["plain", 'quo"te', "back\\slash", "grüße", "\u0001", "\ud800", ""]
        .map((s) => JSON.stringify(s))
        .join("");
    expect(text).toBe(expected);
  });

  it("hands on full buffers in order, text and bytes mixed, and asks the writer to wait when the reader does", async () => {
    const got: Buffer[] = [];
    // The reader takes each chunk when the writer next waits (as stdout's drain would).
    let pending: (() => void)[] = [];
    const release = () => {
      for (const r of pending) r();
      pending = [];
    };
    let waits = 0;
    const out = new ByteSink((chunk) => {
      got.push(Buffer.from(chunk));
      waits++;
      return new Promise<void>((r) => pending.push(r));
    });
    const expected: string[] = [];
    for (let k = 0; k < 20_000; k++) {
      const line = `row ${k} ${"x".repeat(k % 50)}\n`;
      if (k % 3 === 0) out.text(line);
      else {
        out.room(line.length);
        out.ascii(line);
      }
      expected.push(line);
      const wait = out.wait();
      if (wait !== undefined) {
        release();
        await wait;
      }
    }
    // Text longer than a whole buffer goes on as it is.
    const big = "é".repeat(40_000);
    out.text(big);
    expected.push(big);
    out.end();
    release();
    await out.wait();
    expect(waits).toBeGreaterThan(5);
    expect(Buffer.concat(got).toString("utf8")).toBe(expected.join(""));
  });

  it("fills a buffer again only when the reader let go of it, and says it is blocked while the reader waits", () => {
    for (const taken of [true, false]) {
      // The reader keeps the very chunks it was handed, as a pipe's queue does.
      const held: Uint8Array[] = [];
      const buffers = new Set<ArrayBufferLike>();
      const copies: string[] = [];
      const out = new ByteSink(
        (chunk) => {
          if (typeof chunk === "string") throw new Error("no text chunk expected");
          held.push(chunk);
          buffers.add(chunk.buffer);
          copies.push(Buffer.from(chunk).toString("latin1"));
          return undefined;
        },
        () => taken,
      );
      let expected = "";
      for (let k = 0; k < 30_000; k++) {
        const line = `lease ${k}\n`;
        out.room(line.length);
        out.ascii(line);
        expected += line;
        expect(out.blocked).toBe(false);
      }
      out.end();
      expect(copies.join("")).toBe(expected);
      if (taken) expect(buffers.size).toBe(1);
      else {
        // Not reused: every chunk the reader still holds is as it was handed on.
        expect(buffers.size).toBe(held.length);
        expect(held.map((c) => Buffer.from(c).toString("latin1")).join("")).toBe(expected);
      }
    }
    const waiting = new ByteSink(() => new Promise<void>(() => undefined));
    waiting.room(1 << 17);
    waiting.ascii("x".repeat(1 << 17));
    waiting.end();
    expect(waiting.blocked).toBe(true);
    expect(waiting.wait()).toBeInstanceOf(Promise);
    expect(waiting.blocked).toBe(false);
  });
});
