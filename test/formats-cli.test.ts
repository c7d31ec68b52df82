/**
 * Every read command in every output format, run as the shipped bundle (`bin`) against a real
 * etcd with leases, a reservation and a config in it: -o json parses as JSON, -o yaml as YAML
 * to the same document, -o simple is tab-separated raw values (TTLs in seconds), and the table
 * is text. `watch` in its line formats too.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { PODNET_BIN, REPO_ROOT, runPodnet } from "@podnet/test-harness/cli";
import { flannelVxlanValue, putFlannelLease } from "@podnet/test-harness/flannel";
import { useEtcd } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

/** The yaml package podnet ships with: a real YAML parser, not a regex. */
const YAML = createRequire(new URL("../packages/cli/package.json", import.meta.url))("yaml") as {
  parse(text: string): unknown;
  parseAllDocuments(text: string): { toJS(): unknown; errors: unknown[] }[];
};

const MAC = "c6:d2:32:6f:8f:44";
const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":4789}}';
const MAC2 = "c6:d2:32:6f:8f:45";
const FORMATS = ["table", "json", "yaml", "simple"] as const;

/** The read commands; `revision` names the key of the etcd revision in their JSON, if any. */
const READS: {
  args: string[];
  revision?: string;
  code?: number;
  quietWhenFine?: boolean;
  /** Its -o simple rows end in a human sentence (doctor's detail), which may name a duration. */
  prose?: boolean;
}[] = [
  { args: ["config", "get"], revision: "revision" },
  { args: ["config", "history"] },
  { args: ["config", "validate", "examples/network.json"] },
  { args: ["ifconfig", "--public-ip", "192.0.2.7"], revision: "configRevision" },
  { args: ["route", "-n"], revision: "revision" },
  { args: ["lease", "list"], revision: "revision" },
  { args: ["lease", "show", "10.5.52.0/24"], revision: "modRevision" },
  { args: ["ipam", "show"], revision: "revision" },
  { args: ["ipam", "show", "--ip", "10.5.52.9"], revision: "revision" },
  { args: ["ipam", "show", "--free"], revision: "revision" },
  { args: ["ipam", "show", "--map"], revision: "revision" },
  // -o simple lists the findings, one per line: none here.
  { args: ["ipam", "check"], revision: "revision", quietWhenFine: true },
  // No overlay device on this machine: doctor reports that and exits 1, in every format alike.
  { args: ["doctor", "--public-ip", "192.0.2.7"], revision: "revision", code: 1, prose: true },
  { args: ["version"], revision: "revision" },
];

/** Values that may change between two runs (TTLs count down, reports carry their time). */
function stable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (k, v) => {
    if (/ttl|time|generatedAt|expir|Ms$|seconds/i.test(k) && (typeof v === "number" || typeof v === "string"))
      return "<varies>";
    return typeof v === "string" ? v.replace(/\b(\d+h\d\dm|\d+m\d\ds|\d+s|\d+ ms)\b/g, "<duration>") : v;
  });
}

const etcd = useEtcd();
let env: Record<string, string>;

beforeAll(async () => {
  env = { PODNET_ENDPOINTS: etcd().endpoints.join(",") };
  await etcd().etcdctlOk(["put", "/coreos.com/network/config"], { input: CONFIG });
  await putFlannelLease(
    etcd(),
    "/coreos.com/network/subnets/10.5.52.0-24",
    flannelVxlanValue("192.0.2.7", MAC),
  );
  // A reservation: the same value on no etcd lease.
  await etcd().etcdctlOk([
    "put",
    "/coreos.com/network/subnets/10.5.7.0-24",
    flannelVxlanValue("192.0.2.9", MAC2),
  ]);
});

describe.each(READS)(
  "podnet $args.0 $args.1 in every format (the shipped bundle)",
  ({ args, revision, code, quietWhenFine, prose }) => {
    it("prints the same document as JSON and YAML, tab-separated raw values, and a table", async () => {
      const out: Record<string, { code: number | null; stdout: string; stderr: string }> = {};
      for (const format of FORMATS) out[format] = await runPodnet([...args, "-o", format], { env });
      for (const format of FORMATS) {
        const r = out[format];
        expect(r?.stderr ?? "", `${format} stderr`).not.toMatch(/unexpected failure|\n\s+at /);
        expect(r?.code, `${format}: ${r?.stderr}`).toBe(code ?? 0);
        if (!(quietWhenFine && format === "simple"))
          expect(r?.stdout.length, `${format} prints something`).toBeGreaterThan(0);
      }
      const json = JSON.parse(out["json"]?.stdout ?? "") as Record<string, unknown>;
      expect(typeof json).toBe("object");
      if (revision !== undefined) expect(typeof json[revision], `${revision} in the JSON`).toBe("number");
      expect(stable(YAML.parse(out["yaml"]?.stdout ?? ""))).toEqual(stable(json));
      const simple = out["simple"]?.stdout ?? "";
      if (simple !== "") expect(simple.endsWith("\n")).toBe(true);
      // Raw values for scripts: no durations like 59m58s, no colour.
      if (!prose) expect(simple).not.toMatch(/\b\d+h\d\dm\b|\b\d+m\d\ds\b/);
      expect(simple.includes("\u001b[")).toBe(false);
    });
  },
);

describe("machine output agrees across commands", () => {
  it("spells the VTEP MAC vtepMAC and gives TTLs in seconds in -o simple", async () => {
    const ifconfig = JSON.parse(
      (await runPodnet(["ifconfig", "--public-ip", "192.0.2.7", "-o", "json"], { env })).stdout,
    );
    expect(ifconfig.lease.vtepMAC).toBe(MAC);
    expect(ifconfig.lease).not.toHaveProperty("vtepMac");
    const route = JSON.parse((await runPodnet(["route", "-o", "json"], { env })).stdout);
    expect(route.routes.find((r: { dst: string }) => r.dst === "10.5.52.0/24").vtepMAC).toBe(MAC);
    const lines = (await runPodnet(["lease", "list", "-o", "simple"], { env })).stdout.trim().split("\n");
    expect(lines.map((l) => l.split("\t"))).toEqual([
      ["10.5.7.0/24", "192.0.2.9", "vxlan", MAC2, "reserved"],
      ["10.5.52.0/24", "192.0.2.7", "vxlan", MAC, expect.stringMatching(/^(3[0-5]\d\d|3600)$/)],
    ]);
    const routeTtl = (await runPodnet(["route", "-o", "simple"], { env })).stdout
      .split("\n")
      .find((l) => l.startsWith("10.5.52.0/24"))
      ?.split("\t")[7];
    expect(routeTtl).toMatch(/^\d+$/);
  });

  it("-w/--write-out and ETCDCTL_WRITE_OUT choose the format like -o; -o wins", async () => {
    const viaW = await runPodnet(["lease", "list", "-w", "json"], { env });
    expect(JSON.parse(viaW.stdout)).toHaveProperty("leases");
    const viaLong = await runPodnet(["lease", "list", "--write-out=yaml"], { env });
    expect(YAML.parse(viaLong.stdout)).toHaveProperty("leases");
    const viaEnv = await runPodnet(["lease", "list"], { env: { ...env, ETCDCTL_WRITE_OUT: "json" } });
    expect(JSON.parse(viaEnv.stdout)).toHaveProperty("revision");
    const flagWins = await runPodnet(["lease", "list", "-o", "simple"], {
      env: { ...env, ETCDCTL_WRITE_OUT: "json" },
    });
    expect(flagWins.stdout.startsWith("10.5.7.0/24\t")).toBe(true);
    const bad = await runPodnet(["lease", "list", "-w", "xml"], { env });
    expect(bad.code).toBe(2);
  });
});

/** Runs `podnet watch` until `done(stdout)` holds, then stops it with SIGINT. */
function watchUntil(
  args: string[],
  done: (stdout: string) => boolean,
): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PODNET_BIN, "watch", ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env["PATH"] ?? "", ...env },
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `watch ${args.join(" ")} printed no snapshot in time; stdout: ${stdout}; stderr: ${stderr}`,
        ),
      );
    }, 20_000);
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
      if (done(stdout)) child.kill("SIGINT");
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout, code });
    });
  });
}

describe("podnet watch in its line formats", () => {
  const twoLines = (s: string) => s.split("\n").filter((l) => l.includes("10.5.")).length >= 2;

  it("-o json: one JSON object per line", async () => {
    const r = await watchUntil(["-o", "json"], (s) => s.split("\n").length > 2);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    // In address order, as the library lists them (etcd's key order puts 10.5.52.0 first).
    expect(lines.map((l) => [l.type, l.subnet, l.vtepMAC])).toEqual([
      ["snapshot", "10.5.7.0/24", MAC2],
      ["snapshot", "10.5.52.0/24", MAC],
    ]);
  });

  it("-o yaml: one YAML document per line, --- separated", async () => {
    const r = await watchUntil(
      ["-o", "yaml"],
      (s) => (s.match(/^---$/gm) ?? []).length >= 2 && /vtepMAC: c6:d2:32:6f:8f:45/.test(s),
    );
    const docs = YAML.parseAllDocuments(r.stdout);
    expect(docs.every((d) => d.errors.length === 0)).toBe(true);
    const values = docs.map((d) => d.toJS()) as { type: string; subnet: string; vtepMAC: string | null }[];
    expect(values.map((v) => [v.type, v.subnet, v.vtepMAC])).toEqual([
      ["snapshot", "10.5.7.0/24", MAC2],
      ["snapshot", "10.5.52.0/24", MAC],
    ]);
    expect(r.stdout).not.toMatch(/^\{/m);
  });

  it("-o simple: tab-separated fields; table: one human line each", async () => {
    const simple = await watchUntil(["-o", "simple"], twoLines);
    const rows = simple.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    expect(rows.map((r) => [r[1], r[2], r[5], r[8]])).toEqual([
      ["snapshot", "10.5.7.0/24", MAC2, "/coreos.com/network/subnets/10.5.7.0-24"],
      ["snapshot", "10.5.52.0/24", MAC, "/coreos.com/network/subnets/10.5.52.0-24"],
    ]);
    const table = await watchUntil([], twoLines);
    expect(table.stdout.trim().split("\n")[0]).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ snapshot 10\\.5\\.7\\.0/24 192\\.0\\.2\\.9 vxlan ${MAC2}$`,
      ),
    );
  });
});
