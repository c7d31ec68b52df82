import type { ConfigImpact } from "@podnet/netcfg";
import { describe, expect, it } from "vitest";
import { palette } from "./colour.js";
import { formatImpact } from "./impact.js";

const plain = palette(false);

describe("formatImpact", () => {
  it("names each orphaned lease by subnet and PublicIP and each data-plane change", () => {
    const impact: ConfigImpact = {
      hosts: 3,
      unchanged: 0,
      orphaned: [
        {
          key: "k",
          subnet: "10.5.200.0/24",
          publicIP: "192.0.2.50",
          reservation: true,
          reason: "outside-range",
        },
      ],
      dataPlane: [{ setting: "Backend.VNI", from: 1, to: 2 }],
      disruptive: true,
    };
    expect(formatImpact(impact, plain).split("\n")).toEqual([
      "impact: 3 hosts hold leases; 0 keep working unchanged; 1 orphaned",
      "  orphaned reservation 10.5.200.0/24 (PublicIP 192.0.2.50): outside the new range",
      "  data plane: Backend.VNI 1 -> 2: running hosts disagree until each restarts",
    ]);
  });

  it("says so when nobody is disrupted", () => {
    const impact: ConfigImpact = { hosts: 0, unchanged: 0, orphaned: [], dataPlane: [], disruptive: false };
    expect(formatImpact(impact, plain)).toContain("no running host is disrupted");
  });
});
