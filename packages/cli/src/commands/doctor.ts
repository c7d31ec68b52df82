import { existsSync } from "node:fs";
import {
  checkEndpoints,
  findHostLease,
  isPodnetError,
  type LeaseListing,
  LeaseRegistry,
  normaliseEndpoints,
  PodnetError,
  parseIPv4,
  readSnapshot,
  type Store,
  waitedText,
  wantsTls,
} from "@podnet/ipam-core";
import {
  type Check,
  compareKernel,
  configChecks,
  DEFAULT_SUBNET_FILE,
  deviceChecks,
  doctorPassed,
  type EndpointResult,
  endpointChecks,
  hostFamilies,
  hostLeaseCheck,
  kernelTableChecks,
  type LinkInfo,
  leaseChecks,
  messageOf,
  type NetworkState,
  needsTtl,
  planHost,
  readKernelStateFor,
  readLink,
  readNetwork,
  readSubnetFile,
  type SubnetFileReading,
  subnetFileCheck,
  underlayByName,
  underlayFactsOf,
  vxlanDeviceName,
} from "@podnet/netcfg";
import { Command } from "commander";
import { type Context, withContext } from "../context.js";
import { EXIT } from "../exit.js";
import { doctorData, doctorRows, formatDoctor } from "../print/doctor.js";
import { type Progress, progress } from "../print/progress.js";
import { lookupTtls, noteTtls } from "../ttl-policy.js";

interface DoctorFlags {
  publicIp?: string;
  subnetFile?: string;
  iface?: string;
  strict?: boolean;
}

/**
 * `podnet doctor`: what is wrong, section by section: each etcd endpoint, the network config,
 * the leases (the `ipam check` summary), and this host's lease against its VXLAN device. The
 * checks are netcfg's; this file only reads what they look at. Exit 0 when nothing failed
 * (warnings too with --strict), 1 otherwise.
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
        '{"ok": bool, "revision": number|null, "checks": [{"section", "name", "status", "detail"}]}.\n' +
        "Exit status: 0 when nothing failed, 1 when something did (or warned, with --strict).\n\n" +
        "Examples:\n  podnet doctor\n  podnet doctor --public-ip 192.0.2.7 -o json",
    )
    .action(
      withContext(async (ctx, flags: DoctorFlags) => {
        if (flags.publicIp !== undefined && parseIPv4(flags.publicIp) === null) {
          throw new PodnetError(
            "usage",
            `--public-ip "${flags.publicIp}" is not an IPv4 address like 192.0.2.7`,
          );
        }
        const bar = progress("podnet doctor: checking");
        let diagnosis: Diagnosis;
        try {
          diagnosis = await diagnose(ctx, flags, bar);
        } finally {
          bar.done();
        }
        const { checks, revision } = diagnosis;
        const strict = flags.strict === true;
        await ctx.print({
          data: doctorData(checks, strict, revision),
          human: () => formatDoctor(checks, ctx.colours),
          rows: () => doctorRows(checks),
        });
        return doctorPassed(checks, strict) ? EXIT.ok : EXIT.failed;
      }),
    );
}

const STEPS = 4;

/** The checks, and the one etcd revision the config and the leases were read at (null: etcd was not read). */
interface Diagnosis {
  readonly checks: Check[];
  readonly revision: number | null;
}

async function diagnose(ctx: Context, flags: DoctorFlags, bar: Progress): Promise<Diagnosis> {
  const skip = (section: string, name: string, why: string): Check => ({
    section,
    name,
    status: "skip",
    detail: `skipped: ${why}`,
  });
  bar.update(0, STEPS);
  const etcd = endpointChecks(await endpointStatuses(ctx));
  const checks = [...etcd.checks];
  bar.update(1, STEPS);
  let store: Store | undefined;
  let why = "no etcd endpoint answered";
  if (etcd.answered) {
    try {
      store = await ctx.store();
    } catch (err) {
      why = `etcd: ${messageOf(err)}`;
    }
  }
  if (store === undefined) {
    return {
      checks: [
        ...checks,
        skip("config", "present", why),
        skip("leases", "leases", why),
        skip("host", "lease", why),
      ],
      revision: null,
    };
  }
  const { listed, config } = await readSnapshot((last) => leasesThenConfig(store, ctx.globals.prefix, last));
  const state = "value" in config ? config.value : undefined;
  if ("value" in config) checks.push(...configChecks(config.value));
  else {
    checks.push({
      section: "config",
      name: "present",
      status: "fail",
      detail: `cannot read the config: ${messageOf(config.error)}`,
    });
  }
  bar.update(2, STEPS);
  let leases: { listing: LeaseListing; ttls: ReadonlyMap<string, number> | undefined } | undefined;
  try {
    if ("error" in listed) throw listed.error;
    const listing = listed.value;
    const lookup = await lookupTtls(store, listing, "auto");
    noteTtls(lookup);
    leases = { listing, ttls: lookup.ttls };
    if (state !== undefined) checks.push(...leaseChecks(listing, state, lookup.ttls));
  } catch (err) {
    checks.push({
      section: "leases",
      name: "leases",
      status: "fail",
      detail: `cannot list the leases: ${messageOf(err)}`,
    });
  }
  bar.update(3, STEPS);
  checks.push(...(await hostChecks(flags, store, state, leases)));
  bar.update(STEPS, STEPS);
  const revision = "value" in listed ? listed.value.revision : state?.revision;
  return { checks, revision: revision ?? null };
}

/** A read's answer or its failure, kept as a value. */
type Settled<T> = { readonly value: T } | { readonly error: unknown };

const settle = <T>(read: Promise<T>): Promise<Settled<T>> =>
  read.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/**
 * The leases first, then the config as it stood at the listing's revision: one snapshot, each
 * read's failure kept as a value. Before the last attempt a compacted revision throws, so
 * readSnapshot reads both again at a fresh one (a new registry: a listing of its own).
 */
async function leasesThenConfig(
  store: Store,
  prefix: string,
  last: boolean,
): Promise<{ listed: Settled<LeaseListing>; config: Settled<NetworkState> }> {
  const listed = await settle(new LeaseRegistry(store, { prefix }).list());
  const at = "value" in listed ? { revision: listed.value.revision } : {};
  const config = await settle(readNetwork(store, prefix, at));
  for (const read of [listed, config]) {
    if (!last && "error" in read && isPodnetError(read.error, "compacted")) throw read.error;
  }
  return { listed, config };
}

/**
 * Each endpoint's status and the time its status call took, through a connection of its own so
 * one dead member cannot hide behind a live one. A user whose password must be prompted for is
 * asked once, through the shared connection; then latency is not measured.
 */
async function endpointStatuses(ctx: Context): Promise<EndpointResult[]> {
  const connection = ctx.globals.connection;
  const endpoints = normaliseEndpoints(connection.endpoints, wantsTls(connection));
  const user = connection.user;
  if (user !== undefined && !user.includes(":") && connection.password === undefined) {
    try {
      const store = await ctx.store();
      return (await store.status()).map((s) => ("error" in s ? s : { endpoint: s.endpoint, status: s }));
    } catch (err) {
      return endpoints.map((endpoint) => ({ endpoint, error: err }));
    }
  }
  // Each endpoint on a connection of its own (ipam-core); a hung one fails with the time it waited.
  return (await checkEndpoints(connection)).map((c) =>
    "error" in c
      ? { endpoint: c.endpoint, error: new Error(`${messageOf(c.error)} (waited ${waitedText(c.waitedMs)})`) }
      : c,
  );
}

/** This host's lease (by --public-ip, the subnet file or its device) and its overlay device against it. */
async function hostChecks(
  flags: DoctorFlags,
  store: Store,
  state: NetworkState | undefined,
  leases: { listing: LeaseListing; ttls: ReadonlyMap<string, number> | undefined } | undefined,
): Promise<Check[]> {
  const skip = (name: string, why: string): Check => ({
    section: "host",
    name,
    status: "skip",
    detail: `skipped: ${why}`,
  });
  const file =
    flags.subnetFile ??
    (flags.publicIp === undefined && existsSync(DEFAULT_SUBNET_FILE) ? DEFAULT_SUBNET_FILE : undefined);
  if (flags.publicIp === undefined && file === undefined) {
    return [
      skip("lease", `give --public-ip or --subnet-file (no ${DEFAULT_SUBNET_FILE} here) to check this host`),
    ];
  }
  if (leases === undefined) return [skip("lease", "the leases could not be listed")];
  const checks: Check[] = [];
  let reading: SubnetFileReading | undefined;
  if (file !== undefined) {
    try {
      const contents = await readSubnetFile(file);
      reading = { path: file, ...(contents !== undefined && { contents }) };
    } catch (err) {
      reading = { path: file, error: messageOf(err) };
    }
    checks.push(subnetFileCheck(reading));
  }
  const fromFile = reading?.contents?.previousSubnet();
  if (flags.publicIp === undefined && fromFile === undefined) {
    return [...checks, skip("lease", "the subnet file names no subnet and no --public-ip was given")];
  }
  const match = findHostLease(leases.listing, {
    ...(flags.publicIp !== undefined && { publicIp: flags.publicIp }),
    ...(fromFile !== undefined && { subnetFileSubnet: fromFile }),
    ...(file !== undefined && { subnetFile: file }),
  });
  const own = match.lease;
  // This host's own TTL is always looked up, even when the others were too many.
  const ttl =
    own === undefined || !needsTtl(own)
      ? null
      : (leases.ttls?.get(own.etcdLease) ??
        (await store.timeToLiveMany([own.etcdLease])).get(own.etcdLease) ??
        -1);
  checks.push(
    hostLeaseCheck(
      match,
      {
        ...(flags.publicIp !== undefined && { publicIp: flags.publicIp }),
        ...(reading !== undefined && { subnetFile: reading }),
      },
      ttl,
    ),
  );
  if (own === undefined)
    return [...checks, skip("device", "no lease of this host to compare the device with")];

  const resolved = state?.state === "valid" ? state.resolved : undefined;
  const backend = resolved?.Backend;
  if (flags.iface === undefined && (resolved === undefined || backend?.Type !== "vxlan")) {
    const why =
      backend === undefined
        ? "the config is missing or invalid"
        : `the backend is ${backend.Type}, not vxlan`;
    return [...checks, skip("device", `${why}; give --iface to check a device anyway`)];
  }
  // One device per family of the network (flannel.<VNI>, flannel-v6.<VNI>), or the one --iface names.
  const families =
    flags.iface !== undefined || resolved === undefined ? [4 as const] : hostFamilies(resolved);
  const links: { family: 4 | 6; name: string; link: LinkInfo }[] = [];
  for (const family of families) {
    const name = flags.iface ?? vxlanDeviceName(backend?.Type === "vxlan" ? backend.VNI : 1, family === 6);
    const label = (check: string) => (family === 6 ? `${check}-v6` : check);
    let link: LinkInfo | undefined;
    try {
      link = await readLink(name);
    } catch (err) {
      checks.push(skip(label("device"), messageOf(err)));
      continue;
    }
    if (link === undefined) {
      const detail = `${name} does not exist; is the agent (podnet agent or flanneld) running on this host?`;
      checks.push({ section: "host", name: label("device"), status: "fail", detail });
      continue;
    }
    const underlay = link.dev === undefined ? undefined : await readLink(link.dev).catch(() => undefined);
    const found = deviceChecks({
      name,
      link,
      own,
      ...(backend !== undefined && { backend }),
      ...(reading?.contents !== undefined && { subnetFile: reading.contents }),
      ...(underlay !== undefined && { underlayMtu: underlay.mtu }),
    });
    checks.push(...found.map((c) => ({ ...c, name: label(c.name) })));
    if (link.kind === "vxlan") links.push({ family, name, link });
  }
  if (resolved === undefined || links.length === 0) return checks;
  // The plan as the agent makes it, DirectRouting's same-segment networks included.
  const v4 = links.find((l) => l.family === 4)?.link;
  const v6 = links.find((l) => l.family === 6)?.link;
  const dev = (v4 ?? v6)?.dev;
  const nets = dev === undefined ? undefined : await underlayByName(dev).catch(() => undefined);
  const facts = underlayFactsOf(
    own,
    { ...(v4 !== undefined && { v4 }), ...(v6 !== undefined && { v6 }) },
    nets ?? {},
  );
  for (const { family, name } of links) {
    const label = (check: string) => (family === 6 ? `${check}-v6` : check);
    try {
      const plan = planHost(
        { config: resolved, leases: leases.listing.leases, own, underlay: facts },
        family,
      );
      const planned = plan.device.name === name ? plan : { ...plan, device: { ...plan.device, name } };
      const state = await readKernelStateFor(planned);
      checks.push(
        ...kernelTableChecks(compareKernel(planned, state)).map((c) => ({ ...c, name: label(c.name) })),
      );
    } catch (err) {
      checks.push(skip(label("peers"), messageOf(err)));
    }
  }
  return checks;
}
