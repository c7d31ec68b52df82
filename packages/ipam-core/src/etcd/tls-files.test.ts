import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkTlsFiles } from "./tls-files.js";

const paths = { caFile: "ca.pem", certFile: "client.crt", keyFile: "client.key" };

describe("checkTlsFiles", () => {
  it("names a file that is not PEM, by its flag", () => {
    expect(() => checkTlsFiles({ ca: Buffer.from("hello\n") }, paths)).toThrow(/^--cacert file ca\.pem /);
    expect(() => checkTlsFiles({ key: Buffer.from("hello\n") }, paths)).toThrow(
      /^--key file client\.key is not a usable PEM private key/,
    );
  });

  it("accepts a key on its own when it is one", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const key = Buffer.from(privateKey.export({ type: "pkcs8", format: "pem" }) as string);
    expect(() => checkTlsFiles({ key }, paths)).not.toThrow();
  });
});
