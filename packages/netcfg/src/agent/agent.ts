/**
 * The host agent (`podnet agent`): flanneld's job for the VXLAN backend, done so that failures
 * show. It waits for a valid config, acquires (or reuses) this host's lease, writes the subnet
 * file, programs the device and every peer, then keeps the kernel in step with the leases: a
 * watch for changes, a periodic full reconcile for drift, guarded renewals. A lost lease ends
 * the agent with exit status 1; during an etcd outage the data plane stays as it is.
 */

import { setFlagsFromString } from "node:v8";
import {
  configKey,
  formatIPv4,
  formatIPv4Cidr,
  formatLeaseKey,
  hasIPv4,
  isPodnetError,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseNetwork,
  LeaseRegistry,
  type LeaseSubnet,
  type LeaseWatch,
  normaliseMac,
  rangeContains,
  rangeSize,
  type Store,
  vtepMacOf,
  watchLeases,
} from "@podnet/ipam-core";
import { leaseNetworkOf } from "../config/lease-network.js";
import { overlayMtu, vxlanDeviceName } from "../config/overlay.js";
import type { ResolvedConfig, VxlanBackend } from "../config/schema.js";
import { validateConfigText } from "../config/validate.js";
import { applyDevice, applyPeerChanges, reconcilePeers, removeDataPlane } from "../host/apply.js";
import type { HostTarget } from "../host/iproute.js";
import { readKernelDevice } from "../host/kernel-state.js";
import { ensureMasquerade, MASQ_CHAIN, removeMasquerade } from "../host/masquerade.js";
import {
  type PeerContext,
  type PeerPlan,
  type PlannedDevice,
  planDevice,
  planPeer,
  vtepMacFor,
} from "../host/plan.js";
import {
  type DataPlaneChange,
  describeChange,
  describePeerChanges,
  diffPeer,
  noPeerChanges,
  type PeerChanges,
  type PeerTable,
  peerChangeCount,
  summarisePeerChanges,
} from "../host/reconcile.js";
import { readSubnetFile, writeSubnetFile } from "../host/subnet-file.js";
import { configNotFoundMessage, readConfig } from "../store/config-store.js";
import { type HealthServer, startHealthServer } from "./health.js";
import { AgentMetrics } from "./metrics.js";
import { findUnderlay, type Underlay } from "./underlay.js";

/** The agent's settings (the CLI's flags, resolved). */
export interface AgentOptions {
  /** The etcd prefix, normalised. */
  readonly prefix: string;
  /** Underlay interface candidates, names or IPv4 addresses, the first that exists wins; none: the default route's. */
  readonly ifaces?: readonly string[];
  /** Tried when no `ifaces` candidate exists: patterns matched against interface addresses, then names. */
  readonly ifaceRegexes?: readonly string[];
  /** The address to publish in the lease instead of the interface's. */
  readonly publicIp?: string;
  /** Where to write flannel's subnet file. */
  readonly subnetFile: string;
  /**
   * Masquerade pod traffic leaving the overlay (iptables rules kept by each reconcile, as
   * flanneld's `--ip-masq`); also written as FLANNEL_IPMASQ, which tells Docker not to.
   */
  readonly ipMasq: boolean;
  /** Renew when this many seconds of the lease's TTL remain. */
  readonly renewMarginSeconds: number;
  /** TTL of a newly created lease; default 24 h (testing). */
  readonly leaseTtlSeconds?: number;
  /** On a clean stop: release the lease and delete the device, so peers drop this host. */
  readonly releaseOnExit: boolean;
  /** How often to compare the kernel with the plan and repair drift. */
  readonly reconcileIntervalMs: number;
  /** Serve /healthz, /readyz and /metrics here; absent: no server. */
  readonly healthz?: { readonly host: string; readonly port: number };
  /** How often to look again at a missing or invalid config; default 5 s. */
  readonly configRetryMs?: number;
  /** The network namespace to program; default the agent's own. */
  readonly target?: HostTarget;
}

/** What the agent runs against. */
export interface AgentEnvironment {
  /** Connects to etcd; called again after a failure to connect. */
  connect(): Promise<Store>;
  /** One line per event, without a timestamp (the caller adds it). */
  log(line: string): void;
  /** Aborted on SIGTERM/SIGINT: stop cleanly. */
  readonly signal: AbortSignal;
}

/** How the agent ended: 0 after a requested stop, 1 when its lease was lost. */
export interface AgentResult {
  readonly exitCode: 0 | 1;
  readonly reason: string;
}

/** Capped backoff while etcd does not answer. */
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** Above this many kernel changes in one reconcile, the log gets a summary instead of a line each. */
const MAX_CHANGE_LINES = 12;

/** Runs the agent until it is stopped (exit 0) or loses its lease (exit 1); throws only on a fatal setup error. */
export async function runAgent(opts: AgentOptions, env: AgentEnvironment): Promise<AgentResult> {
  keepHeapSmall();
  return new Agent(opts, env).run();
}

/**
 * The agent's peak memory is what a host pays, so V8 is asked to favour size over speed:
 *
 * - V8 doubles its young generation (up to 2 x 16 MB) whenever much of it survives, as 10,000
 *   decoded leases do; the agent's steady state needs none of that room. A growth factor of 1
 *   keeps the semi-spaces at their initial size; the factor is read at each growth, so setting
 *   it after start-up takes effect (unlike --max-semi-space-size). Only scavenges become more
 *   frequent.
 * - A burst of thousands of lease events promotes short-lived objects to the old generation,
 *   and V8 by default lets it grow to up to 4x its live size after a full GC (~50 MB of
 *   garbage at 10,000 peers) before the next. A growing factor of 1.2 bounds that slack; it is
 *   read at each limit computation. The limit still follows the live size: no hard heap cap,
 *   no forced GCs, and (unlike --optimize-for-size) no change to the compiler.
 */
function keepHeapSmall(): void {
  for (const flag of ["--semi-space-growth-factor=1", "--heap-growing-percent=20"]) {
    try {
      setFlagsFromString(flag);
    } catch {
      // An engine without the flag: the default sizing.
    }
  }
}

class Agent {
  private readonly metrics = new AgentMetrics();
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private readonly target: HostTarget;
  private result: AgentResult | undefined;
  private phase = "starting";
  private store: Store | undefined;
  private health: HealthServer | undefined;
  private underlay: Underlay | undefined;
  private config: ResolvedConfig | undefined;
  private backend: VxlanBackend | undefined;
  private network: LeaseNetwork | undefined;
  private registry: LeaseRegistry | undefined;
  private own: Lease | undefined;
  private keep: { readonly lease: Lease; stop(): void } | undefined;
  private watch: LeaseWatch | undefined;
  /** One compact record per lease (this host's own included), never the lease itself. */
  private readonly peers = new Map<string, Tracked>();
  /** The programmed peers by network address and by VtepMAC. */
  private readonly byNet = new Map<number, PeerPlan>();
  private readonly byMac = new Map<string, PeerPlan>();
  /** Leases held back only by a clash with another peer: retried when a peer goes. */
  private blocked = 0;
  /** The device and per-peer context, fixed once the own lease is known; or why it cannot be planned. */
  private planned: { device: PlannedDevice; context: PeerContext; network: string } | undefined;
  private planError: unknown;
  private table: PeerTable | undefined;
  /** Peers changed since they were last applied, with what was programmed for them then. */
  private readonly dirty = new Map<string, PeerPlan | undefined>();
  /** A full comparison with the kernel is due (the first one, the periodic one, or after a failure). */
  private fullDue = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private subnetFileWritten = false;
  private programmed = false;
  private lastReconcileError: string | null = null;
  private lastWatchError = { text: "", at: 0 };

  constructor(
    private readonly opts: AgentOptions,
    private readonly env: AgentEnvironment,
  ) {
    this.signal = AbortSignal.any([env.signal, this.stop.signal]);
    this.target = opts.target ?? {};
  }

  async run(): Promise<AgentResult> {
    try {
      if (this.opts.healthz !== undefined) {
        const { host, port } = this.opts.healthz;
        this.health = await startHealthServer(host, port, {
          health: () => (this.result === undefined ? null : `stopping: ${this.result.reason}`),
          readiness: () => this.notReadyReason(),
          metrics: () => this.metrics.render(),
        });
        this.log(`serving /healthz, /readyz and /metrics on http://${this.health.address}`);
      }
      await this.setUp();
      if (!this.signal.aborted) await this.untilStopped();
    } finally {
      await this.tearDown();
    }
    return this.result ?? { exitCode: 0, reason: "stopped" };
  }

  // ---- start-up ----

  private async setUp(): Promise<void> {
    const underlay = await this.findUnderlay();
    this.underlay = underlay;
    this.log(
      `using interface ${underlay.dev} (${underlay.ip}, MTU ${underlay.mtu}); public IP ${underlay.publicIP}`,
    );
    this.phase = "connecting to etcd";
    const store = await this.retrying("connect to etcd", () => this.env.connect());
    if (store === undefined) return;
    this.store = store;
    this.phase = "waiting for the network config";
    const found = await this.waitForConfig(store);
    if (found === undefined) return;
    const { backend, network } = found;
    this.registry = new LeaseRegistry(store, {
      prefix: this.opts.prefix,
      ...(this.opts.leaseTtlSeconds !== undefined && { ttlSeconds: this.opts.leaseTtlSeconds }),
    });
    this.phase = "acquiring a lease";
    const own = await this.acquire(backend, network);
    if (own === undefined) return;
    this.own = own;
    this.startKeepAlive(own);
    this.phase = "writing the subnet file";
    const mtu = overlayMtu(backend, underlay.mtu).mtu;
    await writeSubnetFile(this.opts.subnetFile, {
      subnet: own.subnet.ipv4,
      ...(network.ipv4 !== undefined && { network: network.ipv4.network }),
      mtu,
      ipMasq: this.opts.ipMasq,
    });
    this.subnetFileWritten = true;
    this.log(`wrote ${this.opts.subnetFile} (FLANNEL_MTU=${mtu}, FLANNEL_IPMASQ=${this.opts.ipMasq})`);
    this.phase = "programming peers";
    this.preparePlan(own);
    const watch = await this.retrying("list the leases", () =>
      watchLeases(
        store,
        this.opts.prefix,
        {
          snapshot: (listing) => {
            for (const lease of listing.leases) this.track(lease.key, lease);
            for (const d of listing.damaged) this.log(`skipping damaged lease ${d.key}: ${d.reason}`);
            for (const f of listing.foreign) this.log(`skipping foreign key ${f.key}: ${f.reason}`);
            this.updateLeaseMetrics();
          },
          events: (events) => this.onEvents(events),
          error: (err) => this.onWatchError(err),
        },
        // The agent keeps its own compact record per lease; the watcher need not keep the leases.
        { backoff: { initialMs: 100, maxMs: 5000 }, keepLeases: false },
      ),
    );
    if (watch === undefined) return;
    this.watch = watch;
    this.log(`watching ${this.peers.size} lease(s) from revision ${watch.revision}`);
    if (!this.peers.has(own.key)) {
      this.lost(`the lease on ${formatIPv4Cidr(own.subnet.ipv4)} disappeared right after it was acquired`);
      return;
    }
    this.kick(true);
    await this.running;
    this.timer = setInterval(() => this.kick(true), this.opts.reconcileIntervalMs);
    this.timer.unref();
  }

  /**
   * The first of the `--iface` candidates that exists (flanneld's order), else the first
   * `--iface-regex` match, else (neither given) the default route's interface.
   */
  private async findUnderlay(): Promise<Underlay> {
    const publicIp = this.opts.publicIp;
    const candidates = this.opts.ifaces ?? [];
    const ifaceRegexes = this.opts.ifaceRegexes ?? [];
    const byRegex = {
      ...(publicIp !== undefined && { publicIp }),
      ...(ifaceRegexes.length > 0 && { ifaceRegexes }),
    };
    if (candidates.length === 0) return findUnderlay(byRegex, this.target);
    let firstError: unknown;
    for (const iface of candidates) {
      try {
        return await findUnderlay({ iface, ...(publicIp !== undefined && { publicIp }) }, this.target);
      } catch (err) {
        if (!isPodnetError(err, "usage")) throw err;
        firstError ??= err;
        if (candidates.length > 1 || ifaceRegexes.length > 0)
          this.log(`not using --iface ${iface}: ${err.message}`);
      }
    }
    if (ifaceRegexes.length > 0) return findUnderlay(byRegex, this.target);
    throw firstError;
  }

  /** Reads the config until it is there, valid and vxlan; undefined when stopped meanwhile. */
  private async waitForConfig(
    store: Store,
  ): Promise<{ backend: VxlanBackend; network: LeaseNetwork } | undefined> {
    const key = configKey(this.opts.prefix);
    let said = "";
    const say = (line: string) => {
      if (line !== said) this.log(line);
      said = line;
    };
    let backoff = BACKOFF_INITIAL_MS;
    while (!this.signal.aborted) {
      let wait = this.opts.configRetryMs ?? 5000;
      try {
        const { config } = await readConfig(store, this.opts.prefix);
        backoff = BACKOFF_INITIAL_MS;
        if (config === undefined) {
          say(`waiting for the network config: ${configNotFoundMessage(key)}`);
        } else {
          const result = validateConfigText(config.text);
          const resolved = result.resolved;
          if (!result.valid || resolved === undefined) {
            const first = result.errors[0];
            const what =
              first === undefined ? "" : `${first.path === "" ? "" : `${first.path}: `}${first.message}`;
            say(`waiting for a valid network config at ${key} (revision ${config.modRevision}): ${what}`);
          } else if (resolved.Backend.Type !== "vxlan") {
            say(
              `waiting for a vxlan network config at ${key}: its backend is ${resolved.Backend.Type}, and podnet agent programs only vxlan`,
            );
          } else if (!resolved.EnableIPv4 || resolved.Network === undefined) {
            say(
              `waiting for a network config with an IPv4 Network at ${key}: podnet agent programs IPv4 overlays only`,
            );
          } else {
            const ipv4 = leaseNetworkOf(resolved).ipv4;
            if (resolved.EnableIPv6)
              this.log("the config enables IPv6 too; podnet agent leases and programs IPv4 only");
            const found = { backend: resolved.Backend, network: { ...(ipv4 !== undefined && { ipv4 }) } };
            this.config = resolved;
            this.backend = found.backend;
            this.network = found.network;
            this.log(
              `network config (revision ${config.modRevision}): ${resolved.Network}, /${resolved.SubnetLen} subnets, vxlan VNI ${resolved.Backend.VNI}`,
            );
            return found;
          }
        }
      } catch (err) {
        if (!isPodnetError(err, "unavailable")) throw err;
        say(`cannot read the network config (retrying): ${err.message}`);
        wait = backoff;
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
      await pause(wait, this.signal);
    }
    return undefined;
  }

  /** Acquires or reuses this host's lease, with a VtepMAC that stays the same across restarts. */
  private async acquire(backend: VxlanBackend, network: LeaseNetwork): Promise<Lease | undefined> {
    const registry = this.registry!;
    const underlay = this.underlay!;
    const mac = await this.retrying("look up this host's VTEP MAC", () => this.stableMac(backend.VNI));
    if (mac === undefined) return undefined;
    let previous: LeaseSubnet | undefined;
    try {
      previous = (await readSubnetFile(this.opts.subnetFile))?.previousSubnet();
    } catch (err) {
      this.log(`ignoring the previous subnet: ${err instanceof Error ? err.message : String(err)}`);
    }
    const attrs: LeaseAttrs = {
      publicIP: underlay.publicIP,
      publicIPv6: null,
      backendType: "vxlan",
      backendData: `{"VNI":${backend.VNI},"VtepMAC":"${mac}"}`,
    };
    const result = await this.retrying(
      "acquire a lease",
      () =>
        registry.acquire({
          network,
          attrs,
          ...(previous !== undefined && hasIPv4(previous) && { previous: { ipv4: previous.ipv4 } }),
        }),
      ["unavailable", "conflict", "exhausted"],
    );
    if (result === undefined) return undefined;
    for (const gone of result.removed) {
      this.log(
        `deleted this host's old lease ${formatLeaseKey(gone.subnet)}: it no longer fits the network config`,
      );
    }
    const how = {
      reused: "reused this host's lease",
      previous: "took the previous subnet again",
      new: "leased a new subnet",
    };
    this.log(
      `${how[result.outcome]} ${formatIPv4Cidr(result.lease.subnet.ipv4)} (VtepMAC ${mac}, etcd lease ${result.lease.etcdLease === "0" ? "none: a reservation" : hex(result.lease.etcdLease)})`,
    );
    return result.lease;
  }

  /** The VTEP MAC: the existing device's, else the one in this host's lease, else one derived from the public IP. */
  private async stableMac(vni: number): Promise<string> {
    const underlay = this.underlay!;
    const device = await readKernelDevice(vxlanDeviceName(vni), this.target);
    const fromDevice = device?.kind === "vxlan" ? normaliseMac(device.mac) : null;
    if (fromDevice !== null) return fromDevice;
    const listing = await this.registry!.list();
    for (const lease of listing.leases) {
      if (lease.attrs.publicIP !== underlay.publicIP) continue;
      const mac = vtepMacOf(lease.attrs);
      if (mac !== null) return mac;
    }
    return vtepMacFor(`podnet/${underlay.publicIP}/vni=${vni}`);
  }

  private startKeepAlive(own: Lease): void {
    const ttl = this.registry!.ttlSeconds;
    this.keep = this.registry!.keepAlive(own, {
      // A margin as long as the TTL makes keepAlive renew at a third of it.
      renewMarginSeconds: this.opts.renewMarginSeconds,
      retryIntervalSeconds: Math.max(1, Math.min(60, Math.floor(ttl / 10))),
      onRenewed: (lease, remaining) => {
        this.own = lease;
        this.metrics.inc("podnet_renewals_total");
        this.log(
          `renewed lease ${formatIPv4Cidr(lease.subnet.ipv4)}${remaining > 0 ? ` (${remaining}s left)` : " (a reservation)"}`,
        );
      },
      onLost: (err) => this.lost(err.message),
      onError: (err) => {
        this.metrics.inc("podnet_renew_failures_total");
        this.log(`renewing lease ${formatIPv4Cidr(own.subnet.ipv4)} failed (will retry): ${err.message}`);
      },
    });
  }

  // ---- running ----

  private untilStopped(): Promise<void> {
    return new Promise((resolve) => {
      if (this.signal.aborted) return resolve();
      this.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  private onEvents(events: readonly LeaseEvent[]): void {
    const own = this.own;
    // A line per lease for a few changes; for many at once (thousands of hosts starting), counts.
    const each = events.length <= MAX_CHANGE_LINES;
    let added = 0;
    let changed = 0;
    let gone = 0;
    let deleted = 0;
    for (const e of events) {
      const key = e.type === "added" || e.type === "changed" ? e.lease.key : e.key;
      if (own !== undefined && key === own.key) {
        this.onOwnEvent(e, own);
        continue;
      }
      switch (e.type) {
        case "added":
          if (each) this.log(`lease added: ${describeLease(e.lease)}`);
          added++;
          this.track(e.lease.key, e.lease);
          break;
        case "changed": {
          // A renewal rewrites the same value: not worth a line.
          if (this.peers.get(key)?.value !== valueHash(e.lease.value)) {
            if (each) this.log(`lease changed: ${describeLease(e.lease)}`);
            changed++;
          }
          this.track(e.lease.key, e.lease);
          break;
        }
        case "removed":
          if (each) {
            const p = this.peers.get(key)?.plan;
            this.log(
              `lease ${e.expired ? "gone (released, revoked or expired)" : "deleted"}: ${p === undefined ? e.key : describePlan(p)}`,
            );
          }
          if (e.expired) gone++;
          else deleted++;
          this.track(e.key, undefined);
          break;
        case "damaged":
          this.log(`skipping damaged lease ${e.key}: ${e.reason}`);
          this.track(e.key, undefined);
          break;
        case "foreign":
          this.log(`skipping foreign key ${e.key}: ${e.reason}`);
          break;
      }
    }
    if (!each && added + changed + gone + deleted > 0) {
      const counts = [
        [added, "added"],
        [changed, "changed"],
        [deleted, "deleted"],
        [gone, "gone (released, revoked or expired)"],
      ] as const;
      this.log(
        `leases ${counts
          .filter(([n]) => n > 0)
          .map(([n, what]) => `${what}: ${n}`)
          .join(", ")}`,
      );
    }
    this.updateLeaseMetrics();
    if (this.dirty.size > 0) this.kick(false);
  }

  /** Our own key changed under us: gone or taken means the lease is lost; anything else is checked. */
  private onOwnEvent(e: LeaseEvent, own: Lease): void {
    const name = formatIPv4Cidr(own.subnet.ipv4);
    if (e.type === "removed") {
      this.track(e.key, undefined);
      this.lost(`the lease on ${name} was ${e.expired ? "revoked or expired" : "deleted"} in etcd`);
      return;
    }
    if (e.type === "damaged") {
      this.lost(`the lease on ${name} was overwritten with a damaged value`);
      return;
    }
    if (e.type !== "changed" && e.type !== "added") return;
    this.track(e.lease.key, e.lease);
    if (e.lease.attrs.publicIP !== own.attrs.publicIP) {
      this.lost(`the lease on ${name} was taken by ${e.lease.attrs.publicIP}`);
      return;
    }
    if (e.lease.value === own.value && e.lease.etcdLease === own.etcdLease) return;
    // Someone rewrote our key with our address: still ours only if a guarded renewal agrees.
    this.registry!.renew(own).then(
      (lease) => {
        this.own = lease;
        this.log(`this host's lease was rewritten in etcd and is still ours: ${describeLease(lease)}`);
      },
      (err: unknown) => {
        if (isPodnetError(err, "conflict") || isPodnetError(err, "not-found")) this.lost(err.message);
        else
          this.log(
            `checking this host's rewritten lease failed (will check at the next renewal): ${String(err)}`,
          );
      },
    );
  }

  private onWatchError(err: Error): void {
    const now = Date.now();
    // One line per outage, repeated every 30 s while it lasts.
    if (err.message === this.lastWatchError.text && now - this.lastWatchError.at < 30_000) return;
    this.lastWatchError = { text: err.message, at: now };
    this.log(`watching leases failed (data plane kept as it is; retrying): ${err.message}`);
  }

  // ---- the desired state, one compact record per lease ----

  /** Works out the device and the per-peer context once; a failure is reported by every reconcile. */
  private preparePlan(own: Lease): void {
    const config = this.config!;
    const underlay = this.underlay!;
    try {
      const { device, context } = planDevice({
        config,
        own,
        underlay: { dev: underlay.dev, ip: underlay.ip, mtu: underlay.mtu, directNets: underlay.networks },
      });
      const network = config.Network ?? "";
      this.planned = { device, context, network };
      const byNet = this.byNet;
      const byMac = this.byMac;
      this.table = {
        context,
        byNet: (net) => byNet.get(net),
        byMac: (mac) => byMac.get(mac),
        peers: () => byNet.values(),
      };
    } catch (err) {
      this.planError = err;
    }
  }

  /**
   * Records a lease's new state (`lease` undefined: it is gone) as a compact record, and marks
   * the peer for the next incremental apply with what was programmed for it before.
   */
  private track(key: string, lease: Lease | undefined): void {
    const old = this.peers.get(key);
    const before = old?.plan;
    if (old?.blocked !== undefined) this.blocked--;
    if (before !== undefined) this.unindex(before);
    if (lease === undefined) {
      this.peers.delete(key);
    } else {
      const range = this.network?.ipv4;
      const inRange = range !== undefined && hasIPv4(lease.subnet) && rangeContains(range, lease.subnet.ipv4);
      const next: Tracked = {
        plan: undefined,
        skip: undefined,
        blocked: undefined,
        inRange,
        value: valueHash(lease.value),
      };
      this.peers.set(key, next);
      if (key !== this.own?.key) this.plan(key, lease, next, old?.skip);
    }
    const after = this.peers.get(key)?.plan;
    if (before !== after && !this.dirty.has(key)) this.dirty.set(key, before);
    if (before !== undefined && this.blocked > 0) this.unblock();
  }

  private plan(key: string, lease: Lease, t: Tracked, oldSkip: string | undefined): void {
    const context = this.planned?.context;
    if (context === undefined) return;
    const p = planPeer(context, lease);
    let skip: string | undefined;
    if (typeof p === "string") {
      skip = p;
    } else if (p.mac === context.ownMac) {
      skip = `its VtepMAC ${p.mac} is already used by ${this.own?.key ?? "this host"}`;
    } else {
      skip = this.clash(p);
      if (skip !== undefined) {
        t.blocked = p;
        this.blocked++;
      } else {
        t.plan = p;
        this.index(p);
      }
    }
    t.skip = skip;
    if (skip !== undefined && skip !== oldSkip) this.log(`skipping lease ${key}: ${skip}`);
  }

  /** Why `p` cannot be programmed beside the programmed peers, if it cannot. */
  private clash(p: PeerPlan): string | undefined {
    const macHolder = this.byMac.get(p.mac);
    if (macHolder !== undefined) return `its VtepMAC ${p.mac} is already used by ${macHolder.key}`;
    const netHolder = this.byNet.get(p.net);
    if (netHolder !== undefined) return `its network address is already used by ${netHolder.key}`;
    return undefined;
  }

  private index(p: PeerPlan): void {
    this.byNet.set(p.net, p);
    this.byMac.set(p.mac, p);
  }

  private unindex(p: PeerPlan): void {
    if (this.byNet.get(p.net) === p) this.byNet.delete(p.net);
    if (this.byMac.get(p.mac) === p) this.byMac.delete(p.mac);
  }

  /** A peer went: leases held back by a clash with it may be programmed now. */
  private unblock(): void {
    for (const [key, t] of this.peers) {
      const p = t.blocked;
      if (p === undefined || this.clash(p) !== undefined) continue;
      t.blocked = undefined;
      t.skip = undefined;
      t.plan = p;
      this.blocked--;
      this.index(p);
      if (!this.dirty.has(key)) this.dirty.set(key, undefined);
    }
  }

  // ---- applying ----

  /**
   * Schedules work: a full reconcile when `full` (or when one is due), else the incremental
   * apply of the peers changed since. Calls while one runs coalesce into one more pass after it.
   */
  private kick(full: boolean): void {
    if (full) this.fullDue = true;
    if (this.running !== undefined) return;
    this.running = (async () => {
      // Let the rest of this tick's events join the batch.
      await new Promise<void>((r) => setImmediate(r));
      while (!this.signal.aborted && (this.fullDue || this.dirty.size > 0)) {
        if (this.fullDue) {
          this.fullDue = false;
          this.dirty.clear();
          await this.reconcile();
        } else {
          await this.applyDirty();
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Applies exactly the changed peers' entries, without reading the kernel. */
  private async applyDirty(): Promise<void> {
    const planned = this.planned;
    if (planned === undefined) {
      this.dirty.clear();
      return;
    }
    const changes = noPeerChanges();
    for (const [key, before] of this.dirty) {
      const after = this.peers.get(key)?.plan;
      diffPeer(
        planned.context,
        before,
        after,
        before === undefined ? "lease added" : after === undefined ? "lease gone" : "lease changed",
        changes,
      );
    }
    this.dirty.clear();
    if (peerChangeCount(changes) === 0) return;
    try {
      await applyPeerChanges(planned.context, changes, this.target);
    } catch (err) {
      // The kernel is not as we thought (an entry or the device removed by hand): compare it all.
      const text = err instanceof Error ? err.message : String(err);
      this.log(`applying lease changes failed (reconciling fully): ${text}`);
      this.fullDue = true;
      return;
    }
    this.logChanges([], planned.context, changes);
    this.metrics.set("podnet_peers_programmed", this.byNet.size);
    this.metrics.set("podnet_peers_skipped", this.skippedCount());
  }

  /** One full comparison of the kernel with the plan, applying the difference in batches. */
  private async reconcile(): Promise<void> {
    const own = this.own;
    if (own === undefined || this.config === undefined || this.underlay === undefined) return;
    this.metrics.inc("podnet_reconciles_total");
    const planned = this.planned;
    const table = this.table;
    if (planned === undefined || table === undefined) return this.reconcileFailed(this.planError);
    let failure: unknown;
    try {
      const deviceChanges = await applyDevice(planned.device, planned.network, this.target);
      const changes = await reconcilePeers(table, planned.network, this.target);
      this.logChanges(deviceChanges, planned.context, changes);
    } catch (err) {
      failure = err;
    }
    // The rules need no device or peer: pods keep their way out while a peer entry fails.
    if (this.opts.ipMasq) {
      try {
        await this.masquerade(own);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) return this.reconcileFailed(failure);
    if (this.lastReconcileError !== null) this.log("reconcile succeeded again");
    this.lastReconcileError = null;
    this.metrics.set("podnet_peers_programmed", this.byNet.size);
    this.metrics.set("podnet_peers_skipped", this.skippedCount());
    if (!this.programmed) {
      this.programmed = true;
      this.log(`ready: ${this.byNet.size} peer(s) programmed on ${planned.device.name}`);
    }
    this.metrics.set("podnet_ready", this.notReadyReason() === null ? 1 : 0);
  }

  /** Keeps the masquerade rules for the pod network and this host's subnet. */
  private async masquerade(own: Lease): Promise<void> {
    const range = this.network?.ipv4;
    if (range === undefined) return;
    const network = formatIPv4Cidr(range.network);
    const why = await ensureMasquerade(network, formatIPv4Cidr(own.subnet.ipv4), this.target);
    if (why !== undefined) this.log(`set the masquerade rules for ${network} (chain ${MASQ_CHAIN}; ${why})`);
  }

  private logChanges(device: readonly DataPlaneChange[], context: PeerContext, peers: PeerChanges): void {
    const total = device.length + peerChangeCount(peers);
    if (total === 0) return;
    this.metrics.inc("podnet_kernel_changes_total", total);
    if (total > MAX_CHANGE_LINES) {
      const summary = [...device.map((c) => `${c.kind} ${c.action}`), summarisePeerChanges(peers)]
        .filter((x) => x !== "")
        .join(", ");
      this.log(`applied ${total} kernel changes: ${summary}`);
    } else {
      for (const c of device) this.log(describeChange(c));
      for (const line of describePeerChanges(context, peers)) this.log(line);
    }
  }

  private skippedCount(): number {
    let n = 0;
    for (const t of this.peers.values()) if (t.skip !== undefined) n++;
    return n;
  }

  private reconcileFailed(err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.metrics.inc("podnet_reconcile_errors_total");
    this.metrics.set("podnet_ready", 0);
    if (text !== this.lastReconcileError) this.log(`reconcile failed (will retry): ${text}`);
    this.lastReconcileError = text;
  }

  private updateLeaseMetrics(): void {
    this.metrics.set("podnet_leases", this.peers.size);
    const range = this.network?.ipv4;
    if (range === undefined) return;
    this.metrics.set("podnet_subnets_total", rangeSize(range));
    let used = 0;
    for (const t of this.peers.values()) if (t.inRange) used++;
    this.metrics.set("podnet_subnets_used", used);
  }

  private notReadyReason(): string | null {
    if (this.result !== undefined) return `stopping: ${this.result.reason}`;
    if (!this.subnetFileWritten) return this.phase;
    if (!this.programmed) return this.lastReconcileError ?? "programming peers";
    if (this.lastReconcileError !== null) return `the last reconcile failed: ${this.lastReconcileError}`;
    return null;
  }

  // ---- stopping ----

  private lost(reason: string): void {
    if (this.result !== undefined) return;
    this.result = { exitCode: 1, reason };
    this.log(`lease lost: ${reason}; shutting down with exit status 1`);
    this.stop.abort();
  }

  private async tearDown(): Promise<void> {
    if (this.result === undefined) {
      this.result = { exitCode: 0, reason: "stopped by signal" };
      if (this.env.signal.aborted) this.log("stopping (signal received)");
    }
    this.stop.abort();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.keep?.stop();
    await this.watch?.stop().catch(() => undefined);
    await this.running?.catch(() => undefined);
    const own = this.keep?.lease ?? this.own;
    if (
      this.opts.releaseOnExit &&
      this.result.exitCode === 0 &&
      own !== undefined &&
      this.registry !== undefined
    ) {
      try {
        await this.registry.release(own);
        this.log(`released lease ${formatIPv4Cidr(own.subnet.ipv4)}`);
      } catch (err) {
        this.log(
          `could not release lease ${formatIPv4Cidr(own.subnet.ipv4)}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (this.backend !== undefined) {
        const name = vxlanDeviceName(this.backend.VNI);
        try {
          if (await removeDataPlane(name, this.target))
            this.log(`deleted ${name} and its neighbours, fdb entries and routes`);
        } catch (err) {
          this.log(`could not delete ${name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (this.opts.ipMasq) {
        try {
          if (await removeMasquerade(this.target))
            this.log(`deleted the masquerade rules (chain ${MASQ_CHAIN})`);
        } catch (err) {
          this.log(
            `could not delete the masquerade rules: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    } else if (own !== undefined && this.result.exitCode === 0) {
      this.log(`kept lease ${formatIPv4Cidr(own.subnet.ipv4)} and the data plane (no --release-on-exit)`);
    }
    await this.health?.close().catch(() => undefined);
    this.store?.close();
  }

  // ---- helpers ----

  /**
   * Runs `fn` until it succeeds, retrying errors of the given codes (default: etcd unavailable)
   * with capped backoff and a log line each; undefined when stopped meanwhile.
   */
  private async retrying<T>(
    what: string,
    fn: () => Promise<T>,
    codes: readonly string[] = ["unavailable"],
  ): Promise<T | undefined> {
    let backoff = BACKOFF_INITIAL_MS;
    while (!this.signal.aborted) {
      try {
        return await fn();
      } catch (err) {
        if (!isPodnetError(err) || !codes.includes(err.code)) throw err;
        this.log(`cannot ${what} (retrying in ${Math.round(backoff / 100) / 10}s): ${err.message}`);
        await pause(backoff, this.signal);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
    return undefined;
  }

  private log(line: string): void {
    this.env.log(line);
  }
}

/** What the agent keeps of one lease. */
interface Tracked {
  /** What is programmed for it; undefined when it is skipped (or this host's own). */
  plan: PeerPlan | undefined;
  /** Why it is not programmed. */
  skip: string | undefined;
  /** Its plan, held back by a clash with another peer's VtepMAC or address. */
  blocked: PeerPlan | undefined;
  /** Its subnet lies in the network's range (the subnets-used metric). */
  inRange: boolean;
  /** A hash of its value, to tell a renewal (same value) from a change without keeping the value. */
  value: number;
}

/** FNV-1a over the UTF-16 code units: cheap, allocation-free, and enough to tell values apart. */
function valueHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A programmed peer as a log line: `10.5.7.0/24 at 192.0.2.12 (vxlan)`. */
function describePlan(p: PeerPlan): string {
  return `${formatIPv4Cidr({ ip: p.net, prefix: p.prefix })} at ${formatIPv4(p.publicIp)} (vxlan)`;
}

/** `10.5.7.0/24 at 192.0.2.12 (vxlan)` */
function describeLease(lease: Lease): string {
  const subnet = hasIPv4(lease.subnet) ? formatIPv4Cidr(lease.subnet.ipv4) : formatLeaseKey(lease.subnet);
  return `${subnet} at ${lease.attrs.publicIP} (${lease.attrs.backendType ?? "no backend type"})`;
}

/** etcd prints lease ids in hex (`etcdctl lease list`); podnet keeps them decimal internally. */
function hex(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
