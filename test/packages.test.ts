// The packages as a user gets them: `pnpm pack` of each package (once), the tarball's contents
// and manifest checked, then both library tarballs installed into a fresh strict ESM TypeScript
// project where every code block of each package README must compile (`tsc --noEmit`) and run
// against a real etcd named by PODNET_ENDPOINTS, exiting 0; and the CLI's tarball installed
// with npm into a project of its own, its node_modules/.bin/podnet run there.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, runPodnet } from "@podnet/test-harness/cli";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const LIBRARIES = ["ipam-core", "netcfg"] as const;
const PACKAGES = [...LIBRARIES, "cli"] as const;
type PackageDir = (typeof PACKAGES)[number];

interface Manifest {
  name: string;
  version: string;
  main?: string;
  types?: string;
  exports?: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
  files?: string[];
  engines?: { node?: string };
  sideEffects?: boolean;
  license?: string;
  dependencies?: Record<string, string>;
}

interface Packed {
  tarball: string;
  files: string[];
  manifest: Manifest;
  read(path: string): Promise<string>;
}

/** Packs one workspace package as `pnpm publish` would, and lists what the tarball holds. */
async function pack(dir: PackageDir, dest: string): Promise<Packed> {
  const cwd = join(REPO_ROOT, "packages", dir);
  const { stdout } = await run("pnpm", ["pack", "--json", "--pack-destination", dest], { cwd });
  const tarball = (JSON.parse(stdout) as { filename: string }).filename;
  const { stdout: listing } = await run("tar", ["-tzf", tarball]);
  const files = listing
    .split("\n")
    .filter((l) => l !== "" && !l.endsWith("/"))
    .map((l) => l.replace(/^package\//, ""));
  const read = async (path: string): Promise<string> =>
    (await run("tar", ["-xzOf", tarball, `package/${path}`], { maxBuffer: 64 << 20 })).stdout;
  const manifest = JSON.parse(await read("package.json")) as Manifest;
  return { tarball, files, manifest, read };
}

/** The ```ts blocks of a markdown text, in order. */
function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

const built =
  LIBRARIES.every((p) => existsSync(join(REPO_ROOT, "packages", p, "dist", "index.js"))) &&
  existsSync(join(REPO_ROOT, "packages", "cli", "bundle", "podnet.js"));

/** `npm install` into PROJECT from the npm cache where it can (the registry only for what the cache lacks). */
async function npmInstall(project: string, specs: string[]): Promise<void> {
  await run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--engine-strict",
      "--loglevel=error",
      ...specs,
    ],
    { cwd: project, maxBuffer: 16 << 20 },
  );
}

describe.skipIf(!built)("the published packages", () => {
  useTempDirs();
  const packed = new Map<PackageDir, Packed>();
  beforeAll(async () => {
    const dest = await tempDir("podnet-pack-");
    for (const dir of PACKAGES) packed.set(dir, await pack(dir, dest));
  }, 120_000);
  const get = (dir: PackageDir): Packed => packed.get(dir)!;

  it.each(LIBRARIES)("%s ships its code, types, README and LICENSE, and no build info or tests", (dir) => {
    const { files, manifest } = get(dir);
    expect(files).toEqual(expect.arrayContaining(["README.md", "LICENSE", "package.json", "dist/index.js"]));
    expect(files.filter((f) => /tsbuildinfo|\.test\.|\.fixture\.|(^|\/)node_modules\//.test(f))).toEqual([]);
    expect(manifest.license).toBe("Apache-2.0");
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.engines?.node).toMatch(/\^20\.11\.0 .*\^24.*\^26/);
    // pnpm pack turns workspace:* into the version; a tarball with workspace: cannot install.
    expect(Object.values(manifest.dependencies ?? {}).filter((v) => v.startsWith("workspace:"))).toEqual([]);
  });

  it.each(LIBRARIES)("%s: main, types and every exports target are in the tarball, with types", (dir) => {
    const { files, manifest } = get(dir);
    const targets = [manifest.main, manifest.types];
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (typeof target === "string") targets.push(target);
      else {
        expect(Object.keys(target)[0], `${subpath}: "types" must come first`).toBe("types");
        targets.push(...Object.values(target));
      }
    }
    expect(targets.length).toBeGreaterThan(3);
    for (const target of targets)
      expect(files, String(target)).toContain(String(target).replace(/^\.\//, ""));
  });

  it.each(LIBRARIES)("%s: every source map points at sources that are in the tarball", async (dir) => {
    const { files, read } = get(dir);
    const maps = files.filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(await read(map)) as { sources: string[] };
      const base = map.slice(0, map.lastIndexOf("/") + 1);
      for (const source of sources) {
        const path = new URL(source, `file:///${base}`).pathname.slice(1);
        if (!files.includes(path)) missing.push(`${map} -> ${source}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("@podnet/cli points at nothing that is missing: its bin is in the tarball, and it has no main", () => {
    const { files, manifest } = get("cli");
    expect(manifest.main).toBeUndefined();
    expect(manifest.exports).toBeUndefined();
    expect(Object.values(manifest.bin ?? {}).map((b) => b.replace(/^\.\//, ""))).toEqual([
      "bundle/podnet.js",
    ]);
    expect(files).toEqual(expect.arrayContaining(["bundle/podnet.js", "LICENSE", "package.json"]));
    expect(files.filter((f) => f.startsWith("dist/") || f.includes("tsbuildinfo"))).toEqual([]);
  });

  describe("installed into a fresh strict ESM project", () => {
    const etcd = useEtcd();
    let project = "";
    const examples: { name: string; file: string }[] = [];

    beforeAll(async () => {
      project = await tempDir("podnet-consumer-");
      const tarballs = LIBRARIES.map((dir) => get(dir).tarball);
      await writeFile(
        join(project, "package.json"),
        JSON.stringify({ name: "podnet-consumer", private: true, type: "module" }),
      );
      await npmInstall(project, [...tarballs, "typescript@~5.9.3", "@types/node@^20.19.0"]);
      await writeFile(
        join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "nodenext",
            moduleResolution: "nodenext",
            strict: true,
            // What a strictest-config consumer turns on: the types and the examples hold there too.
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            skipLibCheck: false,
            noEmit: true,
            types: ["node"],
          },
          include: ["examples/*.ts"],
        }),
      );
      await mkdir(join(project, "examples"));
      // Compiled with the README blocks, not run: a value that may be undefined (an environment
      // variable, a subnet file that may not exist) passed where an option may be left out.
      await writeFile(
        join(project, "examples", "optional-values.ts"),
        `import { connect, connectFromEnv, type LeaseNetwork, LeaseRegistry, watchLeases } from "@podnet/ipam-core";
import { formatSubnetFile, readSubnetFile } from "@podnet/netcfg";
export async function start(network: LeaseNetwork, signal?: AbortSignal): Promise<string> {
  await using etcd = await connectFromEnv({ endpoints: process.env["MY_ETCD"], dialTimeout: process.env["MY_DIAL"] });
  (await connect({ endpoints: ["127.0.0.1:2379"], caFile: process.env["MY_CA"], user: process.env["MY_USER"] })).close();
  await using registry = new LeaseRegistry(etcd.store, { prefix: etcd.prefix });
  const file = await readSubnetFile("/run/flannel/subnet.env");
  const attrs = { publicIP: "192.0.2.1", publicIPv6: null };
  const { lease } = await registry.acquire({ network, attrs, previous: file?.previousSubnet(), signal });
  registry.keepAlive(lease, { onLost: () => undefined, signal }).stop();
  await using watch = await watchLeases(etcd.store, etcd.prefix, { snapshot() {}, events() {} }, { signal });
  return formatSubnetFile({ network: network.ipv4?.network, subnet: lease.subnet.ipv4, mtu: 1450, ipMasq: false }) + watch.revision;
}
`,
      );
      for (const dir of LIBRARIES) {
        // The README as installed: the one the tarball ships.
        const readme = await readFile(join(project, "node_modules", "@podnet", dir, "README.md"), "utf8");
        const blocks = codeBlocks(readme);
        for (const [i, code] of blocks.entries()) {
          const name = `${dir}-${i + 1}`;
          await writeFile(join(project, "examples", `${name}.ts`), code);
          examples.push({ name, file: join(project, "examples", `${name}.ts`) });
        }
      }
    }, 300_000);

    it("every package README has runnable examples", () => {
      for (const dir of LIBRARIES)
        expect(examples.filter((e) => e.name.startsWith(`${dir}-`)).length).toBeGreaterThan(2);
    });

    it("every README code block compiles with tsc --noEmit (strict, exactOptionalPropertyTypes, module nodenext)", async () => {
      const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
      const result = await run(process.execPath, [tsc, "--noEmit", "-p", project], { cwd: project }).catch(
        (err: { stdout: string }) => ({ stdout: err.stdout, failed: true }),
      );
      expect(result.stdout).toBe("");
    }, 120_000);

    it("every README code block runs against an empty etcd named by PODNET_ENDPOINTS and exits 0", async () => {
      const ts = (await import(join(project, "node_modules", "typescript", "lib", "typescript.js"))) as {
        default: typeof import("typescript");
      };
      const failures: string[] = [];
      for (const example of examples) {
        const source = await readFile(example.file, "utf8");
        const js = ts.default.transpileModule(source, {
          compilerOptions: { target: ts.default.ScriptTarget.ES2022, module: ts.default.ModuleKind.ESNext },
        }).outputText;
        const out = example.file.replace(/\.ts$/, ".mjs");
        await writeFile(out, js);
        const env = {
          PATH: process.env["PATH"],
          HOME: process.env["HOME"],
          PODNET_ENDPOINTS: etcd().endpoints.join(","),
        };
        await run(process.execPath, [out], { cwd: project, env, timeout: 60_000 }).catch(
          (err: { code?: number; stdout?: string; stderr?: string }) => {
            failures.push(`${example.name} exited ${err.code}:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
          },
        );
      }
      expect(failures).toEqual([]);
    }, 300_000);

    it("on the default transport nothing of etcd3, grpc-js or protobufjs is needed, watches included", async () => {
      const ts = (await import(join(project, "node_modules", "typescript", "lib", "typescript.js"))) as {
        default: typeof import("typescript");
      };
      // The same install with those packages gone: a program that loaded one would fail.
      const lean = await tempDir("podnet-consumer-lean-");
      await cp(join(project, "node_modules"), join(lean, "node_modules"), {
        recursive: true,
        verbatimSymlinks: true,
      });
      await cp(join(project, "package.json"), join(lean, "package.json"));
      for (const dir of ["etcd3", "@grpc", "protobufjs"])
        await rm(join(lean, "node_modules", dir), { recursive: true });
      const etcdExamples = examples.filter(
        (e) => e.name.startsWith("ipam-core-1") || e.name.startsWith("ipam-core-2"),
      );
      expect(etcdExamples).toHaveLength(2);
      for (const example of etcdExamples) {
        const js = ts.default.transpileModule(await readFile(example.file, "utf8"), {
          compilerOptions: { target: ts.default.ScriptTarget.ES2022, module: ts.default.ModuleKind.ESNext },
        }).outputText;
        const out = join(lean, `${example.name}.mjs`);
        await writeFile(out, js);
        const env = {
          PATH: process.env["PATH"],
          HOME: process.env["HOME"],
          PODNET_ENDPOINTS: etcd().endpoints.join(","),
        };
        const result = await run(process.execPath, [out], { cwd: lean, env, timeout: 60_000 }).catch(
          (err: { code?: number; stderr?: string }) => ({
            stdout: "",
            stderr: `exited ${err.code}: ${err.stderr}`,
          }),
        );
        expect(result.stderr, example.name).toBe("");
      }
    }, 120_000);

    it("a CommonJS consumer can require() both libraries", async () => {
      const file = join(project, "consumer.cjs");
      await writeFile(
        file,
        [
          'const core = require("@podnet/ipam-core");',
          'const netcfg = require("@podnet/netcfg");',
          "console.log(typeof core.connectFromEnv, typeof core.LeaseRegistry, typeof netcfg.validateConfigText);",
        ].join("\n"),
      );
      const { stdout } = await run(process.execPath, [file], { cwd: project, timeout: 30_000 });
      expect(stdout).toBe("function function function\n");
    });

    // A program that forgets an order of closing must still end by itself, and a call on a
    // closed connection must say so rather than blame an etcd that is up.
    it("after close: calls say the connection is closed, and a watch or keepAlive left running lets the process end", async () => {
      const file = join(project, "after-close.mjs");
      await writeFile(
        file,
        `import { connectFromEnv, encodeVxlanData, LeaseRegistry, parseIPv4, parseIPv4Cidr, watchLeases } from "@podnet/ipam-core";
const network = { ipv4: { network: parseIPv4Cidr("10.4.0.0/16"), subnetLen: 24, min: parseIPv4("10.4.1.0"), max: parseIPv4("10.4.255.0") } };
const attrs = { publicIP: "192.0.2.4", publicIPv6: null, backendType: "vxlan", backendData: encodeVxlanData({ vni: 1, vtepMac: "02:00:00:00:00:04" }) };
const etcd = await connectFromEnv({ prefix: "/podnet-after-close" });
const registry = new LeaseRegistry(etcd.store, { prefix: etcd.prefix });
const { lease } = await registry.acquire({ network, attrs });
// A keepAlive never stopped: closing the registry stops it.
registry.keepAlive(lease, { onLost: (err) => console.log("lost: " + err.message) });
await registry.release(lease);
await registry.close();
// A watch never stopped, its store closed under it once it runs: it ends, saying why.
const errors = [];
await watchLeases(etcd.store, etcd.prefix, { snapshot() {}, events() {}, error: (err) => errors.push(err.message) });
// A keepAlive of a registry never closed, its store closed under it: it ends, saying why.
const other = new LeaseRegistry(etcd.store, { prefix: etcd.prefix });
const held = await other.acquire({ network, attrs });
other.keepAlive(held.lease, { onLost: () => console.log("lost?"), onError: (err) => console.log("keepAlive: " + err.message) });
etcd.close();
try {
  await etcd.store.get("/podnet-after-close/config");
} catch (err) {
  console.log(err.name + " " + err.code + ": " + err.message);
}
process.on("exit", () => console.log("watch errors: " + errors.join(" | ")));
`,
      );
      const env = {
        PATH: process.env["PATH"],
        HOME: process.env["HOME"],
        PODNET_ENDPOINTS: etcd().endpoints.join(","),
      };
      // Killed (and failing) if anything it left behind keeps the process alive.
      const { stdout, stderr } = await run(process.execPath, [file], { cwd: project, env, timeout: 30_000 });
      const closed = "the etcd connection is closed; connect again to use etcd";
      expect(stdout).toBe(`keepAlive: ${closed}\nPodnetError failed: ${closed}\nwatch errors: ${closed}\n`);
      expect(stderr).toBe("");
    }, 60_000);

    // What a caller in plain JavaScript gets wrong that the types would have caught: one
    // sentence each, not a TypeError from deep inside, nor a setting silently ignored.
    it("plain JavaScript mistakes are usage errors in one sentence", async () => {
      const file = join(project, "mistakes.mjs");
      await writeFile(
        file,
        `import { connect, connectFromEnv, isPodnetError, LeaseRegistry } from "@podnet/ipam-core";
import { validateConfigText, writeConfig } from "@podnet/netcfg";
const endpoint = process.env.PODNET_ENDPOINTS;
const etcd = await connectFromEnv({ prefix: "/podnet-mistakes" });
const mistakes = {
  "connectFromEnv(endpoint)": () => connectFromEnv(endpoint),
  "connectFromEnv({ endpoints: [endpoint] })": () => connectFromEnv({ endpoints: [endpoint] }),
  "connectFromEnv({ dialTimeout: 2000 })": () => connectFromEnv({ dialTimeout: 2000 }),
  "connect()": () => connect(),
  "new LeaseRegistry(store)": () => new LeaseRegistry(etcd.store),
  "writeConfig(store, prefix, text)": () => writeConfig(etcd.store, etcd.prefix, '{"Network":"10.5.0.0/16"}'),
  "writeConfig(store, prefix, object, 0)": () => writeConfig(etcd.store, etcd.prefix, { Network: "10.5.0.0/16" }, 0),
};
for (const [call, run] of Object.entries(mistakes)) {
  try {
    await run();
    console.log(call + " did not fail");
  } catch (err) {
    console.log(call + " -> " + (isPodnetError(err, "usage") ? "usage: " : "NOT A USAGE ERROR: ") + err.message);
  }
}
const verdict = validateConfigText({ Network: "10.5.0.0/16" });
console.log("validateConfigText(object) -> " + verdict.valid + ": " + verdict.errors.map((e) => e.message).join("; "));
etcd.close();
`,
      );
      const env = {
        PATH: process.env["PATH"],
        HOME: process.env["HOME"],
        PODNET_ENDPOINTS: etcd().endpoints.join(","),
      };
      const { stdout } = await run(process.execPath, [file], { cwd: project, env, timeout: 30_000 });
      const lines = stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(8);
      for (const line of lines.slice(0, 7)) expect(line).toMatch(/ -> usage: [^\n]+[^.]$/);
      expect(lines.join("\n")).not.toMatch(
        /is not a function|Cannot read properties|BigInt|cannot reach etcd/,
      );
      expect(lines[0]).toContain(`not the string "${etcd().endpoints[0]}"`);
      expect(lines[7]).toBe(
        "validateConfigText(object) -> false: the config must be JSON text, not an object; validateConfig takes a parsed document",
      );
    }, 60_000);
  });

  describe("@podnet/cli installed with npm into a fresh project, run as node_modules/.bin/podnet", () => {
    const etcd = useEtcd();
    let project = "";
    let home = "";
    let bundle = "";
    const podnet = (args: string[], opts: { env?: Record<string, string>; bin?: string } = {}) =>
      runPodnet(args, {
        bin: opts.bin ?? join(project, "node_modules", ".bin", "podnet"),
        cwd: project,
        env: { HOME: home, PODNET_ENDPOINTS: etcd().endpoints.join(","), ...opts.env },
      });

    beforeAll(async () => {
      project = await tempDir("podnet-cli-user-");
      home = await tempDir("podnet-cli-home-");
      await chmod(home, 0o700); // the compile cache is kept only in a home of the user's own
      await writeFile(
        join(project, "package.json"),
        JSON.stringify({
          name: "podnet-cli-user",
          private: true,
          // protobufjs (under etcd3) takes any @types/node: the one the libraries' project
          // installs too, so this install needs nothing from the registry that one does not.
          overrides: { "@types/node": "^20.19.0" },
        }),
      );
      await npmInstall(project, [get("cli").tarball]);
      bundle = join(project, "node_modules", "@podnet", "cli", "bundle");
    }, 300_000);

    it("installs only what the bundle requires: its dependencies are exactly the packages it loads", async () => {
      const files = [
        "podnet.js",
        "main.js",
        ...(await readdir(join(bundle, "chunks"))).filter((f) => f.endsWith(".js")).map((f) => `chunks/${f}`),
      ];
      const required = new Set<string>();
      for (const file of files) {
        const text = await readFile(join(bundle, file), "utf8");
        for (const [, id = ""] of text.matchAll(/\brequire\("([^"]+)"\)/g)) {
          if (id.startsWith(".") || id.startsWith("node:") || builtinModules.includes(id)) continue;
          required.add(id.startsWith("@") ? id.split("/").slice(0, 2).join("/") : id.split("/")[0]!);
        }
      }
      expect([...required].sort()).toEqual(Object.keys(get("cli").manifest.dependencies ?? {}).sort());
      for (const dep of required) expect(existsSync(join(project, "node_modules", dep)), dep).toBe(true);
      // What the bundle holds is not installed a second time.
      expect(existsSync(join(project, "node_modules", "@podnet", "ipam-core"))).toBe(false);
      expect(existsSync(join(project, "node_modules", "commander"))).toBe(false);
      // The libraries' engines, checked by npm --engine-strict against this node.
      expect(get("cli").manifest.engines).toEqual(get("ipam-core").manifest.engines);
    });

    it("--version and --help work, exit 0 and print nothing on stderr", async () => {
      const version = await podnet(["--version"]);
      expect(version).toMatchObject({ code: 0, stderr: "", stdout: `${get("cli").manifest.version}\n` });
      const help = await podnet(["--help"]);
      expect(help).toMatchObject({ code: 0, stderr: "" });
      expect(help.stdout).toMatch(/^Usage: podnet /);
      for (const command of ["config", "lease", "ipam", "agent", "doctor"])
        expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    });

    it("sets a config in a real etcd and shows the address space from it as JSON", async () => {
      const file = join(project, "network.json");
      await writeFile(file, '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}');
      const set = await podnet(["config", "set", file]);
      expect(set.code, set.stderr).toBe(0);
      const show = await podnet(["ipam", "show", "-o", "json"]);
      expect(show.code, show.stderr).toBe(0);
      const data = JSON.parse(show.stdout) as { revision: number; ipv4: { network: string; free: number } };
      expect(data.ipv4).toMatchObject({ network: "10.5.0.0/16", total: 255, free: 255 });
      expect(data.revision).toBeGreaterThan(1);
      // etcd3 and cockatiel are what the install fetched for the grpc-js transport, and grpc-js
      // is found from etcd3's own place: the same read through them.
      const grpc = await podnet(["ipam", "show", "-o", "json"], {
        env: { PODNET_ETCD_TRANSPORT: "grpc-js" },
      });
      expect(grpc.code, grpc.stderr).toBe(0);
      expect(JSON.parse(grpc.stdout)).toMatchObject({ ipv4: data.ipv4 });
    });

    it("keeps its compile cache under ~/.cache/podnet, keyed by the build, and takes it on the next run", async () => {
      const base = join(home, ".cache", "podnet", "compile-cache", `${process.version}-${process.arch}`);
      expect((await podnet(["--version"])).code).toBe(0);
      // One directory for this build, named by its hash (the loader's placeholder filled in).
      const builds = await readdir(base);
      expect(builds).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/)]);
      const main = join(base, builds[0] ?? "", "main.js");
      const before = await stat(main);
      expect(before.mode & 0o077).toBe(0);
      expect((await podnet(["--version"])).code).toBe(0);
      // A cache V8 refused would have been written anew (a new file renamed over the old one).
      expect((await stat(main)).ino).toBe(before.ino);
    });

    it("a damaged install (a chunk missing, cut short, or no main.js) fails in one line, exit 1", async () => {
      const damaged = await tempDir("podnet-cli-damaged-");
      await cp(project, damaged, { recursive: true, verbatimSymlinks: true });
      const bin = join(damaged, "node_modules", ".bin", "podnet");
      const chunks = join(damaged, "node_modules", "@podnet", "cli", "bundle", "chunks");
      const config = (await readdir(chunks)).find((f) => /^config-\w+\.js$/.test(f));
      expect(config).toBeDefined();
      const line =
        /^podnet: cannot load podnet's own code \(.+\); the installation is damaged: reinstall podnet\n$/;
      const expectOneLine = async (args: string[], names: string) => {
        const r = await podnet(args, { bin });
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(line);
        expect(r.stderr).toContain(names);
        expect(r.stdout).toBe("");
      };
      await truncate(join(chunks, config ?? ""), 200);
      await expectOneLine(["config", "get"], config ?? "");
      await rm(join(chunks, config ?? ""));
      await expectOneLine(["config", "get"], config ?? "");
      // A command whose chunks are there still works.
      expect((await podnet(["ipam", "show", "-o", "json"], { bin })).code).toBe(0);
      await rm(join(damaged, "node_modules", "@podnet", "cli", "bundle", "main.js"));
      await expectOneLine(["--version"], "main.js");
    });
  });
});
