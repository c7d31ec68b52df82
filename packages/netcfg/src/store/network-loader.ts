/**
 * The stored network config, read and validated in one call: the network every lease
 * command, view and the agent work with, or one sentence naming what is wrong with it.
 */
import { configKey, type LeaseNetwork, PodnetError, type Store } from "@podnet/ipam-core";
import { leaseNetworkOf } from "../config/lease-network.js";
import type { ResolvedConfig } from "../config/schema.js";
import { type ValidationResult, validateConfigText } from "../config/validate.js";
import { configNotFoundMessage, readConfig, type StoredConfig } from "./config-store.js";

/** A stored config that validated: the document, the config as flanneld resolves it, its subnet ranges. */
export interface StoredNetwork {
  readonly config: StoredConfig;
  readonly resolved: ResolvedConfig;
  readonly network: LeaseNetwork;
  /** The validator's full verdict (its warnings, for callers that show them). */
  readonly validation: ValidationResult;
}

/** What the config key holds: nothing, a document that fails validation, or a valid network. */
export type NetworkState =
  | { readonly state: "missing"; readonly key: string; readonly revision: number }
  | {
      readonly state: "invalid";
      readonly key: string;
      readonly revision: number;
      readonly config: StoredConfig;
      readonly validation: ValidationResult;
      /** The first error, `/Backend/VNI: ...`, and how many more there are. */
      readonly problem: string;
    }
  | ({ readonly state: "valid"; readonly key: string; readonly revision: number } & StoredNetwork);

/** The first error of a failed validation as `/path: message (and N more)`. */
export function firstProblem(validation: ValidationResult): string {
  const first = validation.errors[0];
  if (first === undefined) return "it does not resolve to a network";
  const where = `${first.path === "" ? "" : `${first.path}: `}${first.message}`;
  const more = validation.errors.length > 1 ? ` (and ${validation.errors.length - 1} more)` : "";
  return `${where}${more}`;
}

/**
 * Reads and validates the config at `<prefix>/config` (as it stood at `revision`, when
 * given); never throws for a missing or invalid one.
 */
export async function readNetwork(
  store: Store,
  prefix: string,
  opts: { revision?: number } = {},
): Promise<NetworkState> {
  const key = configKey(prefix);
  const { revision, config } = await readConfig(store, prefix, opts);
  if (config === undefined) return { state: "missing", key, revision };
  const validation = validateConfigText(config.text);
  const resolved = validation.resolved;
  if (!validation.valid || resolved === undefined) {
    return { state: "invalid", key, revision, config, validation, problem: firstProblem(validation) };
  }
  let network: LeaseNetwork;
  try {
    network = leaseNetworkOf(resolved);
  } catch (err) {
    const problem = err instanceof Error ? err.message : String(err);
    return { state: "invalid", key, revision, config, validation, problem };
  }
  return { state: "valid", key, revision, config, resolved, network, validation };
}

/**
 * The stored network, validated, and the revision it was read at; a not-found error in
 * flannel's words when the config is missing, a failed error naming the first problem when it
 * is invalid.
 */
export async function loadNetwork(
  store: Store,
  prefix: string,
): Promise<StoredNetwork & { readonly revision: number }> {
  const state = await readNetwork(store, prefix);
  if (state.state === "missing") throw new PodnetError("not-found", configNotFoundMessage(state.key));
  if (state.state === "invalid") {
    throw new PodnetError(
      "failed",
      `the network config at ${state.key} is invalid: ${state.problem}; 'podnet config validate' explains and 'podnet config set FILE' replaces it`,
    );
  }
  return state;
}
