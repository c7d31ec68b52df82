import { describe, expect, it } from "vitest";
import { resolveGlobalOptions } from "./global-options.js";

describe("resolveGlobalOptions", () => {
  it("uses etcdctl's and flannel's defaults", () => {
    const g = resolveGlobalOptions({}, {});
    expect(g.connection.endpoints).toEqual(["http://127.0.0.1:2379"]);
    expect(g.connection.dialTimeoutMs).toBe(2000);
    expect(g.connection.commandTimeoutMs).toBe(5000);
    expect(g.prefix).toBe("/coreos.com/network");
    expect(g.output).toBe("table");
  });

  it("prefers the flag, then PODNET_, then ETCDCTL_, then FLANNELD_ETCD_", () => {
    const env = {
      PODNET_ENDPOINTS: "a:1",
      ETCDCTL_ENDPOINTS: "b:1",
      FLANNELD_ETCD_ENDPOINTS: "c:1",
      ETCDCTL_DIAL_TIMEOUT: "3s",
      FLANNELD_ETCD_PREFIX: "/x/y/",
      ETCDCTL_USER: "u",
      FLANNELD_ETCD_PASSWORD: "p",
    };
    expect(resolveGlobalOptions({ endpoints: "z:9" }, env).connection.endpoints).toEqual(["z:9"]);
    const fromEnv = resolveGlobalOptions({}, env);
    expect(fromEnv.connection.endpoints).toEqual(["a:1"]);
    expect(fromEnv.sources["endpoints"]).toBe("PODNET_ENDPOINTS");
    expect(fromEnv.connection.dialTimeoutMs).toBe(3000);
    expect(fromEnv.prefix).toBe("/x/y");
    expect(fromEnv.connection.user).toBe("u");
    expect(fromEnv.connection.password).toBe("p");
    expect(
      resolveGlobalOptions({}, { ETCDCTL_ENDPOINTS: "b:1", FLANNELD_ETCD_ENDPOINTS: "c:1" }).connection
        .endpoints,
    ).toEqual(["b:1"]);
    expect(resolveGlobalOptions({}, { FLANNELD_ETCD_ENDPOINTS: "c:1,d:2" }).connection.endpoints).toEqual([
      "c:1",
      "d:2",
    ]);
  });

  it("rejects malformed durations and output formats as usage errors", () => {
    expect(() => resolveGlobalOptions({ dialTimeout: "soon" }, {})).toThrow(/not a duration/);
    expect(() => resolveGlobalOptions({}, { PODNET_COMMAND_TIMEOUT: "-1s" })).toThrow(/not a duration/);
    expect(() => resolveGlobalOptions({ output: "xml" }, {})).toThrow(/unknown output format/);
  });

  it("honours NO_COLOR (only when non-empty, as no-color.org says) and --no-color", () => {
    expect(resolveGlobalOptions({}, {}, true).color).toBe(true);
    expect(resolveGlobalOptions({}, { NO_COLOR: "1" }, true).color).toBe(false);
    expect(resolveGlobalOptions({}, { NO_COLOR: "" }, true).color).toBe(true);
    expect(resolveGlobalOptions({ color: false }, {}, true).color).toBe(false);
    expect(resolveGlobalOptions({}, {}, false).color).toBe(false);
  });

  it("takes etcdctl's -w and ETCDCTL_WRITE_OUT; -o and PODNET_OUTPUT win", () => {
    expect(resolveGlobalOptions({ writeOut: "json" }, {}).output).toBe("json");
    expect(resolveGlobalOptions({}, { ETCDCTL_WRITE_OUT: "yaml" }).output).toBe("yaml");
    expect(resolveGlobalOptions({}, { ETCDCTL_WRITE_OUT: "" }).output).toBe("table");
    expect(resolveGlobalOptions({}, { ETCDCTL_WRITE_OUT: "yaml", PODNET_OUTPUT: "simple" }).output).toBe(
      "simple",
    );
    expect(resolveGlobalOptions({ output: "json", writeOut: "yaml" }, {}).output).toBe("json");
  });

  it("--insecure-skip-tls-verify, --verbose and --show-secrets", () => {
    expect(resolveGlobalOptions({ insecureSkipTlsVerify: true }, {}).connection.insecureSkipTlsVerify).toBe(
      true,
    );
    expect(
      resolveGlobalOptions({}, { ETCDCTL_INSECURE_SKIP_TLS_VERIFY: "true" }).connection.insecureSkipTlsVerify,
    ).toBe(true);
    expect(resolveGlobalOptions({}, {}).connection.insecureSkipTlsVerify).toBeUndefined();
    expect(resolveGlobalOptions({ verbose: true, showSecrets: true }, {})).toMatchObject({
      verbose: true,
      showSecrets: true,
    });
  });
});
