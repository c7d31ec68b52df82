/**
 * One address family's VXLAN data plane as the agent runs it: the planned device
 * (`flannel.<VNI>` or `flannel-v6.<VNI>`), its peer table, and the two ways of bringing the
 * kernel in step (the full comparison and the incremental apply of changed peers).
 */

import type { Lease } from "@podnet/ipam-core";
import type { ResolvedConfig } from "../config/schema.js";
import { applyDevice, applyPeerChanges, reconcilePeers, removeDataPlane } from "../host/apply.js";
import { hostFamilies, planHostDevice, type UnderlayFacts } from "../host/host-plan.js";
import type { HostTarget } from "../host/iproute.js";
import type { PeerContext, PlannedDevice } from "../host/plan.js";
import {
  type DataPlaneChange,
  describeChange,
  describePeerChanges,
  type PeerChanges,
  peerChangeCount,
  summarisePeerChanges,
} from "../host/reconcile.js";
import { PeerTable } from "./peer-table.js";

/** Above this many kernel changes in one pass, the log gets a summary instead of a line each. */
const MAX_CHANGE_LINES = 12;

/** The device, the per-peer context and the overlay network of one family. */
export interface FamilyPlan {
  readonly device: PlannedDevice;
  readonly context: PeerContext;
  /** The overlay network (a CIDR): DirectRouting routes inside it on the underlay are the plan's. */
  readonly network: string;
}

/** One family's device and peers. */
export class FamilyPlane {
  readonly peers: PeerTable;

  constructor(
    readonly plan: FamilyPlan,
    private readonly target: HostTarget,
    private readonly log: (line: string) => void,
    /** Counts the kernel changes made (for the metrics). */
    private readonly changed: (n: number) => void,
  ) {
    this.peers = new PeerTable(plan.context, log, plan.context.family === 6 ? " (IPv6)" : "");
  }

  /** The device's name. */
  get name(): string {
    return this.plan.device.name;
  }

  /** Compares the device and every peer entry with the kernel and repairs them; throws on failure. */
  async reconcile(): Promise<void> {
    this.peers.clearChanges();
    const { device, network } = this.plan;
    const deviceChanges = await applyDevice(device, network, this.target);
    const changes = await reconcilePeers(this.peers.lookup, network, this.target);
    this.logChanges(deviceChanges, changes);
  }

  /** Applies exactly the changed peers' entries without reading the kernel; throws when an entry fails. */
  async applyChanged(): Promise<void> {
    const changes = this.peers.takeChanges();
    if (peerChangeCount(changes) === 0) return;
    await applyPeerChanges(this.plan.context, changes, this.target);
    this.logChanges([], changes);
  }

  /** Deletes the device and with it every entry on it; false when it was not there. */
  remove(): Promise<boolean> {
    return removeDataPlane(this.name, this.target);
  }

  private logChanges(device: readonly DataPlaneChange[], peers: PeerChanges): void {
    const total = device.length + peerChangeCount(peers);
    if (total === 0) return;
    this.changed(total);
    if (total > MAX_CHANGE_LINES) {
      const summary = [...device.map((c) => `${c.kind} ${c.action}`), summarisePeerChanges(peers)]
        .filter((x) => x !== "")
        .join(", ");
      this.log(`applied ${total} kernel changes on ${this.name}: ${summary}`);
    } else {
      for (const c of device) this.log(describeChange(c));
      for (const line of describePeerChanges(this.plan.context, peers)) this.log(line);
    }
  }
}

/**
 * One plane per family of the config (IPv4 first), planned with planHost's inputs: the same
 * device and peer context `podnet route --kernel` compares. Throws as planDevice does.
 */
export function planesFor(
  config: ResolvedConfig,
  own: Lease,
  underlay: UnderlayFacts,
  target: HostTarget,
  hooks: { log(line: string): void; changed(n: number): void },
): FamilyPlane[] {
  return hostFamilies(config).map((family) => {
    const { device, context } = planHostDevice({ config, own, underlay }, family);
    const network = (family === 6 ? config.IPv6Network : config.Network) ?? "";
    return new FamilyPlane({ device, context, network }, target, hooks.log, hooks.changed);
  });
}
