/**
 * `podnet watch` end to end: the built binary as a long-running process against a real etcd,
 * fed with keys written by etcdctl in flanneld's exact format; its stdout read line by line.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { PODNET_BIN, podnetBuilt, REPO_ROOT } from "@podnet/test-harness/cli";
import { etcdAvailable } from "@podnet/test-harness/etcd";
import { useEtcd } from "@podnet/test-harness/vitest";
import { giveUp, waitFor } from "@podnet/test-harness/wait";
import { afterEach, describe, expect, it } from "vitest";

const value = (publicIP: string, mac: string) =>
  `{"PublicIP":"${publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
const MAC1 = "c6:d2:32:6f:8f:44";
const MAC2 = "c6:d2:32:6f:8f:45";

interface WatchJson {
  time: string;
  type: string;
  subnet: string | null;
  key: string;
  publicIP: string | null;
  backendType: string | null;
  vtepMAC: string | null;
  revision: number;
  expired?: boolean;
  reason?: string;
}

/** A running `podnet watch`: its parsed stdout lines, its stderr, and its exit. */
interface Watcher {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: WatchJson[];
  readonly raw: string[];
  stderr(): string;
  until(what: string, cond: (lines: WatchJson[]) => boolean, timeoutMs?: number): Promise<void>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Watcher[] = [];

/** How many retry lines the watch has written to stderr. */
const retryLines = (stderr: string): number => stderr.split("\n").filter((l) => /retrying/.test(l)).length;

function startWatch(args: string[], env: Record<string, string>): Watcher {
  const child = spawn(process.execPath, [PODNET_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: WatchJson[] = [];
  const raw: string[] = [];
  let pending = "";
  let err = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) {
      raw.push(line);
      if (line.startsWith("{")) lines.push(JSON.parse(line) as WatchJson);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    err += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const watcher: Watcher = {
    child,
    lines,
    raw,
    stderr: () => err,
    exit,
    async until(what, cond, timeoutMs = 20_000) {
      const seen = () => `stdout:\n${raw.join("\n")}\nstderr:\n${err}\nexit: ${child.exitCode}`;
      await waitFor(
        () => {
          let held: boolean;
          try {
            held = cond(lines);
          } catch (e) {
            // A condition that throws (replay() on a repeated event) fails the test at once.
            return giveUp(e instanceof Error ? e.message : String(e));
          }
          if (held) return true;
          if (child.exitCode !== null) giveUp(`the watch exited; ${seen()}`);
          throw new Error(seen());
        },
        { what, timeoutMs },
      );
    },
  };
  running.push(watcher);
  return watcher;
}

afterEach(() => {
  for (const w of running.splice(0)) if (w.child.exitCode === null) w.child.kill("SIGKILL");
});

/** key → publicIP after applying the lines in order; throws when a line contradicts the model. */
function replay(lines: readonly WatchJson[]): Map<string, string> {
  const model = new Map<string, string>();
  for (const l of lines) {
    if (l.type === "snapshot" || l.type === "added") {
      if (l.type === "added" && model.has(l.key)) throw new Error(`added ${l.key} twice`);
      model.set(l.key, l.publicIP ?? "");
    } else if (l.type === "changed") {
      if (!model.has(l.key)) throw new Error(`changed ${l.key} before it was added`);
      model.set(l.key, l.publicIP ?? "");
    } else if (l.type === "removed") {
      if (!model.delete(l.key)) throw new Error(`removed ${l.key} that was not there`);
    }
  }
  return model;
}

const name = (key: string) => key.slice(key.lastIndexOf("/") + 1);
const summary = (l: WatchJson) =>
  `${l.type} ${name(l.key)} ${l.publicIP ?? "-"}${l.type === "removed" ? (l.expired ? " expired" : " deleted") : ""}`;

describe.skipIf(!etcdAvailable() || !podnetBuilt())("podnet watch against a real etcd", () => {
  const etcd = useEtcd();
  const env = () => ({ PODNET_ENDPOINTS: etcd().endpoints.join(",") });
  const put = (key: string, v: string, ...flags: string[]) =>
    etcd().etcdctlOk(["put", ...flags, key, "--", v]);
  const del = (key: string) => etcd().etcdctlOk(["del", key]);
  const revisionNow = async () => {
    const status = JSON.parse(await etcd().etcdctlOk(["endpoint", "status", "-w", "json"])) as {
      Status: { header: { revision: number } };
    }[];
    return status[0]?.Status.header.revision ?? 0;
  };

  it("prints a snapshot, then added, changed, removed and expired leases; a foreign key breaks nothing", async () => {
    const prefix = "/w1/coreos.com/network";
    const dir = `${prefix}/subnets/`;
    await put(`${dir}10.5.52.0-24`, value("192.0.2.7", MAC1));
    const w = startWatch(["--prefix", prefix, "watch", "-o", "json"], env());
    await w.until("the snapshot", (ls) => ls.length >= 1);
    expect(w.lines[0]).toMatchObject({
      type: "snapshot",
      subnet: "10.5.52.0/24",
      key: `${dir}10.5.52.0-24`,
      publicIP: "192.0.2.7",
      backendType: "vxlan",
      vtepMAC: MAC1,
    });
    expect(w.lines[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    await put(`${dir}10.5.53.0-24`, value("192.0.2.8", MAC2));
    await put(`${dir}10.5.52.0-24`, value("192.0.2.9", MAC1));
    await put(`${dir}not-a-subnet`, "hello");
    await del(`${dir}10.5.53.0-24`);
    const grant = await etcd().etcdctlOk(["lease", "grant", "2"]);
    const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1] ?? "";
    await put(`${dir}10.5.54.0-24`, value("192.0.2.10", MAC2), `--lease=${id}`);
    await w.until("the expiry", (ls) => ls.some((l) => l.type === "removed" && l.expired === true), 20_000);

    expect(w.lines.map(summary)).toEqual([
      "snapshot 10.5.52.0-24 192.0.2.7",
      "added 10.5.53.0-24 192.0.2.8",
      "changed 10.5.52.0-24 192.0.2.9",
      "foreign not-a-subnet -",
      "removed 10.5.53.0-24 192.0.2.8 deleted",
      "added 10.5.54.0-24 192.0.2.10",
      "removed 10.5.54.0-24 192.0.2.10 expired",
    ]);
    const removed = w.lines.find((l) => l.type === "removed" && l.expired);
    expect(removed).toMatchObject({ subnet: "10.5.54.0/24", backendType: "vxlan", vtepMAC: MAC2 });
    const revisions = w.lines.slice(1).map((l) => l.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));

    w.child.kill("SIGTERM");
    expect(await w.exit).toEqual({ code: 0, signal: null });
    expect(w.stderr()).toBe("");
  });

  it("prints human lines, honours --rev, --no-snapshot and --prefix-only-leases, and exits 0 on SIGINT", async () => {
    const prefix = "/w2/coreos.com/network";
    const dir = `${prefix}/subnets/`;
    await put(`${dir}10.5.1.0-24`, value("192.0.2.1", MAC1));
    // From the next revision on, so the writes below are events however late the watch starts.
    const rev = (await revisionNow()) + 1;
    const w = startWatch(
      ["--prefix", prefix, "watch", "--no-snapshot", "--prefix-only-leases", "--rev", String(rev)],
      env(),
    );
    await put(`${dir}junk`, "x");
    await put(`${dir}10.5.2.0-24`, value("192.0.2.7", MAC2));
    await w.until("the added line", () => w.raw.length >= 1);
    // Lines come in revision order: a line for the junk key written before would be here already.
    expect(w.raw).toHaveLength(1);
    expect(w.raw[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ added 10\.5\.2\.0\/24 192\.0\.2\.7 vxlan c6:d2:32:6f:8f:45$/,
    );
    await del(`${dir}10.5.2.0-24`);
    await w.until("the removed line", () => w.raw.length >= 2);
    expect(w.raw[1]).toMatch(/ removed 10\.5\.2\.0\/24 192\.0\.2\.7 vxlan c6:d2:32:6f:8f:45 \(deleted\)$/);
    w.child.kill("SIGINT");
    expect(await w.exit).toEqual({ code: 0, signal: null });
  });

  it("survives an etcd restart and a compaction: later events arrive, none lost or repeated", async () => {
    const prefix = "/w3/coreos.com/network";
    const dir = `${prefix}/subnets/`;
    await put(`${dir}10.5.1.0-24`, value("192.0.2.1", MAC1));
    await put(`${dir}10.5.2.0-24`, value("192.0.2.2", MAC1));
    const w = startWatch(["--prefix", prefix, "watch", "-o", "json"], env());
    await w.until("the snapshot", (ls) => ls.length >= 2);
    await put(`${dir}10.5.3.0-24`, value("192.0.2.3", MAC1));
    await w.until("the first event", (ls) => ls.length >= 3);

    // A plain restart: the writes after it arrive once.
    const member = etcd().members[0];
    if (member === undefined) throw new Error("no member");
    await member.stop();
    await member.restart();
    await put(`${dir}10.5.4.0-24`, value("192.0.2.4", MAC2));
    await put(`${dir}10.5.1.0-24`, value("192.0.2.11", MAC2));
    await w.until("writes after the restart", (ls) => ls.length >= 5, 30_000);

    // A restart, then writes and a compaction before the watch reconnects (its backoff has grown).
    const retriesBefore = retryLines(w.stderr());
    await member.stop();
    await w.until("a failed retry while etcd is down", () => retryLines(w.stderr()) > retriesBefore, 30_000);
    await member.restart();
    await del(`${dir}10.5.2.0-24`);
    await put(`${dir}10.5.3.0-24`, value("192.0.2.33", MAC2));
    await put(`${dir}10.5.5.0-24`, value("192.0.2.5", MAC1));
    await put(`${dir}10.5.6.0-24`, value("192.0.2.6", MAC1));
    await del(`${dir}10.5.6.0-24`);
    await etcd().etcdctlOk(["compaction", String(await revisionNow())]);
    await put(`${dir}10.5.7.0-24`, value("192.0.2.7", MAC1));

    const want = new Map(
      [
        ["10.5.1.0-24", "192.0.2.11"],
        ["10.5.3.0-24", "192.0.2.33"],
        ["10.5.4.0-24", "192.0.2.4"],
        ["10.5.5.0-24", "192.0.2.5"],
        ["10.5.7.0-24", "192.0.2.7"],
      ].map(([n, ip]) => [`${dir}${n}`, ip] as [string, string]),
    );
    const sorted = (m: Map<string, string>) => JSON.stringify([...m].sort());
    await w.until("the state after the compaction", (ls) => sorted(replay(ls)) === sorted(want), 40_000);
    // A last write: once its line is in, every line for the writes before it is too.
    await put(`${dir}10.5.8.0-24`, value("192.0.2.8", MAC1));
    want.set(`${dir}10.5.8.0-24`, "192.0.2.8");
    await w.until("the closing write", (ls) => ls.some((l) => name(l.key) === "10.5.8.0-24"));
    // replay() throws on a repeated add or a removal of something absent: nothing repeated.
    expect(sorted(replay(w.lines))).toBe(sorted(want));
    expect(w.lines.filter((l) => l.type === "snapshot")).toHaveLength(2);
    const revisions = w.lines.slice(2).map((l) => l.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    // Each write after the first restart is reported exactly once.
    expect(w.lines.filter((l) => name(l.key) === "10.5.4.0-24").map(summary)).toEqual([
      "added 10.5.4.0-24 192.0.2.4",
    ]);
    // Retry errors went to stderr as single lines, rate-limited, never a stack trace.
    for (const line of w.stderr().split("\n").filter(Boolean))
      expect(line).toMatch(/^podnet: watch: .*retrying/);
    expect(w.stderr()).not.toMatch(/\n\s+at /);

    w.child.kill("SIGTERM");
    expect(await w.exit).toEqual({ code: 0, signal: null });
  }, 90_000);

  it("fails with one line and exit 1 when etcd is unreachable", async () => {
    const w = startWatch(["--endpoints", "127.0.0.1:1", "--dial-timeout", "500ms", "watch"], {});
    const { code } = await w.exit;
    expect(code).toBe(1);
    expect(w.stderr().trim().split("\n")).toHaveLength(1);
    expect(w.stderr()).toMatch(/^podnet: /);
  });
});
