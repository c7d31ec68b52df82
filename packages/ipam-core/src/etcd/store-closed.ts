import { PodnetError } from "../errors.js";

/**
 * What a store's call rejects with once the store is closed: it will never answer again, so
 * nothing should wait for it, retry it, or blame an etcd that may be perfectly well.
 */
export class StoreClosedError extends PodnetError {
  constructor() {
    super("failed", "the etcd connection is closed; connect again to use etcd");
  }
}

/** Whether `err` says the store it came from is closed (retrying it is pointless). */
export function isStoreClosed(err: unknown): err is StoreClosedError {
  return err instanceof StoreClosedError;
}
