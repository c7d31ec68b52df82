/**
 * On the default h2 transport a command that reads etcd evaluates nothing of etcd3, grpc-js,
 * protobufjs or cockatiel (their start-up is what issue 15 measured); with
 * PODNET_ETCD_TRANSPORT=grpc-js it does, which shows the check can see them.
 */

import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PODNET_BIN, REPO_ROOT, runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { giveUp, waitFor } from "@podnet/test-harness/wait";
import { describe, expect, it } from "vitest";

useTempDirs();
const GRPC_STACK =
  /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?(etcd3|@grpc\/grpc-js|protobufjs|cockatiel)\//;

/**
 * What a `podnet` process loads, for its NODE_OPTIONS: ES modules through a resolve and load
 * hook, CommonJS modules (the bundle's loader requires etcd3, which requires the rest) from
 * require's cache at exit.
 */
async function loadRecorder(): Promise<{ nodeOptions: string; loaded(): Promise<string[]> }> {
  const dir = await tempDir();
  const log = join(dir, "loads.txt");
  const hooks = join(dir, "hooks.mjs");
  await writeFile(log, "");
  await writeFile(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
  return r;
}
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + "\\n");
  return next(url, context);
}
`,
  );
  const register = join(dir, "register.mjs");
  await writeFile(
    register,
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const required = join(dir, "required.cjs");
  await writeFile(
    required,
    `process.on("exit", () => {
  require("node:fs").appendFileSync(${JSON.stringify(log)}, Object.keys(require.cache).map((f) => f + "\\n").join(""));
});
`,
  );
  return {
    nodeOptions: `--import=${pathToFileURL(register).href} --require=${required}`,
    loaded: async () => (await readFile(log, "utf8")).split("\n").filter((l) => l !== ""),
  };
}

/** The modules a `podnet` run resolves, recorded by a module resolve hook. */
async function modulesLoadedBy(args: string[], env: Record<string, string>): Promise<string[]> {
  const recorder = await loadRecorder();
  const r = await runPodnet(args, { env: { ...env, NODE_OPTIONS: recorder.nodeOptions } });
  expect(r.code, r.stderr).toBe(0);
  return recorder.loaded();
}

describe("what the h2 transport loads", () => {
  const etcd = useEtcd();

  it("lists leases without loading etcd3, grpc-js, protobufjs or cockatiel; grpc-js loads them", async () => {
    const args = ["--endpoints", etcd().endpoints.join(","), "lease", "list", "-o", "json"];
    const h2 = await modulesLoadedBy(args, {});
    expect(h2.some((u) => u.includes("/bundle/podnet.js"))).toBe(true);
    expect(h2.filter((u) => GRPC_STACK.test(u))).toEqual([]);
    const grpc = await modulesLoadedBy(args, { PODNET_ETCD_TRANSPORT: "grpc-js" });
    const loaded = new Set(grpc.map((u) => GRPC_STACK.exec(u)?.[1]).filter((m) => m !== undefined));
    expect([...loaded].sort()).toEqual(expect.arrayContaining(["cockatiel", "etcd3"]));
  });

  it("a long-running `podnet watch` hears an event without loading any of them", async () => {
    const recorder = await loadRecorder();
    const child = spawn(process.execPath, [PODNET_BIN, "watch", "-o", "json"], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env["PATH"] ?? "",
        PODNET_ENDPOINTS: etcd().endpoints.join(","),
        NODE_OPTIONS: recorder.nodeOptions,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
    try {
      // A new lease every few tries until the watch reports one: it prints nothing when it is up.
      let n = 0;
      await waitFor(
        async () => {
          if (child.exitCode !== null) giveUp(`podnet watch exited: ${err}`);
          if (out.includes('"type":"added"')) return true;
          n++;
          const value = `{"PublicIP":"10.7.0.${n}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}`;
          await etcd().etcdctlOk(["put", `/coreos.com/network/subnets/10.77.${n}.0-24`, value]);
          throw new Error(`no event yet; stdout: ${out}; stderr: ${err}`);
        },
        { timeoutMs: 20_000, intervalMs: 250, what: "the watch's event for a new lease" },
      );
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    const loaded = await recorder.loaded();
    expect(loaded.some((u) => u.includes("/bundle/podnet.js"))).toBe(true);
    expect(loaded.filter((u) => GRPC_STACK.test(u))).toEqual([]);
  });

  it("`lease acquire` loads no node:https (only `version`'s /version read needs it), and `version` does", async () => {
    const builtins = async (args: string[]): Promise<string[]> => {
      const dir = await tempDir();
      const log = join(dir, "builtins.txt");
      const hook = join(dir, "builtins.cjs");
      await writeFile(
        hook,
        `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(log)}, process.moduleLoadList.join("\\n")));\n`,
      );
      const r = await runPodnet(["--endpoints", etcd().endpoints.join(","), ...args], {
        env: { NODE_OPTIONS: `--require=${hook}` },
      });
      expect(r.code, r.stderr).toBe(0);
      return (await readFile(log, "utf8")).split("\n");
    };
    await etcd().etcdctlOk([
      "put",
      "/loads/network/config",
      '{"Network":"10.8.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}',
    ]);
    const acquire = await builtins([
      "--prefix",
      "/loads/network",
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.80",
      "--no-vtep-mac",
    ]);
    expect(acquire).toContain("NativeModule http2");
    expect(acquire).not.toContain("NativeModule https");
    expect(await builtins(["version"])).toContain("NativeModule https");
  });

  it("refuses a transport it does not know, in one line", async () => {
    const r = await runPodnet(["--endpoints", etcd().endpoints.join(","), "lease", "list"], {
      env: { PODNET_ETCD_TRANSPORT: "quic" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/PODNET_ETCD_TRANSPORT "quic" is not h2 or grpc-js/);
  });
});
