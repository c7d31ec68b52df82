/**
 * Each endpoint's status through a connection of its own, so one dead member cannot hide
 * behind a live one (`podnet doctor`'s etcd section). A hung endpoint is a result, not a
 * hang: its error says how long it was waited for.
 */
import { performance } from "node:perf_hooks";
import {
  type ConnectionOptions,
  normaliseEndpoints,
  optionNamesOf,
  resolveConnectionOptions,
  wantsTls,
} from "./connection.js";
import { connect } from "./etcd-store.js";
import type { EndpointStatus, Store } from "./store.js";

/** One endpoint's answer (with the faster of two status round trips) or why there was none. */
export type EndpointCheck = { readonly endpoint: string } & (
  | { readonly status: EndpointStatus; readonly latencyMs: number }
  | { readonly error: Error; readonly waitedMs: number }
);

/** Checks every endpoint at once, each within the dial timeout; never throws for an endpoint's failure. */
export async function checkEndpoints(options: ConnectionOptions): Promise<EndpointCheck[]> {
  const connection = resolveConnectionOptions(options);
  const endpoints = normaliseEndpoints(connection.endpoints, wantsTls(connection), optionNamesOf(connection));
  // Loaded before the clocks start: the time waited is the endpoint's, not the module loader's.
  if (connection.transport === "grpc-js") await Promise.all([import("etcd3"), import("cockatiel")]);
  return Promise.all(
    endpoints.map(async (endpoint): Promise<EndpointCheck> => {
      const started = performance.now();
      const failed = (err: unknown): EndpointCheck => {
        const waitedMs = performance.now() - started;
        const error = err instanceof Error ? err : new Error(String(err));
        return { endpoint, error, waitedMs };
      };
      let one: Store | undefined;
      try {
        one = await connect({ ...connection, endpoints: [endpoint] });
        // Each status call may dial afresh; the faster of two is the fairer figure on a busy host.
        let t = performance.now();
        const [first] = await one.status();
        const firstMs = performance.now() - t;
        if (first === undefined || "error" in first) return failed(first?.error ?? new Error("no status"));
        t = performance.now();
        const [second] = await one.status();
        const latencyMs = Math.min(firstMs, performance.now() - t);
        return { endpoint, status: second !== undefined && !("error" in second) ? second : first, latencyMs };
      } catch (err) {
        return failed(err);
      } finally {
        one?.close();
      }
    }),
  );
}

/** "1.0s": how long a failed check waited, for its line. */
export function waitedText(waitedMs: number): string {
  return `${(waitedMs / 1000).toFixed(1)}s`;
}
