import { describe, expect, it } from "vitest";
import { checkPrefix } from "./keys.js";

describe("checkPrefix", () => {
  it("keeps an absolute prefix and drops trailing and doubled slashes", () => {
    expect(checkPrefix("/coreos.com/network")).toBe("/coreos.com/network");
    expect(checkPrefix("/coreos.com/network/")).toBe("/coreos.com/network");
    expect(checkPrefix(" //a//b/ ")).toBe("/a/b");
  });

  it("refuses an empty, relative or root prefix, naming the flag", () => {
    expect(() => checkPrefix("")).toThrow(/^--prefix is empty/);
    expect(() => checkPrefix("rs9")).toThrow(/^--prefix "rs9" must be absolute/);
    expect(() => checkPrefix("/", "--etcd-prefix")).toThrow(
      /^--etcd-prefix "\/" must name a directory below \//,
    );
  });
});
