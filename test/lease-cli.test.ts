/**
 * `podnet lease` end to end: the built binary against a real etcd, checked with etcdctl and
 * the subnet file's bytes.
 */
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const VXLAN_CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const MAC = "c6:d2:32:6f:8f:44";

useTempDirs();

/** No command may ever show a stack trace. */
function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

interface LeaseJson {
  subnet: string | null;
  ipv6Subnet: string | null;
  publicIP: string;
  publicIPv6: string | null;
  backendType: string | null;
  backendData: unknown;
  etcdLease: string;
  ttlSeconds: number | null;
  reservation: boolean;
  key: string;
  modRevision: number;
  outcome?: string;
}

interface ListJson {
  revision: number;
  leases: LeaseJson[];
  damaged: { key: string; reason: string }[];
  foreign: { key: string; reason: string }[];
}

describe.skipIf(!etcdAvailable())("podnet lease against a real etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  /** Runs podnet under its own prefix, so each test owns its keyspace. */
  const podnet = async (prefix: string, args: string[]) => {
    const r = await runPodnet(["--prefix", prefix, ...args], { env: env() });
    expectNoStack(r);
    return r;
  };
  const json = async <T>(prefix: string, args: string[]): Promise<T> => {
    const r = await podnet(prefix, [...args, "-o", "json"]);
    expect(r.stderr.replace(/^podnet: warning: .*\n/gm, "")).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const setConfig = (prefix: string, doc = VXLAN_CONFIG) =>
    etcd().etcdctlOk(["put", `${prefix}/config`], { input: doc });
  const storedValue = async (key: string) =>
    (await etcd().etcdctlOk(["get", key, "--print-value-only"])).trimEnd();

  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it("acquire writes flannel's exact value and subnet file; a second acquire reuses the lease", async () => {
    const prefix = "/acquire";
    await setConfig(prefix);
    const file = join(dir, "run", "flannel", "subnet.env");
    const first = await json<LeaseJson>(prefix, [
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.7",
      "--vtep-mac",
      MAC.toUpperCase(),
      "--subnet-file",
      file,
    ]);
    expect(first.outcome).toBe("new");
    expect(first.subnet).toMatch(/^10\.5\.\d+\.0\/24$/);
    expect(first.reservation).toBe(false);
    expect(first.ttlSeconds).toBeGreaterThan(86_000);
    const name = (first.subnet ?? "").replace("/", "-");
    expect(first.key).toBe(`${prefix}/subnets/${name}`);
    expect(await storedValue(first.key)).toBe(
      `{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    );
    const third = (first.subnet ?? "").split(".")[2];
    expect(await readFile(file, "utf8")).toBe(
      `FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.${third}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
    );
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, "run", "flannel"))).toEqual(["subnet.env"]);

    const again = await json<LeaseJson>(prefix, [
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.7",
      "--vtep-mac",
      MAC,
      "--subnet-file",
      file,
    ]);
    expect(again.outcome).toBe("reused");
    expect(again.subnet).toBe(first.subnet);
    expect(again.etcdLease).toBe(first.etcdLease);
  });

  it("acquire leaves no etcd lease behind and prints etcd's TTL: the grant's, the renewal's, none for a reservation", async () => {
    const prefix = "/acquire-grants";
    await setConfig(prefix);
    // The etcd leases there are (this file's tests run one at a time on their etcd).
    const leases = async () =>
      (await etcd().etcdctlOk(["lease", "list"])).split("\n").filter((l) => /^[0-9a-f]+$/.test(l));
    const acquire = (ip: string, ...more: string[]) =>
      json<LeaseJson>(prefix, ["lease", "acquire", "--public-ip", ip, "--vtep-mac", MAC, ...more]);
    const before = new Set(await leases());
    const made = await acquire("192.0.2.60", "--ttl", "90m");
    expect(made.outcome).toBe("new");
    expect(made.ttlSeconds).toBe(5400); // the grant's answer, not a look-up a second later
    // etcdctl lists ids as 16 hex digits, leading zeros and all.
    const made16 = BigInt(made.etcdLease).toString(16).padStart(16, "0");
    expect(new Set(await leases())).toEqual(new Set([...before, made16]));
    // The one-shot acquire asks for a grant beside its scan; the host's lease is reused, and
    // the grant is revoked before the process exits.
    const reused = await acquire("192.0.2.60");
    expect(reused.outcome).toBe("reused");
    expect(reused.etcdLease).toBe(made.etcdLease);
    expect(reused.ttlSeconds).toBe(5400); // the renewal's answer: the lease's own TTL
    expect(new Set(await leases())).toEqual(new Set([...before, made16]));
    // A refused request (vxlan without a VtepMAC) revokes its grant too.
    const refused = await podnet(prefix, ["lease", "acquire", "--public-ip", "192.0.2.61"]);
    expect(refused.code).toBe(2);
    expect(new Set(await leases())).toEqual(new Set([...before, made16]));
    // A reservation is reused as it is: no TTL, and no etcd lease left over.
    await etcd().etcdctlOk(["put", `${prefix}/subnets/10.5.250.0-24`], {
      input: `{"PublicIP":"192.0.2.62","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    });
    const reserved = await acquire("192.0.2.62");
    expect(reserved.outcome).toBe("reused");
    expect(reserved.reservation).toBe(true);
    expect(reserved.ttlSeconds).toBeNull();
    expect(new Set(await leases())).toEqual(new Set([...before, made16]));
    await podnet(prefix, ["lease", "release", "--public-ip", "192.0.2.60"]);
  });

  it("acquire takes the subnet file's previous subnet when it is free", async () => {
    const prefix = "/hint";
    await setConfig(prefix);
    const file = join(dir, "hint.env");
    await writeFile(file, '# by hand\nexport FLANNEL_SUBNET="10.5.33.1/24"\nFLANNEL_MTU=1450\n');
    const r = await podnet(prefix, [
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.20",
      "--no-vtep-mac",
      "--subnet-file",
      file,
      "--mtu",
      "8950",
      "--ip-masq",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Subnet:\s+10\.5\.33\.0\/24$/m);
    expect(r.stdout).toMatch(/^Outcome:\s+previous/m);
    expect(await readFile(file, "utf8")).toBe(
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.33.1/24\nFLANNEL_MTU=8950\nFLANNEL_IPMASQ=true\n",
    );
    expect(await storedValue(`${prefix}/subnets/10.5.33.0-24`)).toBe(
      '{"PublicIP":"192.0.2.20","PublicIPv6":null,"BackendType":"vxlan"}',
    );
  });

  it("list and show, in table and json; damaged and foreign entries are warnings, not failures", async () => {
    const prefix = "/list";
    await setConfig(prefix);
    await etcd().etcdctlOk(["put", `${prefix}/subnets/10.5.7.0-24`], {
      input: `{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`,
    });
    // The damaged and foreign keys go in first: the acquire below draws a random subnet, which
    // must not be the one a later put would overwrite.
    await etcd().etcdctlOk(["put", `${prefix}/subnets/not-a-subnet`, "hello"]);
    await etcd().etcdctlOk(["put", `${prefix}/subnets/10.5.9.0-24`, "{broken"]);
    expect(
      (
        await podnet(prefix, [
          "lease",
          "acquire",
          "--public-ip",
          "192.0.2.8",
          "--no-vtep-mac",
          "--ttl",
          "90m",
        ])
      ).code,
    ).toBe(0);

    const table = await podnet(prefix, ["lease", "list"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines[0]).toMatch(/^SUBNET\s+PUBLIC-IP\s+BACKEND\s+VTEP-MAC\s+TTL$/);
    expect(table.stdout).toMatch(
      new RegExp(`^10\\.5\\.7\\.0/24\\s+192\\.0\\.2\\.7\\s+vxlan\\s+${MAC}\\s+reserved$`, "m"),
    );
    expect(table.stdout).toMatch(/^10\.5\.\d+\.0\/24\s+192\.0\.2\.8\s+vxlan\s+-\s+1h(29|30)m$/m);
    expect(table.stdout).toMatch(
      /1 lease, 1 reservation at revision \d+; 2 entries skipped: 1 damaged, 1 foreign/,
    );
    const warnings = table.stderr.trimEnd().split("\n");
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(
      /^podnet: warning: \/list\/subnets\/10\.5\.9\.0-24: damaged lease \(value is not valid JSON\)/,
    );
    expect(warnings[1]).toMatch(/^podnet: warning: \/list\/subnets\/not-a-subnet: foreign key/);

    const listed = await json<ListJson>(prefix, ["lease", "list"]);
    expect(listed.revision).toBeGreaterThan(0);
    expect(listed.leases.map((l) => l.publicIP).sort()).toEqual(["192.0.2.7", "192.0.2.8"]);
    const reservation = listed.leases.find((l) => l.publicIP === "192.0.2.7");
    expect(Object.keys(reservation ?? {})).toEqual([
      "subnet",
      "ipv6Subnet",
      "publicIP",
      "publicIPv6",
      "backendType",
      "backendData",
      "etcdLease",
      "ttlSeconds",
      "reservation",
      "key",
      "modRevision",
    ]);
    expect(reservation).toMatchObject({
      subnet: "10.5.7.0/24",
      backendData: { VNI: 1, VtepMAC: MAC },
      etcdLease: "0",
      ttlSeconds: null,
      reservation: true,
    });
    expect(listed.damaged).toEqual([expect.objectContaining({ key: `${prefix}/subnets/10.5.9.0-24` })]);
    expect(listed.foreign).toEqual([expect.objectContaining({ key: `${prefix}/subnets/not-a-subnet` })]);

    const bySubnet = await podnet(prefix, ["lease", "show", "10.5.7.0/24"]);
    expect(bySubnet.code).toBe(0);
    expect(bySubnet.stdout).toMatch(/^PublicIP:\s+192\.0\.2\.7$/m);
    expect(bySubnet.stdout).toMatch(/^TTL:\s+reserved$/m);
    for (const arg of ["10.5.7.0-24", "10.5.7.200", "192.0.2.7"]) {
      expect((await json<LeaseJson>(prefix, ["lease", "show", arg])).subnet).toBe("10.5.7.0/24");
    }
    const byOwner = await json<LeaseJson>(prefix, ["lease", "show", "192.0.2.8"]);
    expect(byOwner.ttlSeconds).toBeGreaterThan(5000);

    const missing = await podnet(prefix, ["lease", "show", "10.5.200.0/24"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      "podnet: no lease holds subnet 10.5.200.0/24; 'podnet lease list' shows the leases\n",
    );
  });

  it("reserve makes a key with no etcd lease; unreserve and release delete, saying what happened", async () => {
    const prefix = "/reserve";
    await setConfig(prefix);
    const reserved = await json<LeaseJson>(prefix, [
      "lease",
      "reserve",
      "10.5.77.0/24",
      "--public-ip",
      "192.0.2.77",
      "--vtep-mac",
      MAC,
    ]);
    expect(reserved).toMatchObject({
      subnet: "10.5.77.0/24",
      reservation: true,
      ttlSeconds: null,
      etcdLease: "0",
    });
    const key = `${prefix}/subnets/10.5.77.0-24`;
    const raw = JSON.parse(await etcd().etcdctlOk(["get", key, "-w", "json"])) as {
      kvs: { lease?: number }[];
    };
    expect(raw.kvs).toHaveLength(1);
    expect(raw.kvs[0]?.lease ?? 0).toBe(0);
    const listed = await json<ListJson>(prefix, ["lease", "list"]);
    expect(listed.leases).toEqual([expect.objectContaining({ subnet: "10.5.77.0/24", ttlSeconds: null })]);
    expect((await podnet(prefix, ["lease", "list"])).stdout).toMatch(
      /10\.5\.77\.0\/24\s+192\.0\.2\.77.*reserved/,
    );

    // renewing a reservation keeps it a reservation
    const renewed = await json<{ renewed: LeaseJson[] }>(prefix, [
      "lease",
      "renew",
      "10.5.77.0-24",
      "--public-ip",
      "192.0.2.77",
    ]);
    expect(renewed.renewed).toEqual([expect.objectContaining({ reservation: true, ttlSeconds: null })]);

    const un = await podnet(prefix, ["lease", "unreserve", "10.5.77.0/24"]);
    expect(un.code).toBe(0);
    expect(un.stdout).toMatch(/^unreserved 10\.5\.77\.0\/24 \(was reserved for 192\.0\.2\.77\)/);
    expect(await etcd().etcdctlOk(["get", key])).toBe("");

    const acquired = await json<LeaseJson>(prefix, [
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.78",
      "--vtep-mac",
      "0e:00:00:00:00:78",
    ]);
    const refused = await podnet(prefix, ["lease", "unreserve", acquired.subnet ?? ""]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is a live lease, not a reservation; release it instead/);

    const renewedLive = await json<{ renewed: LeaseJson[] }>(prefix, [
      "lease",
      "renew",
      "--public-ip",
      "192.0.2.78",
    ]);
    expect(renewedLive.renewed[0]?.ttlSeconds).toBeGreaterThan(86_000);

    const released = await podnet(prefix, ["lease", "release", "--public-ip", "192.0.2.78"]);
    expect(released.code).toBe(0);
    expect(released.stdout).toMatch(
      /^released 10\.5\.\d+\.0\/24 \(held by 192\.0\.2\.78\): deleted .*etcd lease [0-9a-f]+ \(\d+\) revoked$/m,
    );
    expect(await etcd().etcdctlOk(["get", acquired.key])).toBe("");
    const ttl = await etcd().etcdctlOk(["lease", "timetolive", BigInt(acquired.etcdLease).toString(16)]);
    expect(ttl).toMatch(/already expired/);

    const again = await podnet(prefix, ["lease", "release", "--public-ip", "192.0.2.78"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("podnet: 192.0.2.78 holds no lease; 'podnet lease list' shows the leases\n");
  });

  it("out of subnets exits 1 with the registry's sentence; nothing is overwritten", async () => {
    const prefix = "/small";
    await setConfig(
      prefix,
      '{"Network":"10.7.0.0/16","SubnetLen":24,"SubnetMin":"10.7.1.0","SubnetMax":"10.7.2.0","Backend":{"Type":"host-gw"}}',
    );
    for (const ip of ["10.0.0.1", "10.0.0.2"]) {
      expect((await podnet(prefix, ["lease", "acquire", "--public-ip", ip])).code).toBe(0);
    }
    const r = await podnet(prefix, ["lease", "acquire", "--public-ip", "10.0.0.3"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "podnet: out of subnets: every subnet of 10.7.1.0 … 10.7.2.0 (/24), 2 in all, is leased or reserved; release unused leases or widen the network\n",
    );
    const listed = await json<ListJson>(prefix, ["lease", "list"]);
    expect(listed.leases.map((l) => [l.publicIP, l.backendType])).toEqual([
      expect.arrayContaining([expect.stringMatching(/^10\.0\.0\.[12]$/), "host-gw"]),
      expect.arrayContaining([expect.stringMatching(/^10\.0\.0\.[12]$/), "host-gw"]),
    ]);
  });

  it("bad input exits 2 with one line; a missing or invalid config exits 1 naming it", async () => {
    const prefix = "/errors";
    for (const [args, message] of [
      [["--public-ip", "192.0.2"], '--public-ip "192.0.2" is not an IPv4 address'],
      [["--public-ip", "192.0.2.1", "--public-ipv6", "fc00::g"], "--public-ipv6"],
      [["--public-ip", "192.0.2.1", "--vtep-mac", "c6:d2"], "--vtep-mac"],
      [["--public-ip", "192.0.2.1", "--backend-data", "{nope"], "--backend-data is not valid JSON"],
      [["--public-ip", "192.0.2.1", "--ttl", "forever"], "--ttl"],
      [[], "required option '--public-ip <ip>' not specified"],
    ] as const) {
      const r = await podnet(prefix, ["lease", "acquire", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toContain(message);
      expect(r.stderr.split("\n")[0]).toMatch(/^podnet: /);
    }
    const badSubnet = await podnet(prefix, ["lease", "show", "10.5.7.1/24"]);
    expect(badSubnet.code).toBe(2);
    expect(badSubnet.stderr).toBe(
      "podnet: 10.5.7.1/24 is not a subnet (its host bits are set); did you mean 10.5.7.0/24?\n",
    );

    const missing = await podnet(prefix, ["lease", "acquire", "--public-ip", "192.0.2.1", "--no-vtep-mac"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^podnet: flannel config not found in etcd store at \/errors\/config\./);

    await setConfig(prefix, '{"Network":"10.5.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}');
    const invalid = await podnet(prefix, ["lease", "acquire", "--public-ip", "192.0.2.1", "--no-vtep-mac"]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(
      "podnet: the network config at /errors/config is invalid: /SubnetLen: SubnetLen must be less than /31; 'podnet config validate' explains and 'podnet config set FILE' replaces it\n",
    );
    expect(await etcd().etcdctlOk(["get", "--prefix", `${prefix}/subnets/`])).toBe("");

    const file = join(dir, "broken.env");
    await writeFile(file, "FLANNEL_SUBNET=banana\n");
    await setConfig(prefix);
    const broken = await podnet(prefix, [
      "lease",
      "acquire",
      "--public-ip",
      "192.0.2.1",
      "--no-vtep-mac",
      "--subnet-file",
      file,
    ]);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/broken\.env line 1: FLANNEL_SUBNET=banana is not an IPv4 CIDR/);
    expect(await readFile(file, "utf8")).toBe("FLANNEL_SUBNET=banana\n");
  });
});
