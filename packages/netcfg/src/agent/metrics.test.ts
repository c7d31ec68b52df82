import { describe, expect, it } from "vitest";
import { AGENT_METRICS, AgentMetrics } from "./metrics.js";

describe("AgentMetrics", () => {
  it("renders every metric with HELP and TYPE, zero until set", () => {
    const text = new AgentMetrics().render();
    for (const [name, spec] of Object.entries(AGENT_METRICS)) {
      expect(text).toContain(`# HELP ${name} ${spec.help}\n# TYPE ${name} ${spec.type}\n${name} 0\n`);
    }
    expect(text.endsWith("\n")).toBe(true);
  });

  it("sets gauges and adds to counters", () => {
    const m = new AgentMetrics();
    m.set("podnet_leases", 3);
    m.set("podnet_leases", 2);
    m.inc("podnet_reconcile_errors_total");
    m.inc("podnet_kernel_changes_total", 5);
    m.inc("podnet_kernel_changes_total", 2);
    const text = m.render();
    expect(text).toMatch(/^podnet_leases 2$/m);
    expect(text).toMatch(/^podnet_reconcile_errors_total 1$/m);
    expect(text).toMatch(/^podnet_kernel_changes_total 7$/m);
  });

  it("exports the metrics the agent promises", () => {
    expect(Object.keys(AGENT_METRICS)).toEqual(
      expect.arrayContaining([
        "podnet_leases",
        "podnet_peers_programmed",
        "podnet_reconcile_errors_total",
        "podnet_renew_failures_total",
        "podnet_subnets_total",
        "podnet_subnets_used",
      ]),
    );
  });
});
