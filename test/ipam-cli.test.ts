/**
 * `podnet ipam` end to end: the built binary against a real etcd holding leases written by
 * etcdctl in flanneld's exact format, plus the damage flannel clusters really carry.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const value = (publicIP: string, mac: string, vni = 1) =>
  `{"PublicIP":"${publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;

useTempDirs();

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

interface Finding {
  kind: string;
  severity: string;
  key?: string;
  keys?: string[];
  modRevision?: number;
  message: string;
}

describe.skipIf(!etcdAvailable())("podnet ipam against a real etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  const podnet = async (prefix: string, args: string[]) => {
    const r = await runPodnet(["--prefix", prefix, ...args], { env: env() });
    expectNoStack(r);
    return r;
  };
  const json = async <T>(prefix: string, args: string[], code = 0): Promise<T> => {
    const r = await podnet(prefix, [...args, "-o", "json"]);
    expect(r.code, r.stderr).toBe(code);
    return JSON.parse(r.stdout) as T;
  };
  const put = (key: string, v: string, lease?: string) =>
    etcd().etcdctlOk(["put", ...(lease !== undefined ? [`--lease=${lease}`] : []), key, "--", v]);
  const grant = async (ttl: number) => {
    const out = await etcd().etcdctlOk(["lease", "grant", String(ttl)]);
    const id = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
    if (id === undefined) throw new Error(`unexpected etcdctl output: ${out}`);
    return id;
  };
  const exists = async (key: string) => (await etcd().etcdctlOk(["get", key, "--keys-only"])).trim() !== "";

  /** A network as flanneld leaves it after a bad day: every kind of problem once. */
  const messy = async (prefix: string) => {
    await put(`${prefix}/config`, CONFIG);
    const day = await grant(86_400);
    const soon = await grant(1_200);
    await put(`${prefix}/subnets/10.5.52.0-24`, value("192.168.64.3", "c6:d2:32:6f:8f:44"), day);
    await put(`${prefix}/subnets/10.5.7.0-24`, value("192.168.64.4", "c6:d2:32:6f:8f:45"), soon);
    await put(`${prefix}/subnets/10.5.9.0-24`, value("192.168.64.5", "c6:d2:32:6f:8f:46")); // reservation
    await put(`${prefix}/subnets/10.5.52.0-23`, value("192.168.64.6", "c6:d2:32:6f:8f:47"), day); // overlaps, newer
    await put(`${prefix}/subnets/10.5.60.0-24`, value("192.168.64.4", "c6:d2:32:6f:8f:48"), day); // duplicate owner
    await put(`${prefix}/subnets/not-a-subnet`, "hello"); // foreign
    await put(`${prefix}/subnets/10.5.70.0-24`, "{not json"); // damaged
  };

  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it("show counts leased, reserved, damaged, free and expiring subnets", async () => {
    await messy("/show");
    const data = await json<{
      ipv4: Record<string, unknown>;
      leases: number;
      reservations: number;
      damagedEntries: number;
      foreignEntries: number;
      ttlsChecked: boolean;
    }>("/show", ["ipam", "show"]);
    expect(data.ipv4).toMatchObject({
      network: "10.5.0.0/16",
      subnetLen: 24,
      subnetMin: "10.5.1.0",
      subnetMax: "10.5.255.0",
      total: 255,
      leased: 4, // 10.5.7, 10.5.52-53 (the /24 under the /23), 10.5.60
      reserved: 1,
      damaged: 1,
      used: 6,
      free: 249,
      expiringSoon: 1,
      percentUsed: 2.35,
    });
    expect(data).toMatchObject({
      leases: 4,
      reservations: 1,
      damagedEntries: 1,
      foreignEntries: 1,
      ttlsChecked: true,
    });
    const table = await podnet("/show", ["ipam", "show"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^FAMILY\s+NETWORK\s+RANGE\s+SUBNETS\s+LEASED\s+RESERVED\s+DAMAGED\s+FREE\s+EXPIRING<1H\s+USED/,
    );
    expect(table.stdout).toMatch(
      /IPv4\s+10\.5\.0\.0\/16\s+10\.5\.1\.0-10\.5\.255\.0\/24\s+255\s+4\s+1\s+1\s+249\s+1\s+2\.35%/,
    );
    const simple = await podnet("/show", ["ipam", "show", "-o", "simple"]);
    expect(simple.stdout.split("\t")[0]).toBe("IPv4");
  });

  it("show and check count every key of a /8, whose listing is read as sub-ranges at once", async () => {
    const prefix = "/big";
    await put(
      `${prefix}/config`,
      '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}',
    );
    // Leases on both sides of every cut (10.156.128, 10.213.128 and 10.41.128 for four parts), foreign
    // keys before, between and after them, and a damaged value.
    const subnets = [
      "10.1.0.0",
      "10.156.127.0",
      "10.156.128.0",
      "10.2.0.0",
      "10.213.200.0",
      "10.41.0.0",
      "10.5.0.0",
      "10.99.0.0",
    ];
    for (const [i, s] of subnets.entries()) {
      await put(`${prefix}/subnets/${s}-24`, value(`192.0.2.${i + 1}`, `c6:d2:32:6f:8f:${10 + i}`));
    }
    for (const k of ["!", "10.156.128.0-24x", "10.3", "zzz"]) await put(`${prefix}/subnets/${k}`, "foreign");
    await put(`${prefix}/subnets/10.77.0.0-24`, "{not json");
    const data = await json<{
      ipv4: Record<string, unknown>;
      reservations: number;
      damagedEntries: number;
      foreignEntries: number;
    }>(prefix, ["ipam", "show"]);
    expect(data.ipv4).toMatchObject({ network: "10.0.0.0/8", reserved: subnets.length, damaged: 1 });
    expect(data).toMatchObject({ reservations: subnets.length, damagedEntries: 1, foreignEntries: 4 });
    const report = await json<{ findings: Finding[] }>(prefix, ["ipam", "check"], 1);
    expect(report.findings.filter((f) => f.kind === "foreign-key").map((f) => f.key)).toEqual(
      ["!", "10.156.128.0-24x", "10.3", "zzz"].map((k) => `${prefix}/subnets/${k}`),
    );
  });

  it("show --ip names the lease holding an address, its owner and its TTL", async () => {
    const held = await json<{
      state: string;
      rangeSubnet: string;
      heldBy: { subnet: string; publicIP: string; ttlSeconds: number }[];
    }>("/show", ["ipam", "show", "--ip", "10.5.7.33"]);
    expect(held.state).toBe("leased");
    expect(held.rangeSubnet).toBe("10.5.7.0/24");
    expect(held.heldBy).toHaveLength(1);
    expect(held.heldBy[0]).toMatchObject({ subnet: "10.5.7.0/24", publicIP: "192.168.64.4" });
    expect(held.heldBy[0]?.ttlSeconds).toBeGreaterThan(1000);
    expect(held.heldBy[0]?.ttlSeconds).toBeLessThanOrEqual(1200);
    const owner = await json<{ owns: { subnet: string }[] }>("/show", [
      "ipam",
      "show",
      "--ip",
      "192.168.64.4",
    ]);
    expect(owner.owns.map((o) => o.subnet).sort()).toEqual(["10.5.60.0/24", "10.5.7.0/24"]);
    const free = await json<{ state: string }>("/show", ["ipam", "show", "--ip", "10.5.100.1"]);
    expect(free.state).toBe("free");
    const text = await podnet("/show", ["ipam", "show", "--ip", "10.5.9.1"]);
    expect(text.stdout).toMatch(/State:\s+reserved/);
    expect(text.stdout).toMatch(/Held by:\s+192\.168\.64\.5 \(reservation 10\.5\.9\.0\/24, never expires\)/);
    const bad = await podnet("/show", ["ipam", "show", "--ip", "10.5.300.1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr.trim()).toBe(
      'podnet: --ip: "10.5.300.1" is not an IPv4 or IPv6 address such as 10.5.77.9 or fc00::1',
    );
    const network = await podnet("/show", ["ipam", "show", "--ip", "10.5.9.0/24"]);
    expect([network.code, network.stderr.trim()]).toEqual([
      2,
      'podnet: --ip: "10.5.9.0/24" is a network; give one address in it, such as 10.5.9.0',
    ]);
  });

  it("show --free lists the free space as the fewest CIDRs", async () => {
    const data = await json<{ ipv4: { free: number; cidrs: { cidr: string; subnets: number }[] } }>("/show", [
      "ipam",
      "show",
      "--free",
    ]);
    expect(data.ipv4.free).toBe(249);
    const cidrs = data.ipv4.cidrs.map((c) => c.cidr);
    expect(cidrs.slice(0, 4)).toEqual(["10.5.1.0/24", "10.5.2.0/23", "10.5.4.0/23", "10.5.6.0/24"]);
    expect(cidrs).toContain("10.5.128.0/17");
    expect(cidrs).not.toContain("10.5.52.0/24");
    expect(data.ipv4.cidrs.reduce((n, c) => n + c.subnets, 0)).toBe(249);
  });

  it("show --map draws the space without ANSI codes off a terminal, and writes a valid SVG", async () => {
    const r = await podnet("/show", ["ipam", "show", "--map"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\u001b[");
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("IPv4 10.5.0.0/16: 255 /24 subnets, one cell per /24 subnet, 64 per row");
    // row 1 starts at 10.5.1.0: 10.5.7 expiring, 10.5.9 reserved, 10.5.52-53 overlapping, 10.5.60 leased
    const row1 = lines[1]?.split(/\s+/)[1] ?? "";
    expect(row1).toHaveLength(64);
    expect(row1[6]).toBe("e");
    expect(row1[8]).toBe("R");
    expect(row1.slice(51, 53)).toBe("!!");
    expect(row1[59]).toBe("#");
    expect(lines[2]?.split(/\s+/)[1]?.[5]).toBe("!"); // 10.5.70.0: damaged
    expect(r.stdout).toMatch(/legend: \. free {2}# leased {2}R reserved/);
    expect(r.stdout).toContain("1 foreign key under subnets/ has no place on the map");

    const file = join(dir, "map.svg");
    const w = await podnet("/show", ["ipam", "show", "--map", file]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toContain(`to ${file}`);
    const svg = await readFile(file, "utf8");
    expectWellFormedXml(svg);
    expect(svg).toMatch(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain("<title>podnet ipam map of 10.5.0.0/16");
    expect(svg.match(/<rect [^>]*data-state=/g)).toHaveLength(255);
    expect(svg.match(/data-state="problem"/g)).toHaveLength(3);
    expect(svg).toContain('class="legend"');

    const data = await json<{ maps: { subnetsPerCell: number; rows: { start: string; cells: string }[] }[] }>(
      "/show",
      ["ipam", "show", "--map"],
    );
    expect(data.maps[0]?.subnetsPerCell).toBe(1);
    expect(data.maps[0]?.rows[0]?.start).toBe("10.5.1.0");
    expect(data.maps[0]?.rows[0]?.cells).toBe(row1);

    const png = await podnet("/show", ["ipam", "show", "--map", join(dir, "map.png")]);
    expect(png.code).toBe(2);
  });

  it("check finds every problem and exits 1", async () => {
    const r = await json<{
      revision: number;
      findings: Finding[];
      summary: { errors: number; warnings: number };
    }>("/show", ["ipam", "check"], 1);
    const byKind = (kind: string) => r.findings.filter((f) => f.kind === kind);
    expect(byKind("overlap")).toHaveLength(1);
    expect(byKind("overlap")[0]).toMatchObject({
      key: "/show/subnets/10.5.52.0-23",
      keys: ["/show/subnets/10.5.52.0-24", "/show/subnets/10.5.52.0-23"],
    });
    expect(byKind("duplicate-public-ip")[0]?.key).toBe("/show/subnets/10.5.60.0-24");
    expect(byKind("foreign-key")[0]?.key).toBe("/show/subnets/not-a-subnet");
    expect(byKind("damaged-value")[0]?.key).toBe("/show/subnets/10.5.70.0-24");
    expect(byKind("wrong-length")[0]?.key).toBe("/show/subnets/10.5.52.0-23");
    const table = await podnet("/show", ["ipam", "check"]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^SEVERITY\s+KIND\s+KEY\s+PROBLEM/);
    expect(table.stdout).toMatch(/3 errors, 2 warnings in 4 leases, 1 reservation at revision \d+/);
  });

  it("check reports out-of-range leases, backend and VNI mismatches and config trouble", async () => {
    const prefix = "/drift";
    await put(
      `${prefix}/config`,
      '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMax":"10.5.100.0","Backend":{"Type":"vxlan","VNI":1}}',
    );
    await put(`${prefix}/subnets/10.5.200.0-24`, value("192.0.2.1", "c6:d2:32:6f:8f:44"));
    await put(`${prefix}/subnets/10.5.1.0-24`, value("192.0.2.2", "c6:d2:32:6f:8f:45", 7));
    await put(
      `${prefix}/subnets/10.5.2.0-24`,
      '{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"host-gw"}',
    );
    const r = await json<{ findings: Finding[] }>(prefix, ["ipam", "check"], 1);
    expect(r.findings.map((f) => f.kind).sort()).toEqual([
      "backend-mismatch",
      "out-of-range",
      "vni-mismatch",
    ]);

    const missing = await json<{ findings: Finding[] }>("/nothing-here", ["ipam", "check"], 1);
    expect(missing.findings.map((f) => f.kind)).toEqual(["config-missing"]);
    await put("/invalid/config", '{"Network":"10.5.0.0/16","SubnetLen":31}');
    const invalid = await json<{ findings: Finding[] }>("/invalid", ["ipam", "check"], 1);
    expect(invalid.findings[0]?.kind).toBe("config-invalid");
    expect(invalid.findings[0]?.message).toContain("SubnetLen must be less than /31");
    const show = await podnet("/nothing-here", ["ipam", "show"]);
    expect(show.code).toBe(1);
    expect(show.stderr).toContain("flannel config not found in etcd store");
  });

  it("check exits 0 on a clean network", async () => {
    const prefix = "/clean";
    await put(`${prefix}/config`, CONFIG);
    const day = await grant(86_400);
    await put(`${prefix}/subnets/10.5.1.0-24`, value("192.0.2.1", "c6:d2:32:6f:8f:44"), day);
    await put(`${prefix}/subnets/10.5.2.0-24`, value("192.0.2.2", "c6:d2:32:6f:8f:45"));
    const r = await podnet(prefix, ["ipam", "check"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^no problems: 1 lease, 1 reservation and the config at revision \d+ are consistent/,
    );
  });

  it("release --from-report deletes exactly the named keys, skipping one changed since the report", async () => {
    const prefix = "/release";
    await messy(prefix);
    const report = join(dir, "report.json");
    const check = await podnet(prefix, ["ipam", "check", "--report", report]);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/^podnet: wrote 5 findings at revision \d+ to /);
    const doc = JSON.parse(await readFile(report, "utf8")) as {
      version: number;
      prefix: string;
      revision: number;
    };
    expect(doc).toMatchObject({ version: 2, prefix });

    const named = [
      `${prefix}/subnets/10.5.52.0-23`,
      `${prefix}/subnets/10.5.60.0-24`,
      `${prefix}/subnets/10.5.70.0-24`,
      `${prefix}/subnets/not-a-subnet`,
    ];
    const kept = [
      `${prefix}/subnets/10.5.52.0-24`,
      `${prefix}/subnets/10.5.7.0-24`,
      `${prefix}/subnets/10.5.9.0-24`,
    ];

    const dry = await json<{
      dryRun: boolean;
      wouldDelete: number;
      results: { key: string; status: string }[];
    }>(prefix, ["ipam", "release", "--from-report", report, "--dry-run"]);
    expect(dry.dryRun).toBe(true);
    expect(dry.wouldDelete).toBe(4);
    expect(dry.results.map((x) => x.key).sort()).toEqual([...named].sort());
    for (const key of named) expect(await exists(key)).toBe(true);

    // The damaged entry is repaired after the report: the release must leave it alone.
    await put(`${prefix}/subnets/10.5.70.0-24`, value("192.168.64.9", "c6:d2:32:6f:8f:49"));
    const r = await podnet(prefix, ["ipam", "release", "--from-report", report]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/subnets\/10\.5\.70\.0-24\s+damaged-value\s+skipped: changed after the report/);
    expect(r.stdout).toContain("3 keys deleted, 1 skipped");
    for (const key of named.filter((k) => !k.includes("10.5.70.0"))) expect(await exists(key)).toBe(false);
    expect(await exists(`${prefix}/subnets/10.5.70.0-24`)).toBe(true);
    for (const key of kept) expect(await exists(key)).toBe(true);

    const again = await json<{ deleted: number; results: { status: string }[] }>(
      prefix,
      ["ipam", "release", "--from-report", report],
      1,
    );
    expect(again.deleted).toBe(0);
    expect(again.results.map((x) => x.status).sort()).toEqual(["changed", "gone", "gone", "gone"]);
  });

  it("release refuses a report of another prefix and a malformed report in one line", async () => {
    const report = join(dir, "other.json");
    await writeFile(
      report,
      JSON.stringify({ version: 2, prefix: "/elsewhere", revision: 5, generatedAt: "", findings: [] }),
    );
    const other = await podnet("/release", ["ipam", "release", "--from-report", report]);
    expect(other.code).toBe(2);
    expect(other.stderr).toBe(
      `podnet: ${report} is a report for prefix /elsewhere, not /release; pass --prefix /elsewhere to release from it\n`,
    );
    const bad = join(dir, "bad.json");
    await writeFile(bad, '{"version": 1, "prefix": "/release", ');
    const malformed = await podnet("/release", ["ipam", "release", "--from-report", bad]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.trim().split("\n")).toHaveLength(1);
    expect(malformed.stderr).toContain("is not a podnet ipam report: it is not valid JSON");
    const missing = await podnet("/release", ["ipam", "release", "--from-report", join(dir, "nope.json")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file");
  });
});

/** Checks that a document is well-formed XML: one root, every tag closed in order, entities valid. */
function expectWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(
    /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/g,
  )) {
    if (m[2] === undefined) throw new Error(`stray "${m[0]}" at ${m.index}`);
    if (m[1] === "/") {
      expect(stack.pop(), `closing </${m[2]}> at ${m.index}`).toBe(m[2]);
    } else {
      if (stack.length === 0) roots++;
      if (m[4] !== "/") stack.push(m[2]);
    }
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}
