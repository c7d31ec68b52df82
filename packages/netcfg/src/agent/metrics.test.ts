import { describe, expect, it } from "vitest";
import { AGENT_METRICS, AgentMetrics } from "./metrics.js";

describe("AgentMetrics", () => {
  it("renders every metric with HELP and TYPE, unlabelled ones at zero until set", async () => {
    const text = await new AgentMetrics().render();
    for (const [name, spec] of Object.entries(AGENT_METRICS)) {
      expect(text).toContain(`# HELP ${name} ${spec.help}\n# TYPE ${name} ${spec.type}\n`);
      if (!("labels" in spec)) expect(text).toMatch(new RegExp(`^${name} 0$`, "m"));
    }
  });

  it("sets gauges, per family where labelled, and adds to counters", async () => {
    const m = new AgentMetrics();
    m.set("podnet_leases", 3);
    m.set("podnet_leases", 2);
    m.set("podnet_peers_programmed", 4, 4);
    m.set("podnet_peers_programmed", 5, 6);
    m.inc("podnet_reconcile_errors_total");
    m.inc("podnet_kernel_changes_total", 5);
    m.inc("podnet_kernel_changes_total", 2);
    const text = await m.render();
    expect(text).toMatch(/^podnet_leases 2$/m);
    expect(text).toMatch(/^podnet_peers_programmed\{family="4"\} 4$/m);
    expect(text).toMatch(/^podnet_peers_programmed\{family="6"\} 5$/m);
    expect(text).toMatch(/^podnet_reconcile_errors_total 1$/m);
    expect(text).toMatch(/^podnet_kernel_changes_total 7$/m);
  });

  it("follows Prometheus naming: _total only on counters, every counter ends in _total", () => {
    for (const [name, spec] of Object.entries(AGENT_METRICS)) {
      expect(name.endsWith("_total"), name).toBe(spec.type === "counter");
    }
  });

  it("adds the standard process metrics only when asked", async () => {
    expect(await new AgentMetrics().render()).not.toContain("process_resident_memory_bytes");
    const text = await new AgentMetrics({ processMetrics: true }).render();
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
    expect(text).toContain("process_start_time_seconds");
  });
});
