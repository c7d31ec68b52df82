/**
 * H2Endpoint instances for tests that talk to etcd below the Store: each one made through
 * {@link endpoint} is closed after its test, so no session outlives it.
 */
import { afterEach } from "vitest";
import { H2Endpoint } from "../packages/ipam-core/src/etcd/h2/endpoint.js";

const open: H2Endpoint[] = [];
afterEach(() => {
  for (const e of open.splice(0)) e.close();
});

/** An endpoint closed after the current test. */
export function endpoint(o: ConstructorParameters<typeof H2Endpoint>[0]): H2Endpoint {
  const e = new H2Endpoint(o);
  open.push(e);
  return e;
}

/** A call deadline 5 s from now. */
export const soon = (): number => Date.now() + 5000;
