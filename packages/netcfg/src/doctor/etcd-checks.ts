/** The doctor's etcd section: each endpoint, the leader, the versions. Pure. */
import type { EndpointStatus } from "@podnet/ipam-core";
import { type Check, CheckList, formatBytes, memberHex, messageOf } from "./check.js";

/** A status call slower than this is worth a warning. */
export const SLOW_STATUS_MS = 500;

/** What asking one endpoint for its status gave. */
export type EndpointResult = { readonly endpoint: string; readonly latencyMs?: number } & (
  | { readonly status: EndpointStatus }
  | { readonly error: unknown }
);

/** One line per endpoint, then the leader and versions; `answered` when any endpoint did. */
export function endpointChecks(results: readonly EndpointResult[]): { checks: Check[]; answered: boolean } {
  const list = new CheckList("etcd");
  const up: (EndpointStatus & { latencyMs?: number })[] = [];
  for (const r of results) {
    if ("error" in r) {
      list.add(r.endpoint, "fail", `unreachable: ${messageOf(r.error)}`);
      continue;
    }
    const s = r.status;
    up.push({ ...s, ...(r.latencyMs !== undefined && { latencyMs: r.latencyMs }) });
    const role = s.leaderId === "0" ? "no leader" : s.leaderId === s.memberId ? "leader" : "follower";
    const latency = r.latencyMs === undefined ? "" : `, status in ${Math.round(r.latencyMs)} ms`;
    const detail = `etcd ${s.version}, member ${memberHex(s.memberId)} (${role}), revision ${s.revision}, raft term ${s.raftTerm}, db ${formatBytes(s.dbSize)}${latency}`;
    if (s.leaderId === "0") list.add(r.endpoint, "fail", `${detail}: this member knows no leader`);
    else if (r.latencyMs !== undefined && r.latencyMs > SLOW_STATUS_MS)
      list.add(r.endpoint, "warn", `${detail}: slow`);
    else list.add(r.endpoint, "ok", detail);
  }
  if (up.length === 0) return { checks: list.checks, answered: false };

  const leaders = [...new Set(up.map((s) => s.leaderId).filter((id) => id !== "0"))];
  const [leader] = leaders;
  if (leader === undefined) {
    list.add("leader", "fail", "no member knows a leader: the cluster has lost quorum or is electing one");
  } else if (leaders.length > 1) {
    list.add(
      "leader",
      "warn",
      `members name different leaders (${leaders.map(memberHex).join(", ")}): an election may be under way`,
    );
  } else {
    const at = up.find((s) => s.memberId === leader)?.endpoint;
    list.add(
      "leader",
      "ok",
      `member ${memberHex(leader)}${at === undefined ? " (not among the endpoints given)" : ` at ${at}`}`,
    );
  }
  const versions = [...new Set(up.map((s) => s.version))];
  if (versions.length > 1) {
    list.add(
      "version",
      "warn",
      `members run different etcd versions: ${up.map((s) => `${s.version} at ${s.endpoint}`).join(", ")}`,
    );
  }
  return { checks: list.checks, answered: true };
}
