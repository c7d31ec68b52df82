import { afterEach, describe, expect, it, vi } from "vitest";
import { AllEndpointsFailed, DeadlineError, EndpointPool, type PooledEndpoint } from "./endpoint-pool.js";

type Behaviour = "answer" | "silent" | "refuse" | "deny";

/** A pool over fake endpoints named a, b, c… whose behaviour the test sets; records every attempt. */
function fakePool(behaviours: Record<string, Behaviour>, callTimeoutMs = 300) {
  const tried: string[] = [];
  const pool = new EndpointPool(
    Object.keys(behaviours).map((url) => ({ url, client: url })),
    { callTimeoutMs, random: () => 0.5 },
  );
  const attempt = (e: PooledEndpoint<string>, _deadline: number): Promise<string> => {
    tried.push(e.url);
    switch (behaviours[e.url]) {
      case "answer":
        return Promise.resolve(`from ${e.url}`);
      case "refuse":
        return Promise.reject(new Error("14 UNAVAILABLE: connect ECONNREFUSED"));
      case "deny":
        return Promise.reject(new Error("etcdserver: permission denied"));
      default:
        return new Promise(() => undefined);
    }
  };
  const classify = (err: unknown) =>
    /permission/.test(String(err)) ? ("final" as const) : ("endpoint" as const);
  return { pool, tried, attempt, classify };
}

describe("EndpointPool", () => {
  it("a read passes a silent endpoint on to the next within the call's time, and sets it aside", async () => {
    const { pool, tried, attempt, classify } = fakePool({ a: "silent", b: "answer" });
    expect(await pool.run("read", attempt, classify)).toBe("from b");
    expect(tried).toEqual(["a", "b"]);
    expect(pool.endpoints.find((e) => e.url === "a")?.health).toBe("aside");
    expect(pool.endpoints.find((e) => e.url === "b")?.health).toBe("up");
    // The next call goes to the answering endpoint first and never waits for the aside one.
    tried.length = 0;
    expect(await pool.run("write", attempt, classify)).toBe("from b");
    expect(tried).toEqual(["b"]);
  });

  it("a write ends its attempt at its share of the time, then tries the next", async () => {
    const { pool, tried, attempt, classify } = fakePool({ a: "silent", b: "silent", c: "answer" });
    expect(await pool.run("write", attempt, classify)).toBe("from c");
    expect(tried).toEqual(["a", "b", "c"]);
  });

  it("a refused endpoint is passed at once; a refusal of the request itself ends the call", async () => {
    const refused = fakePool({ a: "refuse", b: "answer" });
    expect(await refused.pool.run("read", refused.attempt, refused.classify)).toBe("from b");
    const denied = fakePool({ a: "deny", b: "answer" });
    await expect(denied.pool.run("read", denied.attempt, denied.classify)).rejects.toThrow(
      /permission denied/,
    );
    expect(denied.tried).toEqual(["a"]);
    expect(denied.pool.endpoints.find((e) => e.url === "a")?.health).toBe("up");
  });

  it("fails with every endpoint's error when none answers, at the call's deadline at the latest", async () => {
    const { pool, attempt, classify } = fakePool({ a: "silent", b: "refuse" }, 100);
    const err = await pool.run("read", attempt, classify).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllEndpointsFailed);
    const errors = (err as AllEndpointsFailed).errors;
    expect(errors.some((e) => e instanceof DeadlineError)).toBe(true);
    expect(errors.some((e) => /ECONNREFUSED/.test(String(e)))).toBe(true);
  });

  it("tries an aside endpoint when no other is left, and a probe brings it back", async () => {
    const state = { b: "refuse" as Behaviour };
    const tried: string[] = [];
    let probes = 0;
    let clock = 0;
    const pool = new EndpointPool(
      [{ url: "b", client: "b" }],
      { callTimeoutMs: 200, recheckMs: 1000, now: () => clock + Date.now() },
      async () => {
        probes++;
      },
    );
    const attempt = (e: PooledEndpoint<string>) => {
      tried.push(e.url);
      return state.b === "answer" ? Promise.resolve("ok") : Promise.reject(new Error("UNAVAILABLE"));
    };
    await expect(pool.run("read", attempt, () => "endpoint")).rejects.toBeInstanceOf(AllEndpointsFailed);
    expect(pool.endpoints[0]?.health).toBe("aside");
    state.b = "answer";
    expect(await pool.run("read", attempt, () => "endpoint")).toBe("ok");
    expect(tried).toEqual(["b", "b"]);
    // Set aside again; once its rest is over, the next call starts a probe that marks it up.
    pool.aside(pool.endpoints[0] as PooledEndpoint<string>);
    clock += 2000;
    pool.order();
    await Promise.resolve();
    await Promise.resolve();
    expect(probes).toBe(1);
    expect(pool.endpoints[0]?.health).toBe("up");
  });

  describe("a last candidate ahead of aside endpoints (fake clock)", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** a is up and silent; b and c were set aside and b has recovered since. */
    function lastCandidateSilent() {
      vi.useFakeTimers({ now: 1_000_000 });
      const tried: { url: string; at: number; deadline: number }[] = [];
      const pool = new EndpointPool(
        ["a", "b", "c"].map((url) => ({ url, client: url })),
        { callTimeoutMs: 3000, random: () => 0.5, now: () => Date.now() },
      );
      const [a, b, c] = pool.endpoints as [
        PooledEndpoint<string>,
        PooledEndpoint<string>,
        PooledEndpoint<string>,
      ];
      pool.up(a);
      pool.aside(b);
      pool.aside(c);
      const attempt = (e: PooledEndpoint<string>, deadline: number): Promise<string> => {
        tried.push({ url: e.url, at: Date.now(), deadline });
        return e.url === "b" ? Promise.resolve("from b") : new Promise(() => undefined);
      };
      return { pool, tried, attempt, start: Date.now() };
    }

    it("a write gives the aside endpoints their turn before the deadline", async () => {
      const { pool, tried, attempt, start } = lastCandidateSilent();
      const result = pool.run("write", attempt, () => "endpoint");
      await vi.advanceTimersByTimeAsync(3000);
      await expect(result).resolves.toBe("from b");
      expect(tried.map((t) => t.url)).toEqual(["a", "b"]);
      // a got a third of the call's time, not all of it; b started inside the call.
      expect(tried[0]?.deadline).toBe(start + 1000);
      expect(tried[1]?.at).toBeLessThan(start + 3000);
      expect(pool.endpoints.find((e) => e.url === "a")?.health).toBe("aside");
      expect(pool.endpoints.find((e) => e.url === "b")?.health).toBe("up");
    });

    it("a read asks the aside endpoints too once the last candidate is silent past its share", async () => {
      const { pool, tried, attempt, start } = lastCandidateSilent();
      const result = pool.run("read", attempt, () => "endpoint");
      await vi.advanceTimersByTimeAsync(3000);
      await expect(result).resolves.toBe("from b");
      expect(tried.map((t) => t.url)).toEqual(["a", "b"]);
      expect(tried[1]?.at).toBe(start + 1000);
    });
  });
});
