import { existsSync } from "node:fs";
import {
  type CheckedConfig,
  configKey,
  type EndpointStatus,
  formatIPv4,
  hasIPv4,
  isPodnetError,
  isReservation,
  type Lease,
  type LeaseListing,
  type LeaseNetwork,
  PodnetError,
  parseIPv4,
  type Store,
  waitedText,
} from "@podnet/ipam-core";
import type { ResolvedConfig, SubnetFileContents } from "@podnet/netcfg";
import { Command } from "commander";
import { type Context, withContext } from "../context.js";
import { EXIT } from "../exit.js";
import {
  type Check,
  type CheckStatus,
  doctorData,
  doctorPassed,
  doctorRows,
  formatBytes,
  formatDoctor,
  memberHex,
} from "../print/doctor.js";
import { formatTtl, subnetText, vtepMacOf } from "../print/lease.js";
import { type Progress, progress } from "../print/progress.js";
import { lookupTtls, noteTtls } from "../ttl-policy.js";
import { sameSubnet } from "./lease/lease-context.js";

interface DoctorFlags {
  publicIp?: string;
  subnetFile?: string;
  iface?: string;
  strict?: boolean;
}

/** A status call slower than this is worth a warning. */
const SLOW_MS = 500;
/** A live lease with less than this left is expiring: its agent is probably not renewing it. */
const EXPIRING_SECONDS = 3600;

type Add = (name: string, status: CheckStatus, detail: string) => void;

/**
 * `podnet doctor`: what is wrong, section by section: each etcd endpoint, the network config,
 * the leases (the `ipam check` summary), and this host's lease against its VXLAN device.
 * Exit 0 when nothing failed (warnings too with --strict), 1 otherwise.
 */
export function doctorCommand(): Command {
  return new Command("doctor")
    .description("check etcd's endpoints, the network config, the leases and this host's overlay device")
    .option("--public-ip <ip>", "this host's public IP: find its lease by it")
    .option(
      "--subnet-file <path>",
      "this host's subnet file (default: /run/flannel/subnet.env when it exists)",
    )
    .option("--iface <name>", "the local VXLAN device to check (default: flannel.<VNI> from the config)")
    .option("--strict", "warnings fail too (exit 1)")
    .addHelpText(
      "after",
      "\nEach line reads ok, warn, fail or skip. -o json prints\n" +
        '{"ok": bool, "checks": [{"section", "name", "status", "detail"}]}.\n' +
        "Exit status: 0 when nothing failed, 1 when something did (or warned, with --strict).",
    )
    .action(
      withContext(async (ctx, flags: DoctorFlags) => {
        if (flags.publicIp !== undefined && parseIPv4(flags.publicIp) === null) {
          throw new PodnetError(
            "usage",
            `--public-ip "${flags.publicIp}" is not an IPv4 address like 192.0.2.7`,
          );
        }
        const checks: Check[] = [];
        const section =
          (name: string): Add =>
          (check, status, detail) =>
            checks.push({ section: name, name: check, status, detail });
        const bar = progress("podnet doctor: checking");
        try {
          await diagnose(ctx, flags, section, bar);
        } finally {
          bar.done();
        }
        const strict = flags.strict === true;
        await ctx.print({
          data: doctorData(checks, strict),
          human: () => formatDoctor(checks, ctx.colours),
          rows: () => doctorRows(checks),
        });
        return doctorPassed(checks, strict) ? EXIT.ok : EXIT.failed;
      }),
    );
}

const STEPS = 4;

async function diagnose(
  ctx: Context,
  flags: DoctorFlags,
  section: (name: string) => Add,
  bar: Progress,
): Promise<void> {
  bar.update(0, STEPS);
  const answered = await checkEndpoints(ctx, section("etcd"));
  bar.update(1, STEPS);
  let store: Store | undefined;
  let why = "no etcd endpoint answered";
  if (answered) {
    try {
      store = await ctx.store();
    } catch (err) {
      why = `etcd: ${messageOf(err)}`;
    }
  }
  if (store === undefined) {
    for (const [name, check] of [
      ["config", "present"],
      ["leases", "leases"],
      ["host", "lease"],
    ] as const) {
      section(name)(check, "skip", `skipped: ${why}`);
    }
    return;
  }
  const config = await checkConfig(ctx, store, section("config"));
  bar.update(2, STEPS);
  const leases = await checkLeases(ctx, store, config, section("leases"));
  bar.update(3, STEPS);
  await checkHost(flags, config, leases, section("host"));
  bar.update(STEPS, STEPS);
}

// ---- etcd ----

type EndpointResult = { endpoint: string; latencyMs?: number } & (
  | { status: EndpointStatus }
  | { error: Error; waitedMs?: number }
);

/** One line per endpoint, then the leader and versions; true when any endpoint answered. */
async function checkEndpoints(ctx: Context, add: Add): Promise<boolean> {
  const results = await endpointStatuses(ctx);
  const up: (EndpointStatus & { latencyMs?: number })[] = [];
  for (const r of results) {
    if ("error" in r) {
      const waited = r.waitedMs === undefined ? "" : ` after ${waitedText(r.waitedMs)}`;
      add(r.endpoint, "fail", `unreachable${waited}: ${messageOf(r.error)}`);
      continue;
    }
    const s = r.status;
    up.push({ ...s, ...(r.latencyMs !== undefined && { latencyMs: r.latencyMs }) });
    const role = s.leaderId === "0" ? "no leader" : s.leaderId === s.memberId ? "leader" : "follower";
    const latency = r.latencyMs === undefined ? "" : `, status in ${Math.round(r.latencyMs)} ms`;
    const detail = `etcd ${s.version}, member ${memberHex(s.memberId)} (${role}), revision ${s.revision}, raft term ${s.raftTerm}, db ${formatBytes(s.dbSize)}${latency}`;
    if (s.leaderId === "0") add(r.endpoint, "fail", `${detail}: this member knows no leader`);
    else if (r.latencyMs !== undefined && r.latencyMs > SLOW_MS) add(r.endpoint, "warn", `${detail}: slow`);
    else add(r.endpoint, "ok", detail);
  }
  if (up.length === 0) return false;

  const leaders = [...new Set(up.map((s) => s.leaderId).filter((id) => id !== "0"))];
  const [leader] = leaders;
  if (leader === undefined) {
    add("leader", "fail", "no member knows a leader: the cluster has lost quorum or is electing one");
  } else if (leaders.length > 1) {
    add(
      "leader",
      "warn",
      `members name different leaders (${leaders.map(memberHex).join(", ")}): an election may be under way`,
    );
  } else {
    const at = up.find((s) => s.memberId === leader)?.endpoint;
    add(
      "leader",
      "ok",
      `member ${memberHex(leader)}${at === undefined ? " (not among the endpoints given)" : ` at ${at}`}`,
    );
  }
  const versions = [...new Set(up.map((s) => s.version))];
  if (versions.length > 1) {
    add(
      "version",
      "warn",
      `members run different etcd versions: ${up.map((s) => `${s.version} at ${s.endpoint}`).join(", ")}`,
    );
  }
  return true;
}

/**
 * Each endpoint's status and the time its status call took (ipam-core's checkEndpoints). A user
 * whose password must be prompted for is asked once, through the shared connection; then
 * latency is not measured.
 */
async function endpointStatuses(ctx: Context): Promise<EndpointResult[]> {
  const {
    checkEndpoints: checkEndpointStatuses,
    normaliseEndpoints,
    wantsTls,
  } = await import("@podnet/ipam-core");
  const connection = ctx.globals.connection;
  const endpoints = normaliseEndpoints(connection.endpoints, wantsTls(connection));
  const user = connection.user;
  if (user !== undefined && !user.includes(":") && connection.password === undefined) {
    try {
      const store = await ctx.store();
      return (await store.status()).map((s) => ("error" in s ? s : { endpoint: s.endpoint, status: s }));
    } catch (err) {
      return endpoints.map((endpoint) => ({ endpoint, error: asError(err) }));
    }
  }
  return checkEndpointStatuses(connection);
}

// ---- config ----

interface ConfigState {
  readonly key: string;
  readonly missing: boolean;
  readonly checked?: CheckedConfig;
  readonly resolved?: ResolvedConfig;
  readonly network?: LeaseNetwork;
}

async function checkConfig(ctx: Context, store: Store, add: Add): Promise<ConfigState> {
  const netcfg = await import("@podnet/netcfg");
  const key = configKey(ctx.globals.prefix);
  let stored: Awaited<ReturnType<typeof netcfg.readConfig>>["config"];
  try {
    stored = (await netcfg.readConfig(store, ctx.globals.prefix)).config;
  } catch (err) {
    add("present", "fail", `cannot read ${key}: ${messageOf(err)}`);
    return { key, missing: false };
  }
  if (stored === undefined) {
    add("present", "fail", netcfg.configNotFoundMessage(key));
    return { key, missing: true };
  }
  add("present", "ok", `${key} (revision ${stored.modRevision}, version ${stored.version})`);
  const result = netcfg.validateConfigText(stored.text);
  const where = (d: { path: string; message: string }) =>
    d.path === "" ? d.message : `${d.path}: ${d.message}`;
  for (const e of result.errors) add("valid", "fail", where(e));
  for (const w of result.warnings) add("warning", "warn", where(w));
  const resolved = result.valid ? result.resolved : undefined;
  if (resolved !== undefined) add("valid", "ok", summary(resolved));
  const backend = resolved?.Backend;
  const checked: CheckedConfig = {
    valid: result.valid,
    errors: result.errors.map((e) => ({ path: e.path, message: e.message })),
    key,
    ...(backend !== undefined && { backendType: backend.Type }),
    ...(backend?.Type === "vxlan" && { vni: backend.VNI }),
  };
  return {
    key,
    missing: false,
    checked,
    ...(resolved !== undefined && { resolved, network: netcfg.leaseNetworkOf(resolved) }),
  };
}

function summary(c: ResolvedConfig): string {
  const be = c.Backend;
  const backend = be.Type === "vxlan" ? `vxlan VNI ${be.VNI}` : be.Type;
  const v4 = c.Network === undefined ? [] : [`Network ${c.Network}`, `SubnetLen ${c.SubnetLen}`];
  const v6 =
    c.IPv6Network === undefined ? [] : [`IPv6Network ${c.IPv6Network}`, `IPv6SubnetLen ${c.IPv6SubnetLen}`];
  return [backend, ...v4, ...v6].join(", ");
}

// ---- leases ----

interface LeaseState {
  readonly listing: LeaseListing;
  /** Undefined when there were too many etcd leases to look up (ttl-policy.ts). */
  readonly ttls: ReadonlyMap<string, number> | undefined;
  readonly store: Store;
}

/** The `ipam check` summary: counts per finding kind, and how full the range is. */
async function checkLeases(
  ctx: Context,
  store: Store,
  config: ConfigState,
  add: Add,
): Promise<LeaseState | undefined> {
  const core = await import("@podnet/ipam-core");
  const registry = new core.LeaseRegistry(store, { prefix: ctx.globals.prefix });
  let listing: LeaseListing;
  let ttls: Map<string, number> | undefined;
  try {
    listing = await registry.list();
    const lookup = await lookupTtls(store, listing, "auto");
    noteTtls(lookup);
    ttls = lookup.ttls;
  } catch (err) {
    add("leases", "fail", `cannot list the leases: ${messageOf(err)}`);
    return undefined;
  }
  const reservations = listing.leases.filter(isReservation).length;
  const live = listing.leases.length - reservations;
  add(
    "leases",
    "ok",
    `${plural(live, "lease")}, ${plural(reservations, "reservation")} at revision ${listing.revision}`,
  );
  const findings = core
    .checkLeases({
      listing,
      ...(config.network !== undefined && { network: config.network }),
      ...(config.checked !== undefined && { config: config.checked }),
      configMissing: config.missing,
      configKey: config.key,
    })
    // The config section has reported these already.
    .filter((f) => f.kind !== "config-missing" && f.kind !== "config-invalid");
  if (findings.length === 0) add("check", "ok", "no problems found");
  for (const kind of core.FINDING_KINDS) {
    const of = findings.filter((f) => f.kind === kind);
    const [first] = of;
    if (first === undefined) continue;
    const status = of.some((f) => f.severity === "error") ? "fail" : "warn";
    const more = of.length > 1 ? ` (and ${of.length - 1} more; 'podnet ipam check' lists them)` : "";
    add(kind, status, `${plural(of.length, "finding")}: ${first.message}${more}`);
  }
  if (config.network !== undefined) {
    const use = core.utilisation(listing, config.network, ttls);
    for (const [family, u] of [
      ["IPv4", use.ipv4],
      ["IPv6", use.ipv6],
    ] as const) {
      if (u === undefined) continue;
      const soon = u.expiringSoon ? `, ${u.expiringSoon} expiring within the hour` : "";
      const detail = `${family}: ${u.used} of ${u.total} subnets used (${u.percentUsed}%), ${u.free} free${soon}`;
      const full = u.free === 0 || u.free === 0n;
      add(
        "utilisation",
        full ? "warn" : u.percentUsed >= 90 ? "warn" : "ok",
        full ? `${detail}: a new host cannot get a lease` : detail,
      );
    }
  }
  return { listing, ttls, store };
}

// ---- host ----

/** This host's lease (by --public-ip or the subnet file) and the local VXLAN device against it. */
async function checkHost(
  flags: DoctorFlags,
  config: ConfigState,
  leases: LeaseState | undefined,
  add: Add,
): Promise<void> {
  const netcfg = await import("@podnet/netcfg");
  const explicitFile = flags.subnetFile;
  const file =
    explicitFile ??
    (flags.publicIp === undefined && existsSync(netcfg.DEFAULT_SUBNET_FILE)
      ? netcfg.DEFAULT_SUBNET_FILE
      : undefined);
  if (flags.publicIp === undefined && file === undefined) {
    add(
      "lease",
      "skip",
      `skipped: give --public-ip or --subnet-file (no ${netcfg.DEFAULT_SUBNET_FILE} here) to check this host`,
    );
    return;
  }
  if (leases === undefined) {
    add("lease", "skip", "skipped: the leases could not be listed");
    return;
  }
  let subnetFile: SubnetFileContents | undefined;
  if (file !== undefined) {
    try {
      subnetFile = await netcfg.readSubnetFile(file);
      if (subnetFile === undefined) add("subnet-file", "fail", `${file} does not exist`);
      else add("subnet-file", "ok", `${file}: ${subnetFileSummary(subnetFile)}`);
    } catch (err) {
      add("subnet-file", "fail", messageOf(err));
    }
  }
  const fromFile = subnetFile?.previousSubnet();
  const own = findOwnLease(leases.listing, flags.publicIp, fromFile);
  const wanted = [
    ...(flags.publicIp !== undefined ? [`held by ${flags.publicIp}`] : []),
    ...(fromFile !== undefined ? [`for ${subnetText(fromFile)} (from ${file})`] : []),
  ].join(" and ");
  if (own === undefined) {
    if (flags.publicIp === undefined && fromFile === undefined) {
      add("lease", "skip", "skipped: the subnet file names no subnet and no --public-ip was given");
    } else {
      add("lease", "fail", `no lease ${wanted}; 'podnet lease list' shows the leases`);
    }
    add("device", "skip", "skipped: no lease of this host to compare the device with");
    return;
  }
  // This host's own TTL is always looked up, even when the others were too many.
  const ttl = isReservation(own)
    ? null
    : (leases.ttls?.get(own.etcdLease) ??
      (await leases.store.timeToLiveMany([own.etcdLease])).get(own.etcdLease) ??
      -1);
  const leaseDetail = `${subnetText(own.subnet)} held by ${own.attrs.publicIP}, VtepMAC ${vtepMacOf(own)}, TTL ${formatTtl(ttl)}`;
  if (flags.publicIp !== undefined && own.attrs.publicIP !== flags.publicIp) {
    add(
      "lease",
      "fail",
      `${leaseDetail}: the subnet file's lease belongs to ${own.attrs.publicIP}, not ${flags.publicIp}`,
    );
  } else if (ttl !== null && ttl < 0) {
    add("lease", "fail", `${leaseDetail}: its etcd lease is gone`);
  } else if (ttl !== null && ttl < EXPIRING_SECONDS) {
    add("lease", "warn", `${leaseDetail}: expires soon; is the agent renewing it?`);
  } else {
    add("lease", "ok", leaseDetail);
  }
  await checkDevice(flags, config, leases, own, subnetFile, add);
}

function findOwnLease(
  listing: LeaseListing,
  publicIp: string | undefined,
  subnet: ReturnType<SubnetFileContents["previousSubnet"]>,
): Lease | undefined {
  if (subnet !== undefined) {
    const bySubnet = listing.leases.find((l) => sameSubnet(l.subnet, subnet));
    if (bySubnet !== undefined) return bySubnet;
  }
  return publicIp === undefined ? undefined : listing.leases.find((l) => l.attrs.publicIP === publicIp);
}

function subnetFileSummary(f: SubnetFileContents): string {
  const parts: string[] = [];
  if (f.values["FLANNEL_SUBNET"] !== undefined) parts.push(`FLANNEL_SUBNET=${f.values["FLANNEL_SUBNET"]}`);
  if (f.values["FLANNEL_IPV6_SUBNET"] !== undefined)
    parts.push(`FLANNEL_IPV6_SUBNET=${f.values["FLANNEL_IPV6_SUBNET"]}`);
  if (f.mtu !== undefined) parts.push(`FLANNEL_MTU=${f.mtu}`);
  return parts.length === 0 ? "no FLANNEL_SUBNET" : parts.join(" ");
}

/** The local device against the lease: exists, vxlan with the VNI, VtepMAC, /32 address, MTU, up. */
async function checkDevice(
  flags: DoctorFlags,
  config: ConfigState,
  leases: LeaseState,
  own: Lease,
  subnetFile: SubnetFileContents | undefined,
  add: Add,
): Promise<void> {
  const netcfg = await import("@podnet/netcfg");
  const backend = config.resolved?.Backend;
  const name = flags.iface ?? (backend?.Type === "vxlan" ? netcfg.vxlanDeviceName(backend.VNI) : undefined);
  if (name === undefined) {
    const why =
      backend === undefined
        ? "the config is missing or invalid"
        : `the backend is ${backend.Type}, not vxlan`;
    add("device", "skip", `skipped: ${why}; give --iface to check a device anyway`);
    return;
  }
  let link: Awaited<ReturnType<typeof netcfg.readLink>>;
  try {
    link = await netcfg.readLink(name);
  } catch (err) {
    add("device", "skip", `skipped: ${messageOf(err)}`);
    return;
  }
  if (link === undefined) {
    add(
      "device",
      "fail",
      `${name} does not exist; is the agent (podnet agent or flanneld) running on this host?`,
    );
    return;
  }
  const vni = backend?.Type === "vxlan" ? backend.VNI : undefined;
  if (link.kind !== "vxlan") add("device", "fail", `${name} is a ${link.kind} device, not vxlan`);
  else if (vni !== undefined && link.vni !== vni)
    add("device", "fail", `${name} has VNI ${link.vni ?? "-"}, the config says ${vni}`);
  else
    add(
      "device",
      "ok",
      `${name}: vxlan VNI ${link.vni ?? "-"}${link.dev === undefined ? "" : ` over ${link.dev}`}`,
    );

  const mac = vtepMacOf(own);
  if (mac === "-") add("mac", "warn", `the lease has no VtepMAC; ${name} has ${link.mac}`);
  else if (mac.toLowerCase() === link.mac.toLowerCase())
    add("mac", "ok", `${link.mac} as the lease publishes`);
  else
    add("mac", "fail", `${name} has ${link.mac}, the lease publishes ${mac}: peers send to the wrong VTEP`);

  if (hasIPv4(own.subnet)) {
    const want = `${formatIPv4(own.subnet.ipv4.ip)}/32`;
    if (link.addresses.includes(want)) add("address", "ok", want);
    else {
      const has = link.addresses.length === 0 ? "none" : link.addresses.join(", ");
      add("address", "fail", `${name} lacks ${want} (has ${has})`);
    }
  }

  const underlayMtu =
    link.dev === undefined ? undefined : (await readLinkQuietly(netcfg.readLink, link.dev))?.mtu;
  const expected =
    subnetFile?.mtu !== undefined
      ? { mtu: subnetFile.mtu, from: "the subnet file's FLANNEL_MTU" }
      : backend?.Type === "vxlan" && backend.MTU !== undefined
        ? { mtu: backend.MTU - netcfg.VXLAN_OVERHEAD, from: "the config's Backend MTU - 50" }
        : underlayMtu !== undefined
          ? { mtu: underlayMtu - netcfg.VXLAN_OVERHEAD, from: `${link.dev}'s MTU - 50` }
          : undefined;
  if (expected === undefined) add("mtu", "ok", `${link.mtu}`);
  else if (expected.mtu === link.mtu) add("mtu", "ok", `${link.mtu} (${expected.from})`);
  else add("mtu", "fail", `${name} has MTU ${link.mtu}, ${expected.from} is ${expected.mtu}`);

  add(
    "up",
    link.up ? "ok" : "fail",
    link.up ? `${name} is up` : `${name} is down; 'ip link set ${name} up' or restart the agent`,
  );

  if (config.resolved === undefined || link.kind !== "vxlan") return;
  await checkKernelTables(config.resolved, leases, own, link, underlayMtu, add);
}

/** The neighbours, fdb entries and routes the leases call for, against the kernel's. */
async function checkKernelTables(
  resolved: ResolvedConfig,
  leases: LeaseState,
  own: Lease,
  link: { dev?: string; mtu: number },
  underlayMtu: number | undefined,
  add: Add,
): Promise<void> {
  const netcfg = await import("@podnet/netcfg");
  let comparison: ReturnType<typeof netcfg.compareKernel>;
  try {
    const plan = netcfg.planDataPlane({
      config: resolved,
      own,
      peers: leases.listing.leases.filter((l) => l.key !== own.key),
      underlay: {
        dev: link.dev ?? "",
        ip: own.attrs.publicIP,
        mtu: underlayMtu ?? link.mtu + netcfg.VXLAN_OVERHEAD,
      },
    });
    comparison = netcfg.compareKernel(plan, await netcfg.readKernelStateFor(plan));
  } catch (err) {
    add("peers", "skip", `skipped: ${messageOf(err)}`);
    return;
  }
  for (const [kind, label] of [
    ["neighbour", "neighbours"],
    ["fdb", "fdb"],
    ["route", "routes"],
  ] as const) {
    const of = comparison.filter((c) => c.kind === kind);
    const count = (s: string) => of.filter((c) => c.status === s).length;
    const ok = count("ok");
    const wrong = [
      ...(count("missing") > 0 ? [`${count("missing")} missing`] : []),
      ...(count("wrong-mac") > 0 ? [`${count("wrong-mac")} with the wrong MAC`] : []),
    ];
    const stale = count("stale");
    const planned = of.length - stale;
    if (wrong.length > 0) {
      add(
        label,
        "fail",
        `${ok} of ${planned} as the leases say; ${wrong.join(", ")}${stale > 0 ? `, ${stale} stale` : ""} ('podnet route --kernel' lists them)`,
      );
    } else if (stale > 0) {
      add(
        label,
        "warn",
        `${ok} of ${planned} as the leases say; ${stale} stale ('podnet route --kernel' lists them)`,
      );
    } else {
      add(label, "ok", `${ok} of ${planned} as the leases say`);
    }
  }
}

async function readLinkQuietly<T>(read: (name: string) => Promise<T>, name: string): Promise<T | undefined> {
  try {
    return await read(name);
  } catch {
    return undefined;
  }
}

// ---- helpers ----

function messageOf(err: unknown): string {
  const text = isPodnetError(err) || err instanceof Error ? err.message : String(err);
  return (text.split("\n")[0] ?? text).trim();
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
