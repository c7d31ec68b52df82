import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OPTION_NAMES } from "./connection.js";
import { resolveTransport, userCredentials } from "./credentials.js";
import { translateEtcdError } from "./etcd-errors.js";
import { checkTlsFiles } from "./tls-files.js";

const paths = { caFile: "ca.pem", certFile: "client.crt", keyFile: "client.key" };

describe("checkTlsFiles", () => {
  it("names a file that is not PEM by its option, or by its flag for the CLI", () => {
    expect(() => checkTlsFiles({ ca: Buffer.from("hello\n") }, paths)).toThrow(/^caFile ca\.pem /);
    expect(() => checkTlsFiles({ key: Buffer.from("hello\n") }, paths)).toThrow(
      /^keyFile client\.key is not a usable PEM private key/,
    );
    const cli = { ...paths, optionNames: { ...OPTION_NAMES, caFile: "--cacert", keyFile: "--key" } };
    expect(() => checkTlsFiles({ ca: Buffer.from("hello\n") }, cli)).toThrow(/^--cacert file ca\.pem /);
    expect(() => checkTlsFiles({ key: Buffer.from("hello\n") }, cli)).toThrow(
      /^--key file client\.key is not a usable PEM private key/,
    );
  });

  it("names the options in the library's own words when no names are given", async () => {
    await expect(resolveTransport({ endpoints: ["127.0.0.1:2379"], certFile: "c.pem" })).rejects.toThrow(
      "certFile and keyFile go together; give both or neither",
    );
    await expect(resolveTransport({ endpoints: [" "] })).rejects.toThrow(
      'no etcd endpoint given; pass endpoints such as ["127.0.0.1:2379"]',
    );
    await expect(
      resolveTransport({ endpoints: ["127.0.0.1:2379"], caFile: "/nonexistent/ca.pem" }),
    ).rejects.toThrow("cannot read caFile /nonexistent/ca.pem (ENOENT)");
    await expect(
      resolveTransport({ endpoints: ["http://127.0.0.1:2379"], caFile: "/nonexistent/ca.pem" }),
    ).rejects.toThrow("use https:// endpoints or drop caFile/certFile/keyFile");
    expect(() => userCredentials({ user: "netadmin" })).toThrow(
      'no password for etcd user "netadmin"; give it with the password option',
    );
    const err = translateEtcdError(new Error("SSL routines::wrong version number"), {
      endpoints: ["https://e:1"],
      timeoutMs: 1,
    });
    expect(err.message).toMatch(/check caFile, certFile and keyFile$/);
  });

  it("accepts a key on its own when it is one", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const key = Buffer.from(privateKey.export({ type: "pkcs8", format: "pem" }) as string);
    expect(() => checkTlsFiles({ key }, paths)).not.toThrow();
  });
});
