/**
 * A real-etcd test harness: starts etcd 3.4 processes (a single node or a three-member
 * cluster) on free loopback ports with temporary data directories, optionally with TLS
 * (server-only or mutual) and auth, and tears them down again.
 *
 * Every process started here is tracked in a module-level set and SIGKILLed when the test
 * process exits (or is interrupted), so a failing test never leaves an etcd behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { giveUp, waitFor } from "./wait.js";

export const ETCD_BIN = process.env["PODNET_TEST_ETCD_BIN"] ?? "/usr/bin/etcd";
export const ETCDCTL_BIN = process.env["PODNET_TEST_ETCDCTL_BIN"] ?? "/usr/bin/etcdctl";
const OPENSSL_BIN = "openssl";

/** Time allowed for a member (or the whole cluster) to become healthy. */
const HEALTH_TIMEOUT_MS = 20_000;
/** Time allowed for a member to exit after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 10_000;

export interface EtcdClusterOptions {
  /** Number of members; default 1. */
  members?: 1 | 3;
  /** "server": https with a throwaway CA; "mutual": also requires client certificates. */
  tls?: "server" | "mutual";
  /** Enable etcd auth with a `root` user whose password is in `cluster.auth`. */
  auth?: boolean;
  /** Also serve the v2 API (`--enable-v2`), e.g. for v2 flannel keyspace migration tests. */
  enableV2?: boolean;
  /** Extra flags appended to every member's etcd command line. */
  extraArgs?: string[];
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** etcd's own log (stdout + stderr, zap format). */
  logFile: string;
  pid?: number;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit. No-op when not running. */
  kill(): Promise<void>;
  /** Start again with the same data dir and ports, wait until healthy (stops it first if running). */
  restart(): Promise<void>;
  /** The last lines of this member's log. */
  logTail(lines?: number): Promise<string>;
  readonly running: boolean;
}

export interface EtcdctlOptions {
  /** Authenticate as this user (default when auth is on: root). */
  user?: string;
  /** Password for `user` (default: the root password when user is root). */
  password?: string;
  /** Send no credentials at all, even when auth is on. */
  anonymous?: boolean;
  /** Do not pass --cacert (TLS clusters): the server certificate will not verify. */
  omitCa?: boolean;
  /** Do not pass --cert/--key (mutual TLS clusters). */
  omitClientCert?: boolean;
  /** Override the endpoints (default: client URLs of the members that are running). */
  endpoints?: string[];
  /** Written to etcdctl's stdin. */
  input?: string;
  /** ETCDCTL_API version; default 3. With 2 the v2 flag names are used (needs enableV2). */
  api?: 2 | 3;
  /** Kill etcdctl after this long; default 30 s. */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal (e.g. on timeout). */
  code: number;
}

export interface EtcdClusterTls {
  /** The CA certificate clients must trust. */
  caFile: string;
  /** Client certificate and key (mutual TLS only). */
  certFile?: string;
  keyFile?: string;
  /** Directory holding all generated PEM files (ca.key, server.crt/key, client.crt/key). */
  dir: string;
}

export interface EtcdCluster {
  /** Client URLs of all members (http:// or https://). */
  endpoints: string[];
  members: EtcdMember[];
  tls?: EtcdClusterTls;
  auth?: { rootUser: "root"; rootPassword: string };
  /** The cluster's own temporary directory (data dirs, logs, certificates). */
  dir: string;
  /**
   * Runs etcdctl (ETCDCTL_API=3 unless opts.api) against the running members, with the TLS
   * flags needed and as root when auth is on. Never throws for a non-zero exit.
   */
  etcdctl(args: string[], opts?: EtcdctlOptions): Promise<ExecResult>;
  /** Like etcdctl but throws (with stderr) unless the exit code is 0; returns stdout. */
  etcdctlOk(args: string[], opts?: EtcdctlOptions): Promise<string>;
  /** The current leader among the running members, via `endpoint status -w json`. */
  leader(): Promise<EtcdMember | undefined>;
  /** Polls until a running member is leader (and is not `notThis`, if given). */
  waitForLeader(opts?: { notThis?: EtcdMember; timeoutMs?: number }): Promise<EtcdMember>;
  /** Kills all members (SIGKILL: the data is discarded) and removes the temporary directory; idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Process tracking and last-resort cleanup

const liveProcs = new Set<ChildProcess>();
/** Cluster directories not yet removed (kept apart from tmp.ts so its cleanup cannot race a cluster). */
const liveDirs = new Set<string>();

function killAllNow(): void {
  for (const p of liveProcs) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  liveProcs.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveDirs.clear();
}

process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  const onSignal = (): void => {
    killAllNow();
    process.removeListener(sig, onSignal);
    // Keep the default behaviour (terminate) unless someone else handles the signal.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  process.on(sig, onSignal);
}

// ---------------------------------------------------------------------------------------
// Small helpers

export function etcdAvailable(): boolean {
  return existsSync(ETCD_BIN) && existsSync(ETCDCTL_BIN);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A minimal environment so nothing like ETCD_* / ETCDCTL_* leaks in from the caller. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ["PATH", "HOME", "TMPDIR"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

function exec(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? cleanEnv(),
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: "SIGKILL",
    });
    liveProcs.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      liveProcs.delete(child);
      reject(e);
    });
    child.on("close", (code) => {
      liveProcs.delete(child);
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? -1,
      });
    });
    child.stdin.on("error", () => {
      // the child may exit without reading its input
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Distinct free TCP ports on 127.0.0.1 (all bound at once, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => resolve());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === "string") throw new Error("no port assigned");
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

async function tailFile(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

class AddressInUseError extends Error {}

// ---------------------------------------------------------------------------------------
// TLS material

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await exec(OPENSSL_BIN, args, { cwd, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
}

/** Signs `<name>.crt` with the CA in `dir`, using a fresh EC P-256 key `<name>.key`. */
async function issueCert(dir: string, name: string, cn: string, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
}

export interface GeneratedTls {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/**
 * Generates a throwaway CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate (CN=`clientCn`) in `dir`, with openssl and EC P-256 keys.
 */
export async function generateTls(dir: string, clientCn = "podnet-test-client"): Promise<GeneratedTls> {
  await openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=podnet-test-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  // etcd's gRPC gateway dials the server with the server certificate, so it needs clientAuth too.
  await issueCert(
    dir,
    "server",
    "localhost",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "",
    ].join("\n"),
  );
  await issueCert(
    dir,
    "client",
    clientCn,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
      "",
    ].join("\n"),
  );
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    caKeyFile: join(dir, "ca.key"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
  };
}

// ---------------------------------------------------------------------------------------
// Members

interface MemberPlan {
  name: string;
  clientPort: number;
  peerPort: number;
}

class Member implements EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  pid?: number;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private isRunning = false;

  constructor(
    private readonly cluster: Cluster,
    plan: MemberPlan,
    scheme: "http" | "https",
    private readonly args: (m: Member) => string[],
  ) {
    this.name = plan.name;
    this.clientUrl = `${scheme}://127.0.0.1:${plan.clientPort}`;
    this.peerUrl = `http://127.0.0.1:${plan.peerPort}`;
    this.dataDir = join(cluster.dir, `${plan.name}.etcd`);
    this.logFile = join(cluster.dir, `${plan.name}.log`);
  }

  get running(): boolean {
    return this.isRunning;
  }

  /** Spawns etcd (does not wait for health). */
  spawn(): void {
    if (this.isRunning) throw new Error(`etcd member ${this.name} is already running`);
    const fd = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(ETCD_BIN, this.args(this), {
        env: cleanEnv(),
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    liveProcs.add(child);
    this.proc = child;
    this.pid = child.pid;
    this.isRunning = true;
    this.exited = new Promise<void>((resolve) => {
      const done = (): void => {
        liveProcs.delete(child);
        if (this.proc === child) this.isRunning = false;
        resolve();
      };
      child.once("exit", done);
      child.once("error", done);
    });
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.proc;
    if (!child || !this.isRunning) return;
    child.kill(sig);
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      child.kill("SIGKILL");
      await this.exited;
    }
  }

  stop(): Promise<void> {
    return this.signal("SIGTERM", STOP_GRACE_MS);
  }

  kill(): Promise<void> {
    return this.signal("SIGKILL", STOP_GRACE_MS);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.spawn();
    await this.cluster.waitHealthy([this], HEALTH_TIMEOUT_MS);
  }

  logTail(lines = 40): Promise<string> {
    return tailFile(this.logFile, lines);
  }
}

// ---------------------------------------------------------------------------------------
// The cluster

class Cluster implements EtcdCluster {
  endpoints: string[] = [];
  members: Member[] = [];
  tls?: EtcdClusterTls;
  auth?: { rootUser: "root"; rootPassword: string };
  /** Credentials the harness itself uses for health checks once auth is on. */
  private authOn = false;
  private stopped = false;

  constructor(
    readonly dir: string,
    readonly opts: EtcdClusterOptions,
  ) {}

  flags(opts: EtcdctlOptions = {}): { env: NodeJS.ProcessEnv; flags: string[] } {
    const api = opts.api ?? 3;
    const endpoints =
      opts.endpoints ??
      (this.members.some((m) => m.running)
        ? this.members.filter((m) => m.running).map((m) => m.clientUrl)
        : this.endpoints);
    const flags: string[] = [`--endpoints=${endpoints.join(",")}`];
    if (api === 3) flags.push("--dial-timeout=2s", "--command-timeout=5s");
    else flags.push("--timeout=2s", "--total-timeout=5s");
    if (this.tls) {
      if (!opts.omitCa)
        flags.push(api === 3 ? `--cacert=${this.tls.caFile}` : `--ca-file=${this.tls.caFile}`);
      if (this.tls.certFile && this.tls.keyFile && !opts.omitClientCert) {
        if (api === 3) flags.push(`--cert=${this.tls.certFile}`, `--key=${this.tls.keyFile}`);
        else flags.push(`--cert-file=${this.tls.certFile}`, `--key-file=${this.tls.keyFile}`);
      }
    }
    if (!opts.anonymous) {
      let user = opts.user;
      let password = opts.password;
      if (user === undefined && this.authOn && this.auth) user = this.auth.rootUser;
      if (user !== undefined && password === undefined && this.auth && user === this.auth.rootUser) {
        password = this.auth.rootPassword;
      }
      if (user !== undefined) {
        if (api === 3) {
          flags.push(`--user=${user}`);
          if (password !== undefined) flags.push(`--password=${password}`);
        } else {
          flags.push(`--username=${password === undefined ? user : `${user}:${password}`}`);
        }
      }
    }
    return { env: cleanEnv({ ETCDCTL_API: String(api) }), flags };
  }

  async etcdctl(args: string[], opts: EtcdctlOptions = {}): Promise<ExecResult> {
    const { env, flags } = this.flags(opts);
    return exec(ETCDCTL_BIN, [...flags, ...args], {
      env,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  async etcdctlOk(args: string[], opts: EtcdctlOptions = {}): Promise<string> {
    const r = await this.etcdctl(args, opts);
    if (r.code !== 0) {
      throw new Error(
        `etcdctl ${args.join(" ")} exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
      );
    }
    return r.stdout;
  }

  async leader(): Promise<EtcdMember | undefined> {
    const running = this.members.filter((m) => m.running);
    if (running.length === 0) return undefined;
    const r = await this.etcdctl(["endpoint", "status", "-w", "json"], {
      endpoints: running.map((m) => m.clientUrl),
    });
    // Unreachable endpoints are reported on stderr; the reachable ones are still printed.
    const text = r.stdout.trim();
    if (!text.startsWith("[")) return undefined;
    // Member ids are uint64: quote them before JSON.parse so no precision is lost.
    const quoted = text.replace(/"(member_id|leader|cluster_id|ID)":(\d+)/g, '"$1":"$2"');
    let statuses: unknown;
    try {
      statuses = JSON.parse(quoted);
    } catch {
      return undefined;
    }
    if (!Array.isArray(statuses)) return undefined;
    for (const s of statuses as Array<{
      Endpoint?: string;
      Status?: { header?: { member_id?: string }; leader?: string };
    }>) {
      const id = s.Status?.header?.member_id;
      if (id !== undefined && id === s.Status?.leader) {
        return running.find((m) => m.clientUrl === s.Endpoint);
      }
    }
    return undefined;
  }

  async waitForLeader(opts: { notThis?: EtcdMember; timeoutMs?: number } = {}): Promise<EtcdMember> {
    return waitFor(
      async () => {
        const l = await this.leader();
        return l && l !== opts.notThis && l.running && l;
      },
      { what: "an etcd leader elected", timeoutMs: opts.timeoutMs ?? HEALTH_TIMEOUT_MS, intervalMs: 100 },
    );
  }

  /** Polls `etcdctl endpoint health` on each member until all are healthy. */
  async waitHealthy(members: Member[], timeoutMs: number): Promise<void> {
    const pending = new Set(members);
    let lastErr = "";
    const healthy = async (): Promise<boolean> => {
      for (const m of [...pending]) {
        if (!m.running) {
          const log = await m.logTail();
          if (/address already in use/.test(log)) {
            giveUp(new AddressInUseError(`etcd member ${m.name} could not bind its ports:\n${log}`));
          }
          giveUp(new Error(`etcd member ${m.name} exited while starting; last log lines:\n${log}`));
        }
        const r = await this.etcdctl(["endpoint", "health"], {
          endpoints: [m.clientUrl],
          timeoutMs: 10_000,
        });
        if (r.code === 0) pending.delete(m);
        else lastErr = (r.stderr || r.stdout).trim();
      }
      return pending.size === 0;
    };
    try {
      await waitFor(healthy, { what: "every etcd member healthy", timeoutMs, intervalMs: 100 });
    } catch (err) {
      if (pending.size === 0 || !/^timed out/.test(err instanceof Error ? err.message : "")) throw err;
      const tails = await Promise.all(
        [...pending].map(async (m) => `--- ${m.name} (${m.logFile}):\n${await m.logTail()}`),
      );
      throw new Error(
        `etcd did not become healthy within ${timeoutMs} ms (${[...pending].map((m) => m.name).join(", ")}); ` +
          `last etcdctl error: ${lastErr}\n${tails.join("\n")}`,
      );
    }
  }

  async enableAuth(): Promise<void> {
    if (!this.auth) return;
    const { rootUser, rootPassword } = this.auth;
    await this.etcdctlOk(["user", "add", `${rootUser}:${rootPassword}`]);
    // 3.4 refuses `auth enable` unless root holds the root role.
    await this.etcdctlOk(["user", "grant-role", rootUser, "root"]);
    await this.etcdctlOk(["auth", "enable"]);
    this.authOn = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The data is thrown away, so there is nothing to flush: SIGKILL is fast, while SIGTERM on a
    // multi-member cluster makes the leader try to hand over leadership to peers that are also
    // going away (seconds).
    await Promise.all(this.members.map((m) => m.kill()));
    await rm(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }
}

async function startOnce(opts: EtcdClusterOptions): Promise<Cluster> {
  const n = opts.members ?? 1;
  const dir = await mkdtemp(join(tmpdir(), "podnet-etcd-"));
  liveDirs.add(dir);
  const cluster = new Cluster(dir, opts);
  try {
    const scheme = opts.tls ? "https" : "http";
    let tlsFiles: GeneratedTls | undefined;
    if (opts.tls) {
      const tlsDir = join(dir, "tls");
      await mkdir(tlsDir);
      tlsFiles = await generateTls(tlsDir);
      cluster.tls =
        opts.tls === "mutual"
          ? {
              dir: tlsDir,
              caFile: tlsFiles.caFile,
              certFile: tlsFiles.clientCertFile,
              keyFile: tlsFiles.clientKeyFile,
            }
          : { dir: tlsDir, caFile: tlsFiles.caFile };
    }
    if (opts.auth) cluster.auth = { rootUser: "root", rootPassword: randomBytes(12).toString("hex") };

    const ports = await freePorts(2 * n);
    const plans: MemberPlan[] = [];
    for (let i = 0; i < n; i++) {
      plans.push({ name: `m${i}`, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]! });
    }
    const token = `podnet-test-${randomBytes(6).toString("hex")}`;
    const initialCluster = plans.map((p) => `${p.name}=http://127.0.0.1:${p.peerPort}`).join(",");

    const argsFor = (m: Member): string[] => {
      const a = [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=${token}`,
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--auto-compaction-retention=0",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=info",
      ];
      if (tlsFiles) {
        a.push(`--cert-file=${tlsFiles.serverCertFile}`, `--key-file=${tlsFiles.serverKeyFile}`);
        if (opts.tls === "mutual") a.push("--client-cert-auth", `--trusted-ca-file=${tlsFiles.caFile}`);
      }
      if (opts.enableV2) a.push("--enable-v2=true");
      a.push(...(opts.extraArgs ?? []));
      return a;
    };

    cluster.members = plans.map((p) => new Member(cluster, p, scheme, argsFor));
    cluster.endpoints = cluster.members.map((m) => m.clientUrl);
    for (const m of cluster.members) m.spawn();
    await cluster.waitHealthy(cluster.members, HEALTH_TIMEOUT_MS);
    await cluster.enableAuth();
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/**
 * Starts a fresh etcd (one member or three) and waits until every member is healthy.
 * Retries with new ports when a port was taken between picking and binding it.
 */
export async function startEtcd(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!etcdAvailable()) throw new Error(`etcd is not installed (${ETCD_BIN}, ${ETCDCTL_BIN})`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (e instanceof AddressInUseError && attempt < 4) continue;
      throw e;
    }
  }
}

/**
 * Creates `user` (with `password`) holding a role `<user>-role` that grants readwrite on
 * the key prefix `prefix` only.
 */
export async function addLimitedUser(
  cluster: EtcdCluster,
  user: string,
  password: string,
  prefix: string,
): Promise<void> {
  const role = `${user}-role`;
  await cluster.etcdctlOk(["role", "add", role]);
  await cluster.etcdctlOk(["role", "grant-permission", "--prefix=true", role, "readwrite", prefix]);
  await cluster.etcdctlOk(["user", "add", `${user}:${password}`]);
  await cluster.etcdctlOk(["user", "grant-role", user, role]);
}
