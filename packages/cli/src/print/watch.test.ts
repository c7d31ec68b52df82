import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { palette } from "./colour.js";
import { errorRateLimiter, renderWatchLine, type WatchLine } from "./watch.js";
import { toYaml } from "./yaml.js";

const line: WatchLine = {
  time: "2026-11-23T18:00:00Z",
  type: "removed",
  subnet: "10.5.52.0/24",
  key: "/coreos.com/network/subnets/10.5.52.0-24",
  publicIP: "192.0.2.7",
  backendType: "vxlan",
  vtepMAC: "c6:d2:32:6f:8f:44",
  revision: 9,
  expired: true,
};
const plain = palette(false);

describe("watch lines", () => {
  it("one JSON object per line; one ---separated YAML document; tab-separated fields; a human line", () => {
    expect(JSON.parse(renderWatchLine(line, "json", plain))).toEqual(line);
    const yaml = renderWatchLine(line, "yaml", plain, toYaml);
    expect(yaml.startsWith("---\n")).toBe(true);
    expect(parse(yaml.slice(4))).toEqual(line);
    expect(renderWatchLine(line, "simple", plain)).toBe(
      "2026-11-23T18:00:00Z\tremoved\t10.5.52.0/24\t192.0.2.7\tvxlan\tc6:d2:32:6f:8f:44\t9\ttrue\t/coreos.com/network/subnets/10.5.52.0-24\n",
    );
    expect(renderWatchLine(line, "table", plain)).toBe(
      "2026-11-23T18:00:00Z removed 10.5.52.0/24 192.0.2.7 vxlan c6:d2:32:6f:8f:44 (expired)\n",
    );
    expect(() => renderWatchLine(line, "yaml", plain)).toThrow(/needs the yaml serialiser/);
  });

  it("retry errors: one per interval, then a count of those held back", () => {
    let t = 0;
    const limiter = errorRateLimiter(5000, () => t);
    expect(limiter.line("down")).toBe("down");
    t = 1000;
    expect(limiter.line("down")).toBeUndefined();
    expect(limiter.line("down")).toBeUndefined();
    t = 6000;
    expect(limiter.line("down")).toBe("down (2 similar errors not shown)");
  });
});
