/**
 * `podnet route` end to end: the built binary against a real etcd holding leases written
 * exactly as flanneld writes them (etcdctl lease grant + put --lease), a reservation, a host-gw
 * lease, a foreign key and a damaged value; and, as root, `--kernel` in a throwaway network
 * namespace with a hand-made flannel.1.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { connect, isPodnetError, LeaseRegistry } from "@podnet/ipam-core";
import { type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { putFlannelLease, storedKey } from "@podnet/test-harness/flannel";
import { netnsUnavailableReason } from "@podnet/test-harness/netns";
import { useEtcd } from "@podnet/test-harness/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const VXLAN_CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const flannelVxlan = (ip: string, mac: string) =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;

interface RouteJson {
  dst: string;
  gateway: string;
  dev: string;
  flags: string[];
  publicIP: string;
  vtepMAC: string | null;
  ttlSeconds: number | null;
  reservation: boolean;
  backendType: string | null;
  key: string;
}

function expectNoStack(r: RunPodnetResult): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

/** The one error line of a failed command. */
function errorLine(r: RunPodnetResult): string {
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("podnet: warning:"));
  expect(lines).toHaveLength(1);
  return lines[0] ?? "";
}

const skipNetns = netnsUnavailableReason();

describe.skipIf(!etcdAvailable())("podnet route against a real etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  const podnet = async (prefix: string, args: string[]) => {
    const r = await runPodnet(["--prefix", prefix, ...args], { env: env() });
    expectNoStack(r);
    return r;
  };
  const ctl = (args: string[], input?: string) =>
    etcd().etcdctlOk(args, input === undefined ? {} : { input });
  /** A lease exactly as flanneld makes it: grant, then put --lease. */
  const flannelLease = (key: string, value: string, ttl = 3600) => putFlannelLease(etcd(), key, value, ttl);
  /** The stored key as etcd reports it. */
  const stored = (key: string) => storedKey(etcd(), key);

  /** A keyspace with one of everything `route` must show or skip. */
  const seed = async (prefix: string) => {
    await ctl(["put", `${prefix}/config`], VXLAN_CONFIG);
    const subnets = `${prefix}/subnets`;
    await flannelLease(`${subnets}/10.5.52.0-24`, flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"));
    await ctl(["put", `${subnets}/10.5.7.0-24`, flannelVxlan("192.0.2.9", "aa:bb:cc:00:00:09")]);
    await flannelLease(
      `${subnets}/10.5.9.0-24`,
      '{"PublicIP":"192.0.2.11","PublicIPv6":null,"BackendType":"host-gw"}',
    );
    await ctl(["put", `${subnets}/not-a-subnet`, "hello"]);
    await ctl(["put", `${subnets}/10.5.60.0-24`, "{broken"]);
  };

  it("shows the overlay table like route -n, warns about foreign and damaged entries", async () => {
    await seed("/show");
    const r = await podnet("/show", ["route", "-n"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^Overlay IP routing table \(\/show, revision \d+\)$/);
    expect(lines[1]?.split(/\s+/)).toEqual([
      "Destination",
      "Gateway",
      "Genmask",
      "Flags",
      "Iface",
      "PublicIP",
      "VtepMAC",
      "TTL",
      "Reserved",
    ]);
    const rows = lines.slice(2, 5).map((l) => l.split(/\s+/));
    // Address order, not etcd's key order (10.5.52.0 sorts before 10.5.7.0 as a string).
    expect(rows[0]).toEqual([
      "10.5.7.0",
      "10.5.7.0",
      "255.255.255.0",
      "UGS",
      "flannel.1",
      "192.0.2.9",
      "aa:bb:cc:00:00:09",
      "reserved",
      "yes",
    ]);
    expect(rows[1]?.slice(0, 5)).toEqual(["10.5.9.0", "192.0.2.11", "255.255.255.0", "UG", "host-gw"]);
    expect(rows[1]?.slice(5, 7)).toEqual(["192.0.2.11", "-"]);
    expect(rows[1]?.[7]).toMatch(/^(59m\d\ds|1h00m)$/);
    expect(rows[1]?.[8]).toBe("no");
    expect(rows[2]?.slice(0, 7)).toEqual([
      "10.5.52.0",
      "10.5.52.0",
      "255.255.255.0",
      "UG",
      "flannel.1",
      "192.0.2.7",
      "c6:d2:32:6f:8f:44",
    ]);
    expect(r.stdout).toMatch(/2 leases, 1 reservation; 2 entries skipped: 1 damaged, 1 foreign/);
    expect(r.stderr).toMatch(/^podnet: warning: \/show\/subnets\/not-a-subnet: foreign key/m);
    expect(r.stderr).toMatch(/^podnet: warning: \/show\/subnets\/10\.5\.60\.0-24: damaged lease/m);
    // Without -n the table is the same: there is no default route and no DNS.
    const plain = await podnet("/show", ["route"]);
    const noTtl = (text: string) =>
      text
        .split("\n")
        .slice(1)
        .map((l) => l.replace(/\d+m\d\ds|1h00m/, "TTL"));
    expect(noTtl(plain.stdout)).toEqual(noTtl(r.stdout));
  });

  it("TTL policy: beyond --ttl-auto-max etcd leases TTLs are '-' with one note; --ttl and --no-ttl", async () => {
    const run = (args: string[], max?: string) =>
      runPodnet(["--prefix", "/show", ...args, ...(max !== undefined ? ["--ttl-auto-max", max] : [])], {
        env: env(),
      });
    const notes = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("podnet: note:"));
    const skipped = await run(["route", "-o", "json"], "1");
    expect(skipped.code).toBe(0);
    const routes = (JSON.parse(skipped.stdout) as { revision: number; routes: RouteJson[] }).routes;
    expect(routes.map((x) => [x.dst, x.ttlSeconds, x.reservation])).toEqual([
      ["10.5.7.0/24", null, true],
      ["10.5.9.0/24", null, false],
      ["10.5.52.0/24", null, false],
    ]);
    expect(notes(skipped.stderr)).toEqual([
      expect.stringMatching(/TTLs not looked up for 2 etcd leases .*pass --ttl to fetch them/),
    ]);
    const table = await run(["route", "-n"], "1");
    expect(table.stdout.split("\n")[3]?.split(/\s+/)[7]).toBe("-");
    const forced = await run(["route", "-o", "json", "--ttl"], "1");
    expect(
      (JSON.parse(forced.stdout) as { revision: number; routes: RouteJson[] }).routes[1]?.ttlSeconds,
    ).toBeGreaterThan(3000);
    expect(notes(forced.stderr)).toEqual([]);
    const never = await run(["route", "-o", "json", "--no-ttl"]);
    expect(
      (JSON.parse(never.stdout) as { revision: number; routes: RouteJson[] }).routes[1]?.ttlSeconds,
    ).toBeNull();
    expect(notes(never.stderr)).toEqual([]);
    const leases = await run(["lease", "list", "-o", "json"], "1");
    const listed = JSON.parse(leases.stdout) as { leases: { ttlSeconds: number | null }[] };
    expect(listed.leases.map((l) => l.ttlSeconds)).toEqual([null, null, null]);
    expect(notes(leases.stderr)).toHaveLength(1);
    const within = await run(["lease", "list", "-o", "json"], "2");
    expect(notes(within.stderr)).toEqual([]);
    const show = await run(["ipam", "show", "-o", "json"], "1");
    expect(notes(show.stderr)).toHaveLength(1);
  });

  it("-o json uses iproute2's key names plus the overlay's", async () => {
    const r = await podnet("/show", ["route", "-o", "json"]);
    expect(r.code).toBe(0);
    const routes = (JSON.parse(r.stdout) as { revision: number; routes: RouteJson[] }).routes;
    expect(routes.map((x) => x.dst)).toEqual(["10.5.7.0/24", "10.5.9.0/24", "10.5.52.0/24"]);
    const [reserved, hostGw, vxlan] = routes;
    expect(Object.keys(vxlan ?? {})).toEqual([
      "dst",
      "gateway",
      "dev",
      "flags",
      "publicIP",
      "vtepMAC",
      "ttlSeconds",
      "reservation",
      "backendType",
      "key",
    ]);
    expect(vxlan).toMatchObject({
      gateway: "10.5.52.0",
      dev: "flannel.1",
      flags: ["onlink"],
      publicIP: "192.0.2.7",
      vtepMAC: "c6:d2:32:6f:8f:44",
      reservation: false,
      backendType: "vxlan",
      key: "/show/subnets/10.5.52.0-24",
    });
    expect(vxlan?.ttlSeconds).toBeGreaterThan(3500);
    expect(reserved).toMatchObject({ ttlSeconds: null, reservation: true });
    expect(hostGw).toMatchObject({ gateway: "192.0.2.11", dev: "host-gw", flags: [], vtepMAC: null });
    const simple = await podnet("/show", ["route", "-o", "simple"]);
    expect(simple.stdout.split("\n")[0]?.split("\t").slice(0, 5)).toEqual([
      "10.5.7.0/24",
      "10.5.7.0",
      "255.255.255.0",
      "UGS",
      "flannel.1",
    ]);
  });

  it("route add makes a reservation in flannel's bytes, with no etcd lease", async () => {
    await ctl(["put", "/add/config"], VXLAN_CONFIG);
    const r = await podnet("/add", [
      "route",
      "add",
      "10.5.7.0/24",
      "gw",
      "192.0.2.7",
      "vtep",
      "C6:D2:32:6F:8F:44",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^reserved 10\.5\.7\.0\/24 for 192\.0\.2\.7: \/add\/subnets\/10\.5\.7\.0-24/);
    expect(await stored("/add/subnets/10.5.7.0-24")).toEqual({
      value: flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"),
      lease: "0",
    });
    // Without a MAC: flannel's value with no BackendData (the host fills its own in).
    const refused = await podnet("/add", ["route", "add", "10.5.8.0-24", "gw", "192.0.2.8"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/needs a VtepMAC.*nothing was written; add 'vtep MAC'.*'vtep none'/);
    const bare = await podnet("/add", [
      "route",
      "add",
      "10.5.8.0-24",
      "gw",
      "192.0.2.8",
      "vtep",
      "none",
      "-o",
      "json",
    ]);
    expect(bare.code).toBe(0);
    expect(JSON.parse(bare.stdout)).toEqual([
      expect.objectContaining({ dst: "10.5.8.0/24", reservation: true, vtepMAC: null, ttlSeconds: null }),
    ]);
    expect(await stored("/add/subnets/10.5.8.0-24")).toEqual({
      value: '{"PublicIP":"192.0.2.8","PublicIPv6":null,"BackendType":"vxlan"}',
      lease: "0",
    });
  });

  it("route add refuses a subnet outside the network, another host's subnet, and bad words", async () => {
    await ctl(["put", "/refuse/config"], VXLAN_CONFIG);
    await flannelLease("/refuse/subnets/10.5.52.0-24", flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"));
    const outside = await podnet("/refuse", ["route", "add", "10.6.7.0/24", "gw", "192.0.2.7"]);
    expect(outside.code).toBe(1);
    expect(errorLine(outside)).toMatch(
      /10\.6\.7\.0\/24 is not one of the network's subnets.*nothing was written/,
    );
    const taken = await podnet("/refuse", ["route", "add", "10.5.52.0/24", "gw", "192.0.2.8"]);
    expect(taken.code).toBe(1);
    expect(errorLine(taken)).toMatch(/held by 192\.0\.2\.7/);
    expect((await stored("/refuse/subnets/10.5.52.0-24"))?.value).toBe(
      flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"),
    );
    for (const args of [
      ["route", "add", "10.5.7.0/24"],
      ["route", "add", "10.5.7.0/24", "gw"],
      ["route", "add", "10.5.7.0/24", "via", "192.0.2.7"],
      ["route", "add", "10.5.7.0/24", "gw", "192.0.2"],
      ["route", "add", "10.5.7.1/24", "gw", "192.0.2.7"],
      ["route", "add", "10.5.7.0/24", "gw", "192.0.2.7", "vtep", "c6:d2"],
      ["route", "--bogus"],
      ["route", "--iface", "flannel.1"],
    ]) {
      const r = await podnet("/refuse", args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^podnet: /);
    }
  });

  it("route del removes a reservation; a live lease only with --force", async () => {
    await ctl(["put", "/del/config"], VXLAN_CONFIG);
    await ctl(["put", "/del/subnets/10.5.7.0-24", flannelVxlan("192.0.2.9", "aa:bb:cc:00:00:09")]);
    const id = await flannelLease(
      "/del/subnets/10.5.52.0-24",
      flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"),
    );

    const res = await podnet("/del", ["route", "del", "10.5.7.0/24"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("deleted 10.5.7.0/24: /del/subnets/10.5.7.0-24, the reservation for 192.0.2.9\n");
    expect(await stored("/del/subnets/10.5.7.0-24")).toBeUndefined();

    const refused = await podnet("/del", ["route", "del", "10.5.52.0-24"]);
    expect(refused.code).toBe(1);
    expect(errorLine(refused)).toMatch(
      /10\.5\.52\.0\/24 is a live lease of 192\.0\.2\.7 \(.* left\).*nothing was deleted; pass --force/,
    );
    expect(await stored("/del/subnets/10.5.52.0-24")).toBeDefined();

    const forced = await podnet("/del", ["route", "del", "10.5.52.0/24", "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(
      new RegExp(
        `^deleted 10\\.5\\.52\\.0/24: /del/subnets/10\\.5\\.52\\.0-24, the lease of 192\\.0\\.2\\.7 .*etcd lease ${id.replace(/^0+/, "")} `,
      ),
    );
    expect(await stored("/del/subnets/10.5.52.0-24")).toBeUndefined();
    // The etcd lease is revoked, not left to linger for its TTL.
    expect(await ctl(["lease", "timetolive", id])).toMatch(/already expired/);

    const gone = await podnet("/del", ["route", "del", "10.5.52.0/24"]);
    expect(gone.code).toBe(1);
    expect(errorLine(gone)).toMatch(/no lease holds subnet 10\.5\.52\.0\/24/);
  });

  it("the delete route del makes is guarded: a key changed since it was read is not deleted", async () => {
    await ctl(["put", "/guard/subnets/10.5.7.0-24", flannelVxlan("192.0.2.9", "aa:bb:cc:00:00:09")]);
    const store = await connect({
      endpoints: etcd().endpoints,
      dialTimeoutMs: 5000,
      commandTimeoutMs: 5000,
    });
    try {
      const registry = new LeaseRegistry(store, { prefix: "/guard" });
      const [read] = (await registry.list()).leases;
      if (read === undefined) throw new Error("no lease read");
      // Another admin gives the subnet to another host between our read and our delete.
      await ctl(["put", "/guard/subnets/10.5.7.0-24", flannelVxlan("192.0.2.10", "aa:bb:cc:00:00:10")]);
      const err = await registry.unreserve(read.subnet, { expect: read }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPodnetError(err, "conflict")).toBe(true);
      expect((err as Error).message).toMatch(/changed since it was read; nothing was deleted/);
      expect((await stored("/guard/subnets/10.5.7.0-24"))?.value).toBe(
        flannelVxlan("192.0.2.10", "aa:bb:cc:00:00:10"),
      );
      // A reservation that became a live lease meanwhile is not deleted either.
      const [again] = (await registry.list()).leases;
      if (again === undefined) throw new Error("no lease read");
      await flannelLease("/guard/subnets/10.5.7.0-24", again.value);
      await expect(registry.release(again)).rejects.toThrow(/is a reservation .* nothing was deleted/);
      await expect(registry.unreserve(again.subnet, { expect: again })).rejects.toThrow(/changed since/);
      expect(await stored("/guard/subnets/10.5.7.0-24")).toBeDefined();
    } finally {
      store.close();
    }
  });

  describe.skipIf(skipNetns !== null)(
    `--kernel in a network namespace${skipNetns ? ` (skipped: ${skipNetns})` : ""}`,
    () => {
      const ns = `podnet-rt-${randomBytes(3).toString("hex")}`;
      const ip = (...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { stdio: "pipe" }).toString();
      const bridge = (...args: string[]) =>
        execFileSync("bridge", ["-n", ns, ...args], { stdio: "pipe" }).toString();

      beforeAll(async () => {
        execFileSync("ip", ["netns", "add", ns]);
        ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
        ip("addr", "add", "192.0.2.7/24", "dev", "eth0");
        ip("link", "set", "eth0", "up");
        ip("link", "set", "eth1", "up");
        ip(
          "link",
          "add",
          "flannel.1",
          "type",
          "vxlan",
          "id",
          "1",
          "local",
          "192.0.2.7",
          "dev",
          "eth0",
          "dstport",
          "8472",
          "nolearning",
        );
        ip("link", "set", "flannel.1", "address", "c6:d2:32:6f:8f:44", "mtu", "1450", "up");
        ip("addr", "add", "10.5.52.0/32", "dev", "flannel.1");
        await ctl(["put", "/kernel/config"], VXLAN_CONFIG);
        await flannelLease("/kernel/subnets/10.5.52.0-24", flannelVxlan("192.0.2.7", "c6:d2:32:6f:8f:44"));
        await flannelLease("/kernel/subnets/10.5.7.0-24", flannelVxlan("192.0.2.9", "aa:bb:cc:00:00:09"));
        await flannelLease("/kernel/subnets/10.5.8.0-24", flannelVxlan("192.0.2.10", "aa:bb:cc:00:00:10"));
        // Peer 10.5.7.0/24 exactly as flanneld programs it.
        ip(
          "neigh",
          "replace",
          "10.5.7.0",
          "lladdr",
          "aa:bb:cc:00:00:09",
          "dev",
          "flannel.1",
          "nud",
          "permanent",
        );
        bridge(
          "fdb",
          "append",
          "aa:bb:cc:00:00:09",
          "dev",
          "flannel.1",
          "dst",
          "192.0.2.9",
          "self",
          "permanent",
        );
        ip("route", "replace", "10.5.7.0/24", "via", "10.5.7.0", "dev", "flannel.1", "onlink");
        // Peer 10.5.8.0/24: its neighbour has the wrong MAC and its route is missing.
        ip(
          "neigh",
          "replace",
          "10.5.8.0",
          "lladdr",
          "aa:bb:cc:00:00:99",
          "dev",
          "flannel.1",
          "nud",
          "permanent",
        );
        bridge(
          "fdb",
          "append",
          "aa:bb:cc:00:00:10",
          "dev",
          "flannel.1",
          "dst",
          "192.0.2.10",
          "self",
          "permanent",
        );
      });
      afterAll(() => {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      });

      it("marks a missing route and a wrong MAC, and passes once they are fixed", async () => {
        const base = ["route", "--kernel", "--netns", ns, "--public-ip", "192.0.2.7"];
        const r = await podnet("/kernel", base);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/^Kernel check of flannel\.1 in network namespace podnet-rt-/);
        expect(r.stdout).toMatch(/^MISSING\s+route\s+10\.5\.8\.0\/24 via 10\.5\.8\.0 dev flannel\.1 onlink/m);
        expect(r.stdout).toMatch(/^WRONG-MAC\s+neighbour\s+10\.5\.8\.0 /m);
        expect(r.stdout).toMatch(/^OK\s+route\s+10\.5\.7\.0\/24 via 10\.5\.7\.0 dev flannel\.1 onlink/m);
        const json = await podnet("/kernel", [...base, "-o", "json"]);
        const report = JSON.parse(json.stdout) as {
          ok: boolean;
          ownLease: string;
          entries: { kind: string; status: string }[];
        };
        expect(report.ok).toBe(false);
        expect(report.ownLease).toBe("/kernel/subnets/10.5.52.0-24");
        expect(
          report.entries
            .filter((e) => e.status !== "ok")
            .map((e) => `${e.kind}:${e.status}`)
            .sort(),
        ).toEqual(["neighbour:wrong-mac", "route:missing"]);

        ip(
          "neigh",
          "replace",
          "10.5.8.0",
          "lladdr",
          "aa:bb:cc:00:00:10",
          "dev",
          "flannel.1",
          "nud",
          "permanent",
        );
        ip("route", "replace", "10.5.8.0/24", "via", "10.5.8.0", "dev", "flannel.1", "onlink");
        // Found by the device's /32 this time, with no --public-ip and no subnet file.
        const fixed = await podnet("/kernel", [
          "route",
          "--kernel",
          "--netns",
          ns,
          "--subnet-file",
          "/nonexistent/subnet.env",
        ]);
        expect(fixed.stderr).toMatch(/the subnet file \/nonexistent\/subnet\.env does not exist/);
        // The default subnet file must be absent for the device's /32 to be asked.
        if (existsSync("/run/flannel/subnet.env")) return;
        const byDevice = await podnet("/kernel", ["route", "--kernel", "--netns", ns]);
        expect(byDevice.stdout).toMatch(/all \d+ entries match the kernel/);
        expect(byDevice.code).toBe(0);
      });
    },
  );
});
