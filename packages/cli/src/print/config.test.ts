import { describe, expect, it } from "vitest";
import { withoutSecrets } from "./config.js";

describe("withoutSecrets", () => {
  it("redacts pre-shared keys at any depth and keeps everything else", () => {
    const resolved = {
      Network: "10.5.0.0/16",
      Backend: { Type: "ipsec", PSK: "x".repeat(96), UDPEncap: false },
    };
    expect(withoutSecrets(resolved)).toEqual({
      Network: "10.5.0.0/16",
      Backend: { Type: "ipsec", PSK: "<redacted>", UDPEncap: false },
    });
    expect(resolved.Backend.PSK).toBe("x".repeat(96));
  });
});
