import { describe, expect, it } from "vitest";
import { table, tableLines } from "./table.js";

describe("tableLines", () => {
  it("writes what table writes, line by line, from rows made twice and never held", () => {
    const head = ["A", "BEE", "C"];
    const rows = [
      ["x", "", "last"],
      ["longer cell", "b", ""],
      ["short row"],
      ["extra", "cells", "here", "and more"],
      ["ü-ñ", "tab\there", "z"],
    ];
    let made = 0;
    const lines = [
      ...tableLines(head, () => {
        made++;
        return rows;
      }),
    ];
    expect(lines.join("\n")).toBe(table(head, rows));
    expect(made).toBe(2);
  });
});
