import { describe, expect, it } from "vitest";
import {
  distinctSecretMarks,
  isSecretField,
  REDACTED,
  redactConfig,
  redactConfigText,
  SECRET_FIELDS,
} from "./secrets.js";

const PSK = "x".repeat(96);
const WG = "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=";

describe("the secret fields", () => {
  it("are the fields the backend schemas mark secret: the ipsec and wireguard PSK", () => {
    expect([...SECRET_FIELDS]).toEqual(["psk"]);
    expect(isSecretField("PSK")).toBe(true);
    expect(isSecretField("psk")).toBe(true);
    expect(isSecretField("PublicKey")).toBe(false);
  });
});

describe("redactConfig", () => {
  it("replaces secrets in any case and at any depth, and leaves the input alone", () => {
    const doc = {
      Network: "10.5.0.0/16",
      backend: { type: "ipsec", psk: PSK, UDPEncap: false },
      extra: [{ PSK: 12 }, { PSK: null }],
    };
    expect(redactConfig(doc)).toEqual({
      Network: "10.5.0.0/16",
      backend: { type: "ipsec", psk: REDACTED, UDPEncap: false },
      extra: [{ PSK: REDACTED }, { PSK: null }],
    });
    expect(doc.backend.psk).toBe(PSK);
    expect(redactConfig("text")).toBe("text");
    expect(redactConfig(null)).toBe(null);
  });

  it("walks a document nested 100,000 deep without overflowing the stack", () => {
    let deep: Record<string, unknown> = { PSK: PSK };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    let node = redactConfig(deep);
    for (let i = 0; i < 100_000; i++) node = node["a"] as Record<string, unknown>;
    expect(node).toEqual({ PSK: REDACTED });
  });
});

describe("redactConfigText", () => {
  it("replaces the value and keeps every other byte", () => {
    const text = `{\n  "Network": "10.5.0.0/16",\n  "Backend": {"Type": "wireguard", "PSK" :  "${WG}", "ListenPort": 51820}\n}\n`;
    expect(redactConfigText(text)).toBe(text.replace(`"${WG}"`, `"${REDACTED}"`));
  });

  it("finds secrets in text that is not JSON, escaped names, and non-string values", () => {
    expect(redactConfigText(`{"Backend": {"Type": "ipsec", "psk": "${PSK}",, }`)).toBe(
      `{"Backend": {"Type": "ipsec", "psk": "${REDACTED}",, }`,
    );
    expect(redactConfigText(`{"\\u0050SK": "a\\"b"}`)).toBe(`{"\\u0050SK": "${REDACTED}"}`);
    expect(redactConfigText(`{"PSK": 1234}`)).toBe(`{"PSK": "${REDACTED}"}`);
    expect(redactConfigText(`{"PSK": null}`)).toBe(`{"PSK": null}`);
    expect(redactConfigText(`{"Name": "PSK", "x": "PSK"}`)).toBe(`{"Name": "PSK", "x": "PSK"}`);
  });

  it("with distinct marks, shows a changed secret as a changed mark and an equal one as equal", () => {
    const mark = distinctSecretMarks();
    const a = redactConfigText(`{"PSK": "${PSK}"}`, mark);
    const b = redactConfigText(`{"PSK": "${PSK}y"}`, mark);
    const c = redactConfigText(`{"PSK": "${PSK}"}`, mark);
    expect([a, b, c]).toEqual([
      '{"PSK": "<redacted 1>"}',
      '{"PSK": "<redacted 2>"}',
      '{"PSK": "<redacted 1>"}',
    ]);
  });
});

describe("redactConfigText on a large document", () => {
  it("reads a 20 MiB string value without overflowing the stack", () => {
    const big = "x".repeat(20 * 1024 * 1024);
    const text = `{"Network":"10.5.0.0/16","Note":"${big}","Backend":{"Type":"ipsec","PSK":"${"s".repeat(96)}"}}`;
    const out = redactConfigText(text);
    expect(out.length).toBeLessThan(text.length);
    expect(out.endsWith(`"PSK":"${REDACTED}"}}`)).toBe(true);
  });
});
