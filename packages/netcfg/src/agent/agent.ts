/**
 * The host agent (`podnet agent`): flanneld's job for the VXLAN backend, done so that failures
 * show. It waits for a valid config (config-wait.ts), acquires (or reuses) this host's lease
 * (own-lease.ts), writes the subnet file, programs the devices and every peer (family-plane.ts,
 * peer-table.ts), then keeps the kernel in step with the leases: a watch for changes, a periodic
 * full reconcile for drift (scheduler.ts), guarded renewals. A lost lease ends the agent with
 * exit status 1; during an etcd outage the data plane stays as it is.
 */
import {
  formatIPv4Cidr,
  formatIPv6Cidr,
  formatLeaseKey,
  hasIPv4,
  isReservation,
  type KeepAliveHandle,
  type Lease,
  type LeaseEvent,
  LeaseRegistry,
  type LeaseWatch,
  rangeContains,
  rangeSize,
  type Store,
  watchLeases,
} from "@podnet/ipam-core";
import { overlayMtu } from "../config/overlay.js";
import { hostFamilies, planHostDevice } from "../host/host-plan.js";
import type { HostTarget } from "../host/iproute.js";
import { ensureMasquerade, MASQ_CHAIN, removeMasquerade } from "../host/masquerade.js";
import { writeSubnetFile } from "../host/subnet-file.js";
import { type AgentNetwork, waitForConfig } from "./config-wait.js";
import { FamilyPlane } from "./family-plane.js";
import { type HealthServer, startHealthServer } from "./health.js";
import { describeLease, EventCounts, MAX_EVENT_LINES, valueHash } from "./lease-log.js";
import { AgentMetrics } from "./metrics.js";
import { acquireOwnLease, checkRewrittenLease, keepOwnLease } from "./own-lease.js";
import { retrying } from "./retry.js";
import { ReconcileScheduler } from "./scheduler.js";
import { chooseUnderlay, type Underlay } from "./underlay.js";

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
  /** The IPv6 address to publish (PublicIPv6) instead of the interface's. */
  readonly publicIpv6?: string;
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

/** Runs the agent until it is stopped (exit 0) or loses its lease (exit 1); throws only on a fatal setup error. */
export function runAgent(opts: AgentOptions, env: AgentEnvironment): Promise<AgentResult> {
  return new Agent(opts, env).run();
}

/** What the agent keeps of every lease (its own included): enough for the metrics and the log. */
interface LeaseRecord {
  /** A hash of its value, to tell a renewal (same value) from a change without keeping the value. */
  readonly value: number;
  /** Its subnet lies in the network's range (the subnets-used metric). */
  readonly inRange: boolean;
}

class Agent {
  private readonly metrics = new AgentMetrics();
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private readonly target: HostTarget;
  private readonly scheduler: ReconcileScheduler;
  private readonly leases = new Map<string, LeaseRecord>();
  /** What retrying() needs: the stop signal and the log. */
  private readonly retry: { readonly signal: AbortSignal; log(line: string): void };
  private result: AgentResult | undefined;
  private phase = "starting";
  private store: Store | undefined;
  private health: HealthServer | undefined;
  private underlay: Underlay | undefined;
  private net: AgentNetwork | undefined;
  private registry: LeaseRegistry | undefined;
  private own: Lease | undefined;
  private keep: KeepAliveHandle | undefined;
  private watch: LeaseWatch | undefined;
  /** One per family of the network; empty while the plan cannot be made (`planError` says why). */
  private planes: FamilyPlane[] = [];
  private planError: unknown;
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
    this.retry = { signal: this.signal, log: (line) => this.log(line) };
    this.scheduler = new ReconcileScheduler(
      {
        full: () => this.reconcile(),
        incremental: () => this.applyChanged(),
        pending: () => this.planes.some((p) => p.peers.pending),
      },
      this.signal,
    );
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
      if (!this.signal.aborted) await untilAborted(this.signal);
    } finally {
      await this.tearDown();
    }
    return this.result ?? { exitCode: 0, reason: "stopped" };
  }

  // ---- start-up ----

  private async setUp(): Promise<void> {
    const o = this.opts;
    const underlay = await chooseUnderlay(
      {
        ...(o.ifaces !== undefined && { ifaces: o.ifaces }),
        ...(o.ifaceRegexes !== undefined && { ifaceRegexes: o.ifaceRegexes }),
        ...(o.publicIp !== undefined && { publicIp: o.publicIp }),
        ...(o.publicIpv6 !== undefined && { publicIpv6: o.publicIpv6 }),
      },
      this.target,
      (line) => this.log(line),
    );
    this.underlay = underlay;
    const v6 = underlay.publicIPv6 === undefined ? "" : `; public IPv6 ${underlay.publicIPv6}`;
    this.log(
      `using interface ${underlay.dev} (${underlay.ip}, MTU ${underlay.mtu}); public IP ${underlay.publicIP}${v6}`,
    );
    this.phase = "connecting to etcd";
    const store = await retrying("connect to etcd", () => this.env.connect(), this.retry);
    if (store === undefined) return;
    this.store = store;
    this.phase = "waiting for the network config";
    const net = await waitForConfig(store, o.prefix, {
      signal: this.signal,
      log: (line) => this.log(line),
      retryMs: o.configRetryMs ?? 5000,
    });
    if (net === undefined) return;
    this.net = net;
    const { config, backend, network } = net;
    if (network.ipv6 !== undefined && underlay.publicIPv6 === undefined) {
      throw new Error(
        `the network config enables IPv6, but ${underlay.dev} has no global IPv6 address; give --public-ipv6 or choose another --iface`,
      );
    }
    const families = [config.Network, config.EnableIPv6 ? config.IPv6Network : undefined]
      .filter((x) => x !== undefined)
      .join(" and ");
    this.log(
      `network config (revision ${net.revision}): ${families}, vxlan VNI ${backend.VNI}${backend.DirectRouting ? ", DirectRouting" : ""}`,
    );
    this.registry = new LeaseRegistry(store, {
      prefix: o.prefix,
      ...(o.leaseTtlSeconds !== undefined && { ttlSeconds: o.leaseTtlSeconds }),
    });
    this.phase = "acquiring a lease";
    const own = await acquireOwnLease({
      registry: this.registry,
      network,
      vni: backend.VNI,
      identity: {
        publicIP: underlay.publicIP,
        ...(underlay.publicIPv6 !== undefined && { publicIPv6: underlay.publicIPv6 }),
      },
      subnetFile: o.subnetFile,
      target: this.target,
      signal: this.signal,
      log: (line) => this.log(line),
    });
    if (own === undefined) return;
    this.own = own;
    this.startKeepAlive(own);
    this.phase = "writing the subnet file";
    const mtu = overlayMtu(backend, underlay.mtu).mtu;
    await writeSubnetFile(o.subnetFile, {
      ...(network.ipv4 !== undefined &&
        hasIPv4(own.subnet) && { subnet: own.subnet.ipv4, network: network.ipv4.network }),
      ...(network.ipv6 !== undefined &&
        own.subnet.ipv6 !== undefined && { ipv6Subnet: own.subnet.ipv6, ipv6Network: network.ipv6.network }),
      mtu,
      ipMasq: o.ipMasq,
    });
    this.subnetFileWritten = true;
    this.log(`wrote ${o.subnetFile} (FLANNEL_MTU=${mtu}, FLANNEL_IPMASQ=${o.ipMasq})`);
    this.phase = "programming peers";
    this.preparePlanes(own);
    const watch = await retrying(
      "list the leases",
      () =>
        watchLeases(
          store,
          o.prefix,
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
      this.retry,
    );
    if (watch === undefined) return;
    this.watch = watch;
    this.log(`watching ${this.leases.size} lease(s) from revision ${watch.revision}`);
    if (!this.leases.has(own.key)) {
      this.lost(`the lease on ${formatLeaseKey(own.subnet)} disappeared right after it was acquired`);
      return;
    }
    this.scheduler.kick(true);
    await this.scheduler.idle();
    this.scheduler.every(o.reconcileIntervalMs);
  }

  /** Works out each family's device and per-peer context once; a failure is reported by every reconcile. */
  private preparePlanes(own: Lease): void {
    const net = this.net!;
    const underlay = this.underlay!;
    try {
      this.planes = hostFamilies(net.config).map((family) => {
        const { device, context } = planHostDevice(
          {
            config: net.config,
            own,
            underlay: {
              dev: underlay.dev,
              ip: underlay.ip,
              mtu: underlay.mtu,
              networks: underlay.networks,
              ...(underlay.ip6 !== undefined && { ip6: underlay.ip6 }),
              networks6: underlay.networks6,
            },
          },
          family,
        );
        const network = (family === 6 ? net.config.IPv6Network : net.config.Network) ?? "";
        return new FamilyPlane(
          { device, context, network },
          this.target,
          (line) => this.log(line),
          (n) => this.metrics.inc("podnet_kernel_changes_total", n),
        );
      });
    } catch (err) {
      this.planes = [];
      this.planError = err;
    }
  }

  private startKeepAlive(own: Lease): void {
    const name = formatLeaseKey(own.subnet);
    this.keep = keepOwnLease(this.registry!, own, this.opts.renewMarginSeconds, {
      renewed: (lease, remaining) => {
        this.own = lease;
        this.metrics.inc("podnet_renewals_total");
        this.log(`renewed lease ${name}${remaining > 0 ? ` (${remaining}s left)` : " (a reservation)"}`);
      },
      lost: (reason) => this.lost(reason),
      failed: (err) => {
        this.metrics.inc("podnet_renew_failures_total");
        this.log(`renewing lease ${name} failed (will retry): ${err.message}`);
      },
    });
  }

  // ---- the leases ----

  /** Records a lease's new state (undefined: gone) in the lease records and every family's peer table. */
  private track(key: string, lease: Lease | undefined): void {
    if (lease === undefined) {
      this.leases.delete(key);
    } else {
      const range = this.net?.network;
      const inRange =
        range?.ipv4 !== undefined
          ? hasIPv4(lease.subnet) && rangeContains(range.ipv4, lease.subnet.ipv4)
          : range?.ipv6 !== undefined &&
            lease.subnet.ipv6 !== undefined &&
            rangeContains(range.ipv6, lease.subnet.ipv6);
      this.leases.set(key, { value: valueHash(lease.value), inRange });
    }
    if (key === this.own?.key) return;
    for (const plane of this.planes) plane.peers.set(key, lease);
  }

  private onEvents(events: readonly LeaseEvent[]): void {
    const own = this.own;
    const each = events.length <= MAX_EVENT_LINES;
    const counts = new EventCounts();
    for (const e of events) {
      const key = e.type === "added" || e.type === "changed" ? e.lease.key : e.key;
      if (own !== undefined && key === own.key) {
        this.onOwnEvent(e, own);
        continue;
      }
      switch (e.type) {
        case "added":
          if (each) this.log(`lease added: ${describeLease(e.lease)}`);
          counts.added++;
          this.track(key, e.lease);
          break;
        case "changed":
          // A renewal rewrites the same value: not worth a line.
          if (this.leases.get(key)?.value !== valueHash(e.lease.value)) {
            if (each) this.log(`lease changed: ${describeLease(e.lease)}`);
            counts.changed++;
          }
          this.track(key, e.lease);
          break;
        case "removed":
          if (each)
            this.log(`lease ${e.expired ? "gone (released, revoked or expired)" : "deleted"}: ${e.key}`);
          if (e.expired) counts.gone++;
          else counts.deleted++;
          this.track(key, undefined);
          break;
        case "damaged":
          this.log(`skipping damaged lease ${e.key}: ${e.reason}`);
          this.track(key, undefined);
          break;
        case "foreign":
          this.log(`skipping foreign key ${e.key}: ${e.reason}`);
          break;
      }
    }
    const summary = counts.summary();
    if (!each && summary !== "") this.log(summary);
    this.updateLeaseMetrics();
    if (this.planes.some((p) => p.peers.pending)) this.scheduler.kick(false);
  }

  /** Our own key changed under us: gone or taken means the lease is lost; anything else is checked. */
  private onOwnEvent(e: LeaseEvent, own: Lease): void {
    const name = formatLeaseKey(own.subnet);
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
    void checkRewrittenLease(this.registry!, own).then((r) => {
      if ("lease" in r) {
        this.own = r.lease;
        this.log(`this host's lease was rewritten in etcd and is still ours: ${describeLease(r.lease)}`);
      } else if ("lost" in r) {
        this.lost(r.lost);
      } else {
        this.log(`checking this host's rewritten lease failed (will check at the next renewal): ${r.error}`);
      }
    });
  }

  private onWatchError(err: Error): void {
    const now = Date.now();
    // One line per outage, repeated every 30 s while it lasts.
    if (err.message === this.lastWatchError.text && now - this.lastWatchError.at < 30_000) return;
    this.lastWatchError = { text: err.message, at: now };
    this.log(`watching leases failed (data plane kept as it is; retrying): ${err.message}`);
  }

  // ---- applying ----

  /** Applies exactly the changed peers' entries; a failure makes the next pass a full reconcile. */
  private async applyChanged(): Promise<void> {
    for (const plane of this.planes) {
      try {
        await plane.applyChanged();
      } catch (err) {
        // The kernel is not as we thought (an entry or the device removed by hand): compare it all.
        const text = err instanceof Error ? err.message : String(err);
        this.log(`applying lease changes failed (reconciling fully): ${text}`);
        this.scheduler.fullNext();
      }
    }
    this.updatePeerMetrics();
  }

  /** One full comparison of the kernel with the plan, applying the difference in batches. */
  private async reconcile(): Promise<void> {
    const own = this.own;
    if (own === undefined || this.net === undefined) return;
    this.metrics.inc("podnet_reconciles_total");
    if (this.planes.length === 0) return this.reconcileFailed(this.planError);
    let failure: unknown;
    for (const plane of this.planes) {
      try {
        await plane.reconcile();
      } catch (err) {
        failure ??= err;
      }
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
    this.updatePeerMetrics();
    if (!this.programmed) {
      this.programmed = true;
      const what = this.planes.map((p) => `${p.peers.programmed} peer(s) programmed on ${p.name}`);
      this.log(`ready: ${what.join(", ")}`);
    }
    this.metrics.set("podnet_ready", this.notReadyReason() === null ? 1 : 0);
  }

  /** Keeps the masquerade rules for the pod network and this host's subnet, per family (ip6tables for IPv6). */
  private async masquerade(own: Lease): Promise<void> {
    const range = this.net?.network;
    const pairs: [string, string, 4 | 6][] = [];
    if (range?.ipv4 !== undefined && hasIPv4(own.subnet))
      pairs.push([formatIPv4Cidr(range.ipv4.network), formatIPv4Cidr(own.subnet.ipv4), 4]);
    if (range?.ipv6 !== undefined && own.subnet.ipv6 !== undefined)
      pairs.push([formatIPv6Cidr(range.ipv6.network), formatIPv6Cidr(own.subnet.ipv6), 6]);
    for (const [network, subnet, family] of pairs) {
      const why = await ensureMasquerade(network, subnet, this.target, family);
      if (why !== undefined)
        this.log(`set the masquerade rules for ${network} (chain ${MASQ_CHAIN}; ${why})`);
    }
  }

  private reconcileFailed(err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.metrics.inc("podnet_reconcile_errors_total");
    this.metrics.set("podnet_ready", 0);
    if (text !== this.lastReconcileError) this.log(`reconcile failed (will retry): ${text}`);
    this.lastReconcileError = text;
  }

  private updatePeerMetrics(): void {
    this.metrics.set("podnet_peers_programmed", this.planes[0]?.peers.programmed ?? 0);
    this.metrics.set("podnet_peers_skipped", this.planes[0]?.peers.skipped ?? 0);
  }

  private updateLeaseMetrics(): void {
    this.metrics.set("podnet_leases", this.leases.size);
    const range = this.net?.network;
    const size =
      range?.ipv4 !== undefined
        ? rangeSize(range.ipv4)
        : range?.ipv6 !== undefined
          ? rangeSize(range.ipv6)
          : undefined;
    if (size === undefined) return;
    this.metrics.set("podnet_subnets_total", Number(size));
    let used = 0;
    for (const t of this.leases.values()) if (t.inRange) used++;
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
    this.keep?.stop();
    await this.watch?.stop().catch(() => undefined);
    await this.scheduler.stop();
    const own = this.keep?.lease ?? this.own;
    if (own !== undefined && this.result.exitCode === 0) {
      if (this.opts.releaseOnExit && this.registry !== undefined) await this.release(own, this.registry);
      else this.log(`kept lease ${formatLeaseKey(own.subnet)} and the data plane (no --release-on-exit)`);
    }
    await this.health?.close().catch(() => undefined);
    this.store?.close();
  }

  /** --release-on-exit: the lease (never a reservation), the devices and the masquerade rules. */
  private async release(own: Lease, registry: LeaseRegistry): Promise<void> {
    const name = formatLeaseKey(own.subnet);
    const why = (err: unknown) => (err instanceof Error ? err.message : String(err));
    try {
      if (isReservation(own)) {
        this.log(
          `kept ${name}: it is a reservation, which --release-on-exit never deletes ('podnet lease unreserve' does)`,
        );
      } else {
        await registry.release(own);
        this.log(`released lease ${name}`);
      }
    } catch (err) {
      this.log(`could not release lease ${name}: ${why(err)}`);
    }
    for (const plane of this.planes) {
      try {
        if (await plane.remove())
          this.log(`deleted ${plane.name} and its neighbours, fdb entries and routes`);
      } catch (err) {
        this.log(`could not delete ${plane.name}: ${why(err)}`);
      }
    }
    if (this.opts.ipMasq) {
      try {
        if (await removeMasquerade(this.target))
          this.log(`deleted the masquerade rules (chain ${MASQ_CHAIN})`);
      } catch (err) {
        this.log(`could not delete the masquerade rules: ${why(err)}`);
      }
    }
  }

  private log(line: string): void {
    this.env.log(line);
  }
}

/** Resolves when `signal` aborts. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
