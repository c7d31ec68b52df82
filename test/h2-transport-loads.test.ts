/**
 * On the default h2 transport a command that reads etcd evaluates nothing of etcd3, grpc-js,
 * protobufjs or cockatiel (their start-up is what issue 15 measured); with
 * PODNET_ETCD_TRANSPORT=grpc-js it does, which shows the check can see them.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { describe, expect, it } from "vitest";

useTempDirs();
const GRPC_STACK =
  /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?(etcd3|@grpc\/grpc-js|protobufjs|cockatiel)\//;

/** The modules a `podnet` run resolves, recorded by a module resolve hook. */
async function modulesLoadedBy(args: string[], env: Record<string, string>): Promise<string[]> {
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
  const r = await runPodnet(args, {
    env: { ...env, NODE_OPTIONS: `--import=${pathToFileURL(register).href}` },
  });
  expect(r.code, r.stderr).toBe(0);
  return (await readFile(log, "utf8")).split("\n").filter((l) => l !== "");
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

  it("refuses a transport it does not know, in one line", async () => {
    const r = await runPodnet(["--endpoints", etcd().endpoints.join(","), "lease", "list"], {
      env: { PODNET_ETCD_TRANSPORT: "quic" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/PODNET_ETCD_TRANSPORT "quic" is not h2 or grpc-js/);
  });
});
