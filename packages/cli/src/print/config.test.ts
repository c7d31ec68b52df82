import { describe, expect, it } from "vitest";
import { formatResolved } from "./config.js";

describe("formatResolved", () => {
  it("prints aligned fields, the backend on one line, and skips what is unset", () => {
    const text = formatResolved({
      Network: "10.5.0.0/16",
      SubnetLen: 24,
      IPv6Network: undefined,
      Backend: { Type: "vxlan", VNI: 1, Port: 4789, MTU: undefined, GBP: false },
    });
    expect(text.split("\n")).toEqual([
      "Network:   10.5.0.0/16",
      "SubnetLen: 24",
      "Backend:   vxlan VNI=1 Port=4789 GBP=false",
    ]);
  });
});
