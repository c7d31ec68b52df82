/**
 * The impact of a config change, end to end on the built podnet: `config set`, `config diff`,
 * `config rollback` and the `ifconfig` setter show which live leases a change orphans and
 * which data-plane settings it changes, and refuse disruption without --allow-disruption.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type Store } from "@podnet/ipam-core";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { flannelVxlanValue } from "@podnet/test-harness/flannel";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const etcd = useEtcd();
useTempDirs();
let store: Store;
let dir: string;

const doc = (network: string, vni = 1) =>
  `{\n  "Network": "${network}",\n  "SubnetLen": 24,\n  "Backend": { "Type": "vxlan", "VNI": ${vni} }\n}\n`;
const BASE = doc("10.5.0.0/16");

/** Ten hosts: five low in the /16, five high (outside 10.5.0.0/17). */
const LOW = [1, 2, 3, 4, 5];
const HIGH = [130, 131, 132, 133, 134];

beforeAll(async () => {
  store = await connect({ endpoints: etcd().endpoints, dialTimeoutMs: 5000, commandTimeoutMs: 5000 });
  dir = await tempDir();
});
afterAll(() => store?.close());

function podnet(prefix: string, ...args: string[]): Promise<RunPodnetResult> {
  return runPodnet(["--endpoints", etcd().endpoints.join(","), "--prefix", prefix, ...args]);
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** A network at `prefix` with the base config and ten live leases (each on its own etcd lease). */
async function network(prefix: string): Promise<void> {
  await store.txn([], [{ put: `${prefix}/config`, value: BASE }]);
  for (const i of [...LOW, ...HIGH]) {
    const lease = await store.grant(3600);
    const value = flannelVxlanValue(`192.0.2.${i}`, `0e:2a:00:00:00:${i.toString(16).padStart(2, "0")}`);
    await store.txn([], [{ put: `${prefix}/subnets/10.5.${i}.0-24`, value, lease }]);
  }
}

async function storedConfig(prefix: string): Promise<string | undefined> {
  return (await store.get(`${prefix}/config`)).value?.value.toString("utf8");
}

interface Impact {
  hosts: number;
  unchanged: number;
  disruptive: boolean;
  orphaned: { subnet: string; publicIP: string; reservation: boolean; reason: string }[];
  dataPlane: { setting: string; from: unknown; to: unknown }[];
}

describe("config change impact", () => {
  it("narrowing lists exactly the leases outside, refuses without the flag, writes with it", async () => {
    const prefix = "/narrow/network";
    await network(prefix);
    const narrow = await file("narrow.json", doc("10.5.0.0/17"));

    const refused = await podnet(prefix, "config", "set", narrow, "-o", "json");
    expect(refused.code).toBe(1);
    const out = JSON.parse(refused.stdout) as { written: boolean; refused: boolean; impact: Impact };
    expect(out).toMatchObject({ written: false, refused: true });
    expect(out.impact.orphaned.map((o) => [o.subnet, o.publicIP, o.reason])).toEqual(
      HIGH.map((i) => [`10.5.${i}.0/24`, `192.0.2.${i}`, "outside-range"]),
    );
    expect(out.impact).toMatchObject({ hosts: 10, unchanged: 5, disruptive: true, dataPlane: [] });
    expect(await storedConfig(prefix)).toBe(BASE);

    const human = await podnet(prefix, "config", "set", narrow);
    expect(human.code).toBe(1);
    for (const i of HIGH) expect(human.stdout).toContain(`10.5.${i}.0/24 (PublicIP 192.0.2.${i})`);
    for (const i of LOW) expect(human.stdout).not.toContain(`10.5.${i}.0/24`);
    expect(human.stdout).toMatch(/refused: .*--allow-disruption/);
    expect(await storedConfig(prefix)).toBe(BASE);

    const diff = await podnet(prefix, "config", "diff", narrow, "-o", "json");
    const diffOut = JSON.parse(diff.stdout) as { impact: Impact };
    expect(diffOut.impact.orphaned).toHaveLength(5);

    const allowed = await podnet(prefix, "config", "set", narrow, "--allow-disruption", "-o", "json");
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ written: true, refused: false });
    expect(await storedConfig(prefix)).toBe(doc("10.5.0.0/17"));
  });

  it("widening needs no flag", async () => {
    const prefix = "/widen/network";
    await network(prefix);
    const wide = await file("wide.json", doc("10.4.0.0/14"));
    const r = await podnet(prefix, "config", "set", wide, "-o", "json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { written: boolean; impact: Impact };
    expect(out.written).toBe(true);
    expect(out.impact).toMatchObject({
      hosts: 10,
      unchanged: 10,
      disruptive: false,
      orphaned: [],
      dataPlane: [],
    });
    expect(await storedConfig(prefix)).toBe(doc("10.4.0.0/14"));
  });

  it("a VNI change is named disruptive, by config set, the ifconfig setter and rollback", async () => {
    const prefix = "/vni/network";
    await network(prefix);
    const vni2 = await file("vni2.json", doc("10.5.0.0/16", 2));

    const set = await podnet(prefix, "config", "set", vni2, "-o", "json");
    expect(set.code).toBe(1);
    const out = JSON.parse(set.stdout) as { impact: Impact };
    expect(out.impact.dataPlane).toEqual([{ setting: "Backend.VNI", from: 1, to: 2 }]);
    expect(out.impact).toMatchObject({ disruptive: true, unchanged: 0, orphaned: [] });

    const ifconfig = await podnet(prefix, "ifconfig", "flannel.2", "vni", "2");
    expect(ifconfig.code).toBe(1);
    expect(ifconfig.stdout).toContain("data plane: Backend.VNI 1 -> 2");
    expect(await storedConfig(prefix)).toBe(BASE);

    const base = (await store.get(`${prefix}/config`)).value?.modRevision;
    const written = await podnet(prefix, "config", "set", vni2, "--allow-disruption");
    expect(written.code).toBe(0);
    const back = await podnet(prefix, "config", "rollback", String(base));
    expect(back.code).toBe(1);
    expect(back.stdout).toContain("data plane: Backend.VNI 2 -> 1");
    expect(await storedConfig(prefix)).toBe(doc("10.5.0.0/16", 2));
    const backAllowed = await podnet(prefix, "config", "rollback", String(base), "--allow-disruption");
    expect(backAllowed.code).toBe(0);
    expect(await storedConfig(prefix)).toBe(BASE);
  });
});
