/**
 * The host agent (`podnet agent`): flanneld's job for the VXLAN backend, done so that failures
 * show. It waits for a valid config (config-wait.ts), acquires (or reuses) this host's lease
 * (own-lease.ts), writes the subnet file, programs the devices and every peer (host-plane.ts,
 * family-plane.ts, peer-table.ts, lease-book.ts), then keeps the kernel in step with the leases:
 * a watch for changes, a periodic full reconcile for drift (scheduler.ts), guarded renewals
 * (own-lease-keeper.ts), and a truthful account of etcd's health (etcd-health.ts, status.ts). A lost lease ends the agent with exit
 * status 1; during an etcd outage the data plane stays as it is.
 */
import {
  formatLeaseKey,
  type LeaseEvent,
  LeaseRegistry,
  type LeaseWatch,
  type Store,
} from "@podnet/ipam-core";
import { overlayMtu } from "../config/overlay.js";
import type { HostTarget } from "../host/iproute.js";
import { subnetFileFor, writeSubnetFile } from "../host/subnet-file.js";
import { type AgentNetwork, waitForConfig } from "./config-wait.js";
import type { EtcdHealth } from "./etcd-health.js";
import { HostPlane } from "./host-plane.js";
import { LeaseBook, watchInto } from "./lease-book.js";
import { releaseHost } from "./leaving.js";
import { AgentMonitor } from "./monitor.js";
import type { AgentEnvironment, AgentOptions, AgentResult, LogMeta } from "./options.js";
import { acquireOwnLease } from "./own-lease.js";
import { OwnLeaseKeeper } from "./own-lease-keeper.js";
import { retrying } from "./retry.js";
import { ReconcileScheduler } from "./scheduler.js";
import type { AgentStatus } from "./status.js";
import { chooseUnderlay } from "./underlay.js";

export type {
  AgentEnvironment,
  AgentOptions,
  AgentResult,
  LogLevel,
  LogMeta,
  StatusUpdate,
} from "./options.js";

/** Runs the agent until it is stopped (exit 0) or loses its lease (exit 1); throws only on a fatal setup error. */
export function runAgent(opts: AgentOptions, env: AgentEnvironment): Promise<AgentResult> {
  return new Agent(opts, env).run();
}

class Agent {
  private readonly monitor: AgentMonitor;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private readonly target: HostTarget;
  private readonly scheduler: ReconcileScheduler;
  private readonly etcd: EtcdHealth;
  private readonly status: AgentStatus;
  /** What retrying() needs: the stop signal and the log. */
  private readonly retry: { readonly signal: AbortSignal; log(line: string): void };
  private result: AgentResult | undefined;
  private store: Store | undefined;
  private net: AgentNetwork | undefined;
  private book: LeaseBook | undefined;
  private registry: LeaseRegistry | undefined;
  /** This host's lease, once acquired. */
  private own: OwnLeaseKeeper | undefined;
  private watch: LeaseWatch | undefined;
  private readonly plane: HostPlane;

  constructor(
    private readonly opts: AgentOptions,
    private readonly env: AgentEnvironment,
  ) {
    this.signal = AbortSignal.any([env.signal, this.stop.signal]);
    this.target = opts.target ?? {};
    this.retry = { signal: this.signal, log: (line) => this.log(line, { level: "warn" }) };
    this.monitor = new AgentMonitor({
      processMetrics: opts.processMetrics === true,
      log: (line, meta) => this.log(line, meta),
      ...(env.status !== undefined && { onStatus: env.status }),
    });
    this.etcd = this.monitor.etcd;
    this.status = this.monitor.status;
    this.plane = new HostPlane({
      monitor: this.monitor,
      target: this.target,
      ipMasq: opts.ipMasq,
      log: (line, meta) => this.log(line, meta),
      fullNext: () => this.scheduler.fullNext(),
    });
    this.scheduler = new ReconcileScheduler(
      {
        full: () => this.reconcile(),
        incremental: () => this.plane.applyChanged(),
        pending: () => this.plane.pending,
      },
      this.signal,
    );
  }

  async run(): Promise<AgentResult> {
    try {
      if (this.opts.healthz !== undefined) {
        const address = await this.monitor.serve(this.opts.healthz.host, this.opts.healthz.port);
        this.log(`serving /healthz, /readyz and /metrics on http://${address}`);
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
    const v6 = underlay.publicIPv6 === undefined ? "" : `; public IPv6 ${underlay.publicIPv6}`;
    this.log(
      `using interface ${underlay.dev} (${underlay.ip}, MTU ${underlay.mtu}); public IP ${underlay.publicIP}${v6}`,
    );
    this.status.phase("connecting to etcd");
    const store = await retrying("connect to etcd", () => this.env.connect(), this.retry);
    if (store === undefined) return;
    this.store = store;
    this.etcd.probe(store, o.prefix, o.etcdProbeMs ?? 5000);
    this.status.phase("waiting for the network config");
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
    const ranges = [
      config.EnableIPv4 ? config.Network : undefined,
      config.EnableIPv6 ? config.IPv6Network : undefined,
    ];
    this.log(
      `network config (revision ${net.revision}): ${ranges.filter(Boolean).join(" and ")}, vxlan VNI ${backend.VNI}${backend.DirectRouting ? ", DirectRouting" : ""}`,
    );
    const registryOptions = {
      prefix: o.prefix,
      ...(o.leaseTtlSeconds !== undefined && { ttlSeconds: o.leaseTtlSeconds }),
    };
    this.registry = new LeaseRegistry(store, registryOptions);
    this.status.phase("acquiring a lease");
    // Acquiring lists the whole network, and a registry keeps its last listing for a while: one
    // of its own lets it go now, not beside the watch's listing (renewals need no listing).
    const acquiring = new LeaseRegistry(store, registryOptions);
    const own = await acquireOwnLease({
      registry: acquiring,
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
    }).finally(() => acquiring.close());
    if (own === undefined) return;
    this.own = new OwnLeaseKeeper(this.registry, own, {
      etcd: this.etcd,
      metrics: this.monitor.metrics,
      log: (line, meta) => this.log(line, meta),
      lost: (reason) => this.lost(reason),
    });
    this.own.start(o.renewMarginSeconds);
    this.status.phase("writing the subnet file");
    const mtu = overlayMtu(backend, underlay.mtu).mtu;
    await writeSubnetFile(o.subnetFile, subnetFileFor(network, own.subnet, mtu, o.ipMasq));
    this.status.wroteSubnetFile();
    this.log(`wrote ${o.subnetFile} (FLANNEL_MTU=${mtu}, FLANNEL_IPMASQ=${o.ipMasq})`);
    this.status.phase("programming peers");
    const book = new LeaseBook(network, (line, meta) => this.log(line, meta));
    book.ownKey = own.key;
    this.book = book;
    this.plane.prepare(config, own, underlay, book);
    const watch = await retrying(
      "list the leases",
      () =>
        watchInto(book, store, o.prefix, {
          answered: () => this.etcd.answered(),
          failed: (err) => this.etcd.failed(err),
          snapshot: () => this.updateLeaseMetrics(),
          events: (events) => this.onEvents(events),
        }),
      this.retry,
    );
    if (watch === undefined) return;
    this.watch = watch;
    this.log(`watching ${book.size} lease(s) from revision ${watch.revision}`);
    if (!book.has(own.key)) {
      this.lost(`the lease on ${formatLeaseKey(own.subnet)} disappeared right after it was acquired`);
      return;
    }
    this.scheduler.kick(true);
    await this.scheduler.idle();
    this.scheduler.every(o.reconcileIntervalMs);
  }

  // ---- the leases ----

  private onEvents(events: readonly LeaseEvent[]): void {
    this.etcd.answered();
    this.book?.apply(events, (e) => this.own?.onEvent(e, this.book));
    this.updateLeaseMetrics();
    if (this.plane.pending) this.scheduler.kick(false);
  }

  // ---- applying ----

  /** One full comparison of the kernel with the plan (see HostPlane.reconcile). */
  private async reconcile(): Promise<void> {
    const own = this.own;
    const net = this.net;
    if (own === undefined || net === undefined) return;
    await this.plane.reconcile(own.lease, net.network);
  }

  private updateLeaseMetrics(): void {
    if (this.book !== undefined) this.monitor.leases(this.book);
  }

  // ---- stopping ----

  private lost(reason: string): void {
    if (this.result !== undefined) return;
    this.result = { exitCode: 1, reason };
    this.log(`lease lost: ${reason}; shutting down with exit status 1`, { level: "error" });
    this.status.stop(reason);
    this.stop.abort();
  }

  private async tearDown(): Promise<void> {
    if (this.result === undefined) {
      this.result = { exitCode: 0, reason: "stopped by signal" };
      if (this.env.signal.aborted) this.log("stopping (signal received)");
    }
    this.status.stop(this.result.reason);
    this.stop.abort();
    this.own?.stop();
    await this.watch?.stop().catch(() => undefined);
    await this.scheduler.stop();
    const own = this.own?.kept;
    if (own !== undefined && this.result.exitCode === 0) {
      if (this.opts.releaseOnExit && this.registry !== undefined && this.net !== undefined) {
        await releaseHost({
          registry: this.registry,
          own,
          planes: this.plane.planes,
          network: this.net.network,
          ipMasq: this.opts.ipMasq,
          target: this.target,
          log: (line) => this.log(line),
        });
      } else {
        this.log(`kept lease ${formatLeaseKey(own.subnet)} and the data plane (no --release-on-exit)`);
      }
    }
    await this.monitor.close();
    this.store?.close();
  }

  private log(line: string, meta?: LogMeta): void {
    this.env.log(line, meta);
  }
}

/** Resolves when `signal` aborts. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
