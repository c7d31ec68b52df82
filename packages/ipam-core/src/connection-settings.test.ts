import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONNECTION_ENV, resolveConnectionSettings } from "./connection-settings.js";

describe("resolveConnectionSettings", () => {
  it("uses etcdctl's and flannel's defaults with an empty environment", () => {
    const r = resolveConnectionSettings({}, {});
    expect(r.connection.endpoints).toEqual(["http://127.0.0.1:2379"]);
    expect(r.connection.dialTimeoutMs).toBe(2000);
    expect(r.connection.commandTimeoutMs).toBe(5000);
    expect(r.prefix).toBe("/coreos.com/network");
    expect(r.sources).toEqual({});
  });

  it("prefers the given value, then PODNET_, then ETCDCTL_, then FLANNELD_ETCD_", () => {
    const env = {
      PODNET_ENDPOINTS: "a:1",
      ETCDCTL_ENDPOINTS: "b:1",
      FLANNELD_ETCD_ENDPOINTS: "c:1,d:2",
      FLANNELD_ETCD_PREFIX: "/x/y/",
      ETCDCTL_COMMAND_TIMEOUT: "750ms",
      FLANNELD_ETCD_CAFILE: "/ca.pem",
    };
    expect(resolveConnectionSettings({ endpoints: "z:9" }, env).connection.endpoints).toEqual(["z:9"]);
    const r = resolveConnectionSettings({}, env);
    expect(r.connection.endpoints).toEqual(["a:1"]);
    expect(r.sources).toMatchObject({
      endpoints: "PODNET_ENDPOINTS",
      prefix: "FLANNELD_ETCD_PREFIX",
      commandTimeout: "ETCDCTL_COMMAND_TIMEOUT",
      cacert: "FLANNELD_ETCD_CAFILE",
    });
    expect(r.prefix).toBe("/x/y");
    expect(r.connection.commandTimeoutMs).toBe(750);
    expect(r.connection.caFile).toBe("/ca.pem");
    const { FLANNELD_ETCD_ENDPOINTS } = env;
    expect(resolveConnectionSettings({}, { FLANNELD_ETCD_ENDPOINTS }).connection.endpoints).toEqual([
      "c:1",
      "d:2",
    ]);
  });

  it("treats an empty value as absent", () => {
    const r = resolveConnectionSettings(
      { endpoints: "" },
      { PODNET_ENDPOINTS: "", ETCDCTL_ENDPOINTS: "b:1" },
    );
    expect(r.connection.endpoints).toEqual(["b:1"]);
  });

  it("names where a malformed duration came from", () => {
    expect(() => resolveConnectionSettings({ dialTimeout: "soon" }, {})).toThrow(
      '--dial-timeout "soon" is not a duration like 2s or 500ms',
    );
    expect(() => resolveConnectionSettings({}, { ETCDCTL_DIAL_TIMEOUT: "-1s" })).toThrow(
      'ETCDCTL_DIAL_TIMEOUT "-1s" is not a duration like 2s or 500ms',
    );
  });

  it("reads the password file's first line, and says which file it cannot read", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-settings-"));
    writeFileSync(join(dir, "pw"), "s3cret\n");
    const r = resolveConnectionSettings(
      { user: "root", password: "ignored" },
      {
        PODNET_PASSWORD_FILE: join(dir, "pw"),
      },
    );
    expect(r.connection.password).toBe("s3cret");
    expect(() => resolveConnectionSettings({ passwordFile: join(dir, "missing") }, {})).toThrow(
      /cannot read --password-file .*missing \(ENOENT\)/,
    );
  });

  it("tries podnet's own variable first for every setting", () => {
    for (const [name, vars] of Object.entries(CONNECTION_ENV)) {
      expect(vars[0], name).toMatch(/^PODNET_/);
    }
  });
});
