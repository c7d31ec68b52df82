import { describe, expect, it } from "vitest";
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_DIAL_TIMEOUT_MS,
  normaliseEndpoints,
  parseDuration,
  resolveConnectionOptions,
  wantsTls,
} from "./connection.js";

describe("normaliseEndpoints", () => {
  it("adds the scheme etcdctl's bare host:port implies", () => {
    expect(normaliseEndpoints(["127.0.0.1:2379", " http://h:1 "], false)).toEqual([
      "http://127.0.0.1:2379",
      "http://h:1",
    ]);
    expect(normaliseEndpoints(["127.0.0.1:2379"], true)).toEqual(["https://127.0.0.1:2379"]);
    expect(normaliseEndpoints(["[::1]:2379"], false)).toEqual(["http://[::1]:2379"]);
  });

  it("rejects what cannot be an endpoint, in one sentence", () => {
    expect(() => normaliseEndpoints([], false)).toThrow(/no etcd endpoint/);
    expect(() => normaliseEndpoints(["localhost"], false)).toThrow(/needs a host and a port/);
    expect(() => normaliseEndpoints(["unix://x:1"], false)).toThrow(/http:\/\/ or https:\/\//);
    expect(() => normaliseEndpoints(["http://a:1", "https://b:1"], true)).toThrow(/mix/);
    expect(() => normaliseEndpoints(["http://a:1"], true)).toThrow(/TLS files were given/);
  });

  it("turns TLS on for https endpoints or any certificate file (a CA alone included)", () => {
    expect(wantsTls({ endpoints: ["a:1"] })).toBe(false);
    expect(wantsTls({ endpoints: ["https://a:1"] })).toBe(true);
    expect(wantsTls({ endpoints: ["a:1"], caFile: "ca.pem" })).toBe(true);
  });
});

describe("parseDuration", () => {
  it("reads Go durations and plain seconds", () => {
    expect(parseDuration("2s")).toBe(2000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("3")).toBe(3000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("soon")).toBeNull();
    expect(parseDuration("2x")).toBeNull();
    expect(parseDuration("")).toBeNull();
  });
});

describe("ipLiteralOf", () => {
  it("names the IP of an IP endpoint, for the certificate check, and nothing for a host name", async () => {
    const { ipLiteralOf } = await import("./ip-literal.js");
    expect(ipLiteralOf("https://127.0.0.1:2379")).toBe("127.0.0.1");
    expect(ipLiteralOf("https://[::1]:2379")).toBe("::1");
    expect(ipLiteralOf("https://etcd.example:2379")).toBeUndefined();
  });
});

describe("resolveConnectionOptions", () => {
  it("gives a timeout left out etcdctl's default and keeps one given", () => {
    const given = resolveConnectionOptions({ endpoints: ["a:1"] });
    expect(given.dialTimeoutMs).toBe(DEFAULT_DIAL_TIMEOUT_MS);
    expect(given.commandTimeoutMs).toBe(DEFAULT_COMMAND_TIMEOUT_MS);
    expect(DEFAULT_DIAL_TIMEOUT_MS).toBe(2000);
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(5000);
    const kept = resolveConnectionOptions({ endpoints: ["a:1"], dialTimeoutMs: 300, commandTimeoutMs: 700 });
    expect([kept.dialTimeoutMs, kept.commandTimeoutMs]).toEqual([300, 700]);
  });

  it("refuses, in one sentence, what a plain JavaScript caller can pass by mistake", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "2s"]) {
      expect(() => resolveConnectionOptions({ endpoints: ["a:1"], dialTimeoutMs: bad as number })).toThrow(
        /^dialTimeoutMs must be a positive number of milliseconds, not /,
      );
      expect(() => resolveConnectionOptions({ endpoints: ["a:1"], commandTimeoutMs: bad as number })).toThrow(
        /^commandTimeoutMs must be/,
      );
    }
    for (const endpoints of [undefined, "127.0.0.1:2379"]) {
      expect(() => resolveConnectionOptions({ endpoints } as never)).toThrow(/^endpoints must be a list/);
    }
  });
});
