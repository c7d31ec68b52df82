/**
 * Waiting for the network config: the agent starts before the admin has pushed one, or while
 * it is invalid or of another backend. It reads the config until it is there, valid and vxlan,
 * saying once (not at every try) what it is waiting for.
 */
import { isPodnetError, type LeaseNetwork, type Store } from "@podnet/ipam-core";
import type { ResolvedConfig, VxlanBackend } from "../config/schema.js";
import { configNotFoundMessage } from "../store/config-store.js";
import { readNetwork } from "../store/network-loader.js";
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, pause } from "./retry.js";

/** A config the agent can program: vxlan, with its lease ranges. */
export interface AgentNetwork {
  readonly config: ResolvedConfig;
  readonly backend: VxlanBackend;
  readonly network: LeaseNetwork;
  readonly revision: number;
}

/** What the wait needs from the agent. */
export interface ConfigWaitContext {
  readonly signal: AbortSignal;
  log(line: string): void;
  /** How often to look again at a missing or invalid config. */
  readonly retryMs: number;
}

/** Reads the config at `<prefix>/config` until it is valid vxlan; undefined when stopped meanwhile. */
export async function waitForConfig(
  store: Store,
  prefix: string,
  ctx: ConfigWaitContext,
): Promise<AgentNetwork | undefined> {
  let said = "";
  const say = (line: string) => {
    if (line !== said) ctx.log(line);
    said = line;
  };
  let backoff = BACKOFF_INITIAL_MS;
  while (!ctx.signal.aborted) {
    let wait = ctx.retryMs;
    try {
      const state = await readNetwork(store, prefix);
      backoff = BACKOFF_INITIAL_MS;
      if (state.state === "missing") {
        say(`waiting for the network config: ${configNotFoundMessage(state.key)}`);
      } else if (state.state === "invalid") {
        say(
          `waiting for a valid network config at ${state.key} (revision ${state.revision}): ${state.problem}`,
        );
      } else if (state.resolved.Backend.Type !== "vxlan") {
        say(
          `waiting for a vxlan network config at ${state.key}: its backend is ${state.resolved.Backend.Type}, and podnet agent programs only vxlan`,
        );
      } else {
        const config = state.resolved;
        return {
          config,
          backend: config.Backend as VxlanBackend,
          network: state.network,
          revision: state.revision,
        };
      }
    } catch (err) {
      if (!isPodnetError(err, "unavailable")) throw err;
      say(`cannot read the network config (retrying): ${err.message}`);
      wait = backoff;
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
    await pause(wait, ctx.signal);
  }
  return undefined;
}
