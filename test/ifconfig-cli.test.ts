/**
 * `podnet ifconfig` end to end: the built binary against a real etcd holding a config and
 * leases written in flanneld's exact format by etcdctl; with root, a real flannel.1 device in
 * a throwaway network namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { PODNET_BIN, type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const MAC = "c6:d2:32:6f:8f:44";
const leaseValue = (publicIP: string, mac: string) =>
  `{"PublicIP":"${publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;

useTempDirs();

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

interface IfconfigJson {
  configKey: string;
  device: string | null;
  backend: Record<string, unknown>;
  flags: string[];
  mtu: number | null;
  mtuSource: string;
  network: {
    network: string;
    subnetLen: number;
    subnetMin: string;
    subnetMax: string;
    subnets: number;
    leased: number;
    reserved: number;
  } | null;
  ipv6Network: unknown;
  lease: {
    subnet: string;
    vtepMAC: string | null;
    publicIP: string;
    ttlSeconds: number | null;
    reservation: boolean;
    key: string;
    foundBy: string;
  } | null;
  leaseNote: string | null;
  localDevice: {
    name: string;
    mtu: number;
    mac: string;
    vni?: number;
    addresses: string[];
    stats?: { rxPackets: number; txPackets: number; txDropped: number };
  } | null;
}

describe.skipIf(!etcdAvailable())("podnet ifconfig against a real etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  let dir: string;
  let noFile: string;
  beforeAll(async () => {
    dir = await tempDir();
    noFile = join(dir, "absent.env");
  });

  const podnet = async (prefix: string, args: string[]) => {
    const r = await runPodnet(["--prefix", prefix, ...args], { env: env() });
    expectNoStack(r);
    return r;
  };
  const stored = async (prefix: string) =>
    (await etcd().etcdctlOk(["get", `${prefix}/config`, "--print-value-only"])).replace(/\n$/, "");
  const revisionOf = async (prefix: string) => {
    const out = await etcd().etcdctlOk(["get", `${prefix}/config`, "-w", "json"]);
    const kvs = (JSON.parse(out) as { kvs?: { mod_revision: number }[] }).kvs;
    return kvs?.[0]?.mod_revision ?? 0;
  };
  /** A config plus three leases (two with an etcd lease of 3600 s, one reservation), as flanneld writes them. */
  const seed = async (prefix: string, config = CONFIG) => {
    await etcd().etcdctlOk(["put", `${prefix}/config`], { input: config });
    const grant = await etcd().etcdctlOk(["lease", "grant", "3600"]);
    const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
    expect(id).toBeDefined();
    await etcd().etcdctlOk(["put", `--lease=${id}`, `${prefix}/subnets/10.5.52.0-24`], {
      input: leaseValue("192.0.2.7", MAC),
    });
    await etcd().etcdctlOk(["put", `--lease=${id}`, `${prefix}/subnets/10.5.7.0-24`], {
      input: leaseValue("192.0.2.8", "0e:11:22:33:44:55"),
    });
    await etcd().etcdctlOk(["put", `${prefix}/subnets/10.5.9.0-24`], {
      input: '{"PublicIP":"192.0.2.9","PublicIPv6":null}',
    });
  };

  it("shows the overlay without a lease of this host", async () => {
    await seed("/show");
    const r = await podnet("/show", ["ifconfig", "--subnet-file", noFile]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^flannel\.1: flags=<VXLAN> {2}mtu \(underlay MTU - 50\)$/);
    expect(lines[1]).toBe(
      "        network 10.5.0.0/16  subnetlen 24  range 10.5.1.0 - 10.5.255.0 (255 subnets, 2 leased, 1 reserved)",
    );
    expect(lines[2]).toBe(
      "        vxlan vni 1  port 8472 (kernel default)  learning off  gbp off  directrouting off",
    );
    expect(lines[3]).toMatch(/^ {8}lease none \(no subnet file at .*absent\.env; .*give --public-ip/);
  });

  it("finds this host's lease by --public-ip and by the subnet file", async () => {
    const byIp = await podnet("/show", ["ifconfig", "--public-ip", "192.0.2.7", "--subnet-file", noFile]);
    expect(byIp.code).toBe(0);
    expect(byIp.stdout).toMatch(
      /\n {8}lease 10\.5\.52\.0\/24 {2}vtep c6:d2:32:6f:8f:44 {2}public 192\.0\.2\.7 {2}ttl (59m\d\ds|1h00m)\n/,
    );
    const file = join(dir, "subnet.env");
    await writeFile(
      file,
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
    const byFile = await podnet("/show", ["ifconfig", "--subnet-file", file]);
    expect(byFile.code).toBe(0);
    expect(byFile.stdout).toMatch(/\n {8}lease 10\.5\.9\.0\/24 {2}public 192\.0\.2\.9 {2}ttl reserved\n/);
    const nobody = await podnet("/show", ["ifconfig", "--public-ip", "192.0.2.99"]);
    expect(nobody.stdout).toMatch(/lease none \(192\.0\.2\.99 holds no lease\)/);
  });

  it("-o json has stable field names; the config's MTU gives the device MTU", async () => {
    await seed(
      "/json",
      '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":1,"MTU":1500,"Port":4789}}',
    );
    const r = await podnet("/json", ["ifconfig", "--public-ip", "192.0.2.7", "-o", "json"]);
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout) as IfconfigJson;
    expect(data).toMatchObject({
      configKey: "/json/config",
      device: "flannel.1",
      flags: ["VXLAN"],
      mtu: 1450,
      mtuSource: "config",
      backend: {
        Type: "vxlan",
        VNI: 1,
        Port: 4789,
        MTU: 1500,
        GBP: false,
        Learning: false,
        DirectRouting: false,
      },
      network: {
        network: "10.5.0.0/16",
        subnetLen: 24,
        subnetMin: "10.5.1.0",
        subnetMax: "10.5.255.0",
        subnets: 255,
        leased: 2,
        reserved: 1,
      },
      ipv6Network: null,
      lease: {
        subnet: "10.5.52.0/24",
        vtepMAC: MAC,
        publicIP: "192.0.2.7",
        reservation: false,
        key: "/json/subnets/10.5.52.0-24",
        foundBy: "public-ip",
      },
    });
    expect(data.lease?.ttlSeconds).toBeGreaterThan(3500);
    const simple = await podnet("/json", ["ifconfig", "--public-ip", "192.0.2.7", "-o", "simple"]);
    expect(simple.stdout).toContain("device\tflannel.1\n");
    expect(simple.stdout).toContain("mtu\t1450\n");
    expect(simple.stdout).toContain("lease\t10.5.52.0/24\n");
  });

  it("without a config: flannel's words, exit 1", async () => {
    const r = await podnet("/nothing", ["ifconfig"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podnet: flannel config not found in etcd store at \/nothing\/config/);
  });

  it("sets the config from scratch in ifconfig's grammar", async () => {
    const r = await podnet("/scratch", [
      ..."ifconfig flannel.1 10.5.0.0/16 subnetlen 24 min 10.5.1.0 max 10.5.200.0 vxlan vni 1 port 8472 mtu 1500 -gbp directrouting".split(
        " ",
      ),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote \/scratch\/config at revision \d+/);
    expect(r.stderr).toMatch(/Port 8472 is the kernel's VXLAN default/);
    expect(await stored("/scratch")).toBe(
      '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.200.0","Backend":{"Type":"vxlan","VNI":1,"Port":8472,"MTU":1500,"GBP":false,"DirectRouting":true}}',
    );
    const shown = await podnet("/scratch", ["ifconfig", "flannel.1", "--subnet-file", noFile]);
    expect(shown.stdout).toMatch(/^flannel\.1: flags=<VXLAN> {2}mtu 1450\n/);
    expect(shown.stdout).toContain("range 10.5.1.0 - 10.5.200.0 (200 subnets, 0 leased)");
    expect(shown.stdout).toContain("vxlan vni 1  port 8472  learning off  gbp off  directrouting on");
  });

  it("on top of a stored config changes only what the words name, byte for byte", async () => {
    const doc = '{\n  "network": "10.5.0.0/16",\n  "Backend": {\n    "type": "vxlan",\n    "VNI": 1\n  }\n}';
    await etcd().etcdctlOk(["put", "/ontop/config"], { input: doc });
    const r = await podnet("/ontop", ["ifconfig", "flannel.1", "port", "4789"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\+\s+"Port": 4789/);
    expect(await stored("/ontop")).toBe(
      '{\n  "network": "10.5.0.0/16",\n  "Backend": {\n    "type": "vxlan",\n    "VNI": 1,\n    "Port": 4789\n  }\n}',
    );
    const again = await podnet("/ontop", ["ifconfig", "flannel.1", "port", "4789"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already holds this document/);
  });

  it("--dry-run shows the diff and writes nothing", async () => {
    await etcd().etcdctlOk(["put", "/dry/config"], { input: CONFIG });
    const before = await revisionOf("/dry");
    const r = await podnet("/dry", ["ifconfig", "subnetlen", "26", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run: \/dry\/config would change as above; nothing was written/);
    expect(r.stdout).toContain('"SubnetLen":26');
    expect(await revisionOf("/dry")).toBe(before);
    expect(await stored("/dry")).toBe(CONFIG);
  });

  it("an invalid result exits 3 and writes nothing", async () => {
    await etcd().etcdctlOk(["put", "/invalid/config"], { input: CONFIG });
    const before = await revisionOf("/invalid");
    const r = await podnet("/invalid", ["ifconfig", "vni", "16777215"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/flannel\.16777215 16 characters long; Linux allows at most 15/);
    expect(r.stderr).toMatch(/nothing was written/);
    expect(await revisionOf("/invalid")).toBe(before);
    const wide = await podnet("/invalid", ["ifconfig", "vni", "99999999"]);
    expect(wide.code).toBe(3);
    expect(wide.stderr).toMatch(/VNI must be an integer from 0 to 16777215/);
    const json = await podnet("/invalid", ["ifconfig", "vni", "99999999", "-o", "json"]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ written: false, valid: false });
  });

  it("an unknown word or a misplaced flag is a usage error (exit 2), nothing written", async () => {
    await etcd().etcdctlOk(["put", "/usage/config"], { input: CONFIG });
    const before = await revisionOf("/usage");
    const r = await podnet("/usage", ["ifconfig", "flannel.1", "10.5.0.0/16", "vxaln"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('podnet: unknown word "vxaln"; did you mean "vxlan"?\n');
    const neg = await podnet("/usage", ["ifconfig", "-arp"]);
    expect(neg.code).toBe(2);
    expect(neg.stderr).toMatch(/^podnet: unknown word "-arp"/);
    const mismatch = await podnet("/usage", ["ifconfig", "flannel.1", "vni", "2"]);
    expect(mismatch.code).toBe(2);
    const misplaced = await podnet("/usage", ["ifconfig", "port", "4789", "--public-ip", "192.0.2.7"]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--public-ip applies only when showing/);
    const wrongDevice = await podnet("/usage", ["ifconfig", "flannel.2"]);
    expect(wrongDevice.code).toBe(1);
    expect(wrongDevice.stderr).toMatch(
      /flannel\.2 is not this network's overlay device; .* makes flannel\.1/,
    );
    const wrongSetter = await podnet("/usage", ["ifconfig", "flannel.2", "mtu", "1400"]);
    expect(wrongSetter.code).toBe(2);
    expect(wrongSetter.stderr).toMatch(
      /^podnet: flannel\.2 is not this network's device: its VNI is 1, so flanneld makes flannel\.1/,
    );
    expect(await revisionOf("/usage")).toBe(before);
  });

  const root = process.getuid?.() === 0 && hasIp();
  it.skipIf(!root)(
    "with -a shows a real flannel.1's counters inside a network namespace (root only)",
    async () => {
      await seed("/netns");
      const ns = `podnet-ifc-${process.pid}`;
      const sock = join(dir, "etcd.sock");
      const [endpoint] = etcd().endpoints;
      const etcdUrl = new URL(endpoint ?? "");
      // The namespace cannot reach the host's loopback: bridge etcd through a unix socket.
      const server: Server = createServer((c) => {
        const up = createConnection({ host: etcdUrl.hostname, port: Number(etcdUrl.port) });
        c.pipe(up).pipe(c);
        c.on("error", () => up.destroy());
        up.on("error", () => c.destroy());
      });
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      let relay: ChildProcess | undefined;
      try {
        ipRun(["netns", "add", ns]);
        for (const cmd of [
          "link set lo up",
          "link add veth0 type veth peer name veth1",
          "link set veth0 up",
          "addr add 192.0.2.7/24 dev veth0",
          "link add flannel.1 type vxlan id 1 local 192.0.2.7 dev veth0 nolearning",
          `link set flannel.1 address ${MAC} mtu 1450 up`,
          "addr add 10.5.52.0/32 dev flannel.1",
        ]) {
          ipRun(["-n", ns, ...cmd.split(" ")]);
        }
        const relayCode = `const net=require("node:net");net.createServer(c=>{const u=net.createConnection(${JSON.stringify(sock)});c.pipe(u).pipe(c);c.on("error",()=>u.destroy());u.on("error",()=>c.destroy())}).listen(2379,"127.0.0.1",()=>console.log("ready"))`;
        const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", relayCode], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        relay = child;
        await new Promise<void>((resolve, reject) => {
          child.stdout?.once("data", () => resolve());
          child.once("exit", (code) => reject(new Error(`relay exited with ${code}`)));
        });
        const inNs = (args: string[]) =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            const p = spawn(
              "ip",
              [
                "netns",
                "exec",
                ns,
                process.execPath,
                PODNET_BIN,
                "--endpoints",
                "http://127.0.0.1:2379",
                ...args,
              ],
              { env: { PATH: process.env["PATH"] ?? "" } },
            );
            let stdout = "";
            let stderr = "";
            p.stdout.on("data", (b: Buffer) => {
              stdout += b.toString();
            });
            p.stderr.on("data", (b: Buffer) => {
              stderr += b.toString();
            });
            p.on("close", (code) => resolve({ code, stdout, stderr }));
          });
        const human = await inNs(["--prefix", "/netns", "ifconfig", "-a", "--subnet-file", noFile]);
        expect(human.code).toBe(0);
        expect(human.stdout).toMatch(/^flannel\.1: flags=<UP,VXLAN> {2}mtu 1450\n/);
        expect(human.stdout).toMatch(
          /\n {8}lease 10\.5\.52\.0\/24 {2}vtep c6:d2:32:6f:8f:44 {2}public 192\.0\.2\.7/,
        );
        expect(human.stdout).toMatch(
          /\n {8}local flannel\.1 up {2}ether c6:d2:32:6f:8f:44 {2}inet 10\.5\.52\.0\/32 {2}vni 1/,
        );
        expect(human.stdout).toMatch(
          /\n {8}RX packets \d+ {2}bytes \d+ \([\d.]+ \w+\) {2}errors \d+ {2}dropped \d+\n/,
        );
        expect(human.stdout).toMatch(
          /\n {8}TX packets \d+ {2}bytes \d+ \([\d.]+ \w+\) {2}errors \d+ {2}dropped \d+\n?$/,
        );
        const r = await inNs(["--prefix", "/netns", "ifconfig", "-a", "--subnet-file", noFile, "-o", "json"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const data = JSON.parse(r.stdout) as IfconfigJson;
        expect(data.flags).toEqual(["UP", "VXLAN"]);
        expect(data.mtu).toBe(1450);
        expect(data.mtuSource).toBe("device");
        expect(data.lease).toMatchObject({ subnet: "10.5.52.0/24", foundBy: "device", vtepMAC: MAC });
        expect(data.localDevice).toMatchObject({ name: "flannel.1", vni: 1, mac: MAC, mtu: 1450 });
        expect(data.localDevice?.addresses).toContain("10.5.52.0/32");
        expect(data.localDevice?.stats).toBeDefined();
      } finally {
        relay?.kill("SIGKILL");
        server.close();
        try {
          ipRun(["netns", "del", ns]);
        } catch {
          // never created
        }
      }
    },
  );
});

function hasIp(): boolean {
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function ipRun(args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}
