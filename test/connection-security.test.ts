import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PODNET_BIN, type RunPodnetResult, runPodnet } from "@podnet/test-harness/cli";
import { addLimitedUser } from "@podnet/test-harness/etcd";
import { tempDir } from "@podnet/test-harness/tmp";
import { useEtcd, useTempDirs } from "@podnet/test-harness/vitest";
import { beforeAll, describe, expect, it } from "vitest";

const DOC = '{ "Network": "10.5.0.0/16", "Backend": { "Type": "vxlan" } }\n';

useTempDirs();
let docFile: string;
beforeAll(async () => {
  docFile = join(await tempDir(), "net.json");
  await writeFile(docFile, DOC);
});

function oneLine(r: RunPodnetResult): string {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0] ?? "";
}

describe("server TLS with a CA only", () => {
  const etcd = useEtcd({ tls: "server" });

  it("connects with --cacert and writes", async () => {
    const tls = etcd().tls!;
    const r = await runPodnet(
      ["--endpoints", etcd().endpoints.join(","), "--cacert", tls.caFile, "config", "set", docFile],
      {},
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await etcd().etcdctlOk(["get", "/coreos.com/network/config", "--print-value-only"])).toContain(
      "10.5.0.0/16",
    );
  });

  it("takes the CA from ETCDCTL_CACERT and a bare host:port as https", async () => {
    const hostPort = etcd().endpoints[0]?.replace(/^https:\/\//, "") ?? "";
    const r = await runPodnet(["config", "get", "-o", "json"], {
      env: { PODNET_ENDPOINTS: hostPort, ETCDCTL_CACERT: etcd().tls!.caFile },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).config.Network).toBe("10.5.0.0/16");
  });

  it("explains a certificate it cannot verify in one line", async () => {
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--dial-timeout",
      "1s",
      "config",
      "get",
    ]);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(/^podnet: .*(TLS|cannot reach)/);
  });

  it("names a CA file it cannot read as a usage error", async () => {
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--cacert",
      "/nonexistent/ca.pem",
      "config",
      "get",
    ]);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toMatch(/cannot read --cacert file \/nonexistent\/ca\.pem/);
  });
});

describe("mutual TLS", () => {
  const etcd = useEtcd({ tls: "mutual" });

  it("connects with a client certificate", async () => {
    const tls = etcd().tls!;
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--cacert",
      tls.caFile,
      "--cert",
      tls.certFile!,
      "--key",
      tls.keyFile!,
      "config",
      "set",
      docFile,
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("fails in one line without a client certificate", async () => {
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--cacert",
      etcd().tls!.caFile,
      "--dial-timeout",
      "1s",
      "config",
      "get",
    ]);
    expect(r.code).toBe(1);
    oneLine(r);
  });

  it("podnet version reads the versions and the revision with the client certificate", async () => {
    const tls = etcd().tls!;
    const tlsFlags = ["--cacert", tls.caFile, "--cert", tls.certFile!, "--key", tls.keyFile!];
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      ...tlsFlags,
      "version",
      "-o",
      "json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { revision: number | null; etcd: { server: string } | null };
    expect(v.etcd?.server).toMatch(/^3\./);
    expect(typeof v.revision).toBe("number");
  });

  it("refuses --cert without --key", async () => {
    const tls = etcd().tls!;
    const r = await runPodnet([
      "--endpoints",
      etcd().endpoints.join(","),
      "--cacert",
      tls.caFile,
      "--cert",
      tls.certFile!,
      "config",
      "get",
    ]);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toMatch(/--cert and --key go together/);
  });
});

describe("etcd auth", () => {
  const etcd = useEtcd({ auth: true });
  const ep = () => etcd().endpoints.join(",");

  beforeAll(async () => {
    await addLimitedUser(etcd(), "netadmin", "s3cret-pass", "/coreos.com/network/");
  });

  it("authenticates root with PODNET_PASSWORD and never prints the password", async () => {
    const password = etcd().auth!.rootPassword;
    const r = await runPodnet(["--user", "root", "config", "set", docFile], {
      env: { PODNET_ENDPOINTS: ep(), PODNET_PASSWORD: password },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(password);
  });

  it("reads the password from --password-file", async () => {
    const file = join(await tempDir(), "pw");
    await writeFile(file, "s3cret-pass\n", { mode: 0o600 });
    const r = await runPodnet(
      ["--user", "netadmin", "--password-file", file, "config", "get", "-o", "json"],
      {
        env: { PODNET_ENDPOINTS: ep() },
      },
    );
    expect(r.code, r.stderr).toBe(0);
  });

  it("explains a wrong password in one line without echoing it", async () => {
    const r = await runPodnet(["--user", "root", "config", "get"], {
      env: { PODNET_ENDPOINTS: ep(), PODNET_PASSWORD: "wrong-horse-battery" },
    });
    expect(r.code).toBe(1);
    const line = oneLine(r);
    expect(line).toMatch(/rejected the user name or password/);
    expect(line).not.toContain("wrong-horse-battery");
  });

  it("podnet version needs no credentials for the versions and the revision", async () => {
    const r = await runPodnet(["version", "-o", "json"], { env: { PODNET_ENDPOINTS: ep() } });
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { revision: number | null; etcd: { server: string } | null };
    const header = JSON.parse(await etcd().etcdctlOk(["get", "/", "-w", "json"])) as {
      header: { revision: number };
    };
    expect(v.revision).toBe(header.header.revision);
  });

  it("says authentication is required when no user is given", async () => {
    const r = await runPodnet(["config", "get"], { env: { PODNET_ENDPOINTS: ep() } });
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(/requires authentication|denied permission/);
  });

  it("denies a limited user outside its prefix, naming the key, and writes nothing", async () => {
    const r = await runPodnet(["--user", "netadmin", "--prefix", "/other/net", "config", "set", docFile], {
      env: { PODNET_ENDPOINTS: ep(), PODNET_PASSWORD: "s3cret-pass" },
    });
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(/denied permission on \/other\/net\/config/);
    const got = await etcd().etcdctl(["get", "/other/net/config"]);
    expect(got.stdout).toBe("");
  });

  it("lists the leases for a role that may read them but not the config", async () => {
    // lease list reads the config only to cut the listing into sub-ranges: a role without it
    // still lists, as one range; a view that needs the config says so.
    const password = etcd().auth!.rootPassword;
    const root = { env: { PODNET_ENDPOINTS: ep(), PODNET_PASSWORD: password } };
    expect((await runPodnet(["--user", "root", "config", "set", docFile], root)).code).toBe(0);
    const acquired = await runPodnet(
      [
        "--user",
        "root",
        "lease",
        "reserve",
        "10.5.7.0/24",
        "--public-ip",
        "192.0.2.7",
        "--vtep-mac",
        "02:00:00:00:07:01",
      ],
      root,
    );
    expect(acquired.code, acquired.stderr).toBe(0);
    await etcd().etcdctlOk(["role", "add", "lister-role"]);
    await etcd().etcdctlOk([
      "role",
      "grant-permission",
      "--prefix=true",
      "lister-role",
      "read",
      "/coreos.com/network/subnets/",
    ]);
    await etcd().etcdctlOk(["user", "add", "lister:lister-pass"]);
    await etcd().etcdctlOk(["user", "grant-role", "lister", "lister-role"]);
    const lister = { env: { PODNET_ENDPOINTS: ep(), PODNET_PASSWORD: "lister-pass" } };
    const r = await runPodnet(["--user", "lister", "lease", "list", "-o", "json"], lister);
    expect(r.code, r.stderr).toBe(0);
    const leases = (JSON.parse(r.stdout) as { leases: { subnet: string; publicIP: string }[] }).leases;
    expect(leases.map((l) => [l.subnet, l.publicIP])).toContainEqual(["10.5.7.0/24", "192.0.2.7"]);
    const route = await runPodnet(["--user", "lister", "route"], lister);
    expect(route.code).toBe(1);
    expect(oneLine(route)).toMatch(/denied permission on \/coreos.com\/network\/config/);
  });

  it.skipIf(!existsSync("/usr/bin/script"))(
    "prompts for the password on a terminal and never echoes it",
    async () => {
      const password = etcd().auth!.rootPassword;
      // `script` gives podnet a real terminal; the password is typed once the prompt shows.
      const child = spawn(
        "/usr/bin/script",
        ["-qec", `${process.execPath} ${PODNET_BIN} --user root lease list -o json`, "/dev/null"],
        { env: { PATH: process.env["PATH"] ?? "", PODNET_ENDPOINTS: ep(), TERM: "dumb" } },
      );
      let out = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("Password for etcd user root:") && !out.includes("\u0000typed")) {
          out += "\u0000typed";
          child.stdin.write(`${password}\r`);
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code).toBe(0);
      expect(out).toContain("Password for etcd user root:");
      expect(out).toContain('"leases"');
      expect(out).not.toContain(password);
    },
  );

  it("asks for a password it cannot prompt for as a usage error", async () => {
    const r = await runPodnet(["--user", "netadmin", "config", "get"], { env: { PODNET_ENDPOINTS: ep() } });
    expect(r.code).toBe(2);
    expect(oneLine(r)).toMatch(/no password for etcd user "netadmin"/);
  });
});
