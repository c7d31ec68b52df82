import {
  configKey,
  guardedWrite,
  isPodnetError,
  PodnetError,
  putLanded,
  type Store,
} from "@podnet/ipam-core";

/** The network config document as etcd holds it. */
export interface StoredConfig {
  readonly key: string;
  readonly text: string;
  /** The revision that wrote this version; the compare of a guarded write. */
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
}

/** flannel's own words for a missing config, plus the commonest cause. */
export function configNotFoundMessage(key: string): string {
  return (
    `flannel config not found in etcd store at ${key}. Did you create your config using etcdv3 API? ` +
    "A config written with the v2 API (etcdctl without ETCDCTL_API=3, or curl to /v2/keys) lives in a separate keyspace; " +
    "bring it (and its leases) over with 'podnet migrate v2', or write it again with 'podnet config set FILE'"
  );
}

/** Reads the config document; undefined when the key does not exist. */
export async function readConfig(
  store: Store,
  prefix: string,
  opts?: { revision?: number },
): Promise<{ revision: number; config: StoredConfig | undefined }> {
  const key = configKey(prefix);
  const res = await store.get(key, opts);
  const kv = res.value;
  return {
    revision: res.revision,
    config: kv && {
      key,
      text: kv.value.toString("utf8"),
      modRevision: kv.modRevision,
      createRevision: kv.createRevision,
      version: kv.version,
    },
  };
}

/** Reads the config document; a not-found error, in flannel's words, when it is missing. */
export async function getConfig(store: Store, prefix: string): Promise<StoredConfig> {
  const { config } = await readConfig(store, prefix);
  if (!config) throw new PodnetError("not-found", configNotFoundMessage(configKey(prefix)));
  return config;
}

/**
 * Writes the config document only if the key is still at `expectModRevision` (0: the key
 * must not exist), so that two admins cannot silently overwrite each other. Returns the
 * revision of the write. The caller validates first.
 */
export async function writeConfig(
  store: Store,
  prefix: string,
  text: string,
  expectModRevision: number,
): Promise<number> {
  // Plain JavaScript callers: a missing revision would reach etcd as a compare it cannot read.
  if (typeof text !== "string")
    throw new PodnetError("usage", "writeConfig takes the config as JSON text (JSON.stringify it)");
  if (!Number.isSafeInteger(expectModRevision) || expectModRevision < 0) {
    throw new PodnetError(
      "usage",
      `writeConfig needs the key's modRevision as read (0: the key must be absent), not ${String(expectModRevision)}`,
    );
  }
  const key = configKey(prefix);
  // A key that holds exactly our text: our put landed, even if its answer was lost.
  const res = await guardedWrite(
    () => store.txn([{ key, modRevision: expectModRevision }], [{ put: key, value: text }]),
    () => putLanded(store, key, text, "0"),
  );
  if (res.kind === "written") return res.revision;
  if (res.kind === "landed") return res.found.modRevision;
  const now = await readConfig(store, prefix);
  const state = now.config ? `it is now at revision ${now.config.modRevision}` : "it has been deleted";
  const was = expectModRevision === 0 ? "absent" : `at revision ${expectModRevision}`;
  throw new PodnetError(
    "conflict",
    `${key} changed since it was read (it was ${was}; ${state}); nothing was written; read it again and retry`,
  );
}

/** One earlier version of the config still held by etcd. */
export interface ConfigVersion extends StoredConfig {}

/** What `history` found and why it stopped. */
export interface ConfigHistory {
  /** The revision the walk started at: the history as etcd held it then. */
  readonly revision: number;
  readonly versions: ConfigVersion[];
  /** Why the walk stopped before the key's first version, if it did. */
  readonly truncated?: "compacted" | "limit";
}

/**
 * The versions of the config document etcd still holds, newest first: each version is read
 * at the revision just before the one that replaced it, until compaction, a deletion or the limit.
 */
export async function configHistory(store: Store, prefix: string, limit = 50): Promise<ConfigHistory> {
  const versions: ConfigVersion[] = [];
  const first = await readConfig(store, prefix);
  const revision = first.revision;
  let config = first.config;
  while (config) {
    versions.push(config);
    if (versions.length >= limit) return { revision, versions, truncated: "limit" };
    // The first version since the key was (re)created: older ones, if any, sit behind a delete.
    if (config.version === 1) return { revision, versions };
    try {
      ({ config } = await readConfig(store, prefix, { revision: config.modRevision - 1 }));
    } catch (err) {
      if (isPodnetError(err, "compacted")) return { revision, versions, truncated: "compacted" };
      throw err;
    }
  }
  return { revision, versions };
}

/** The document as it stood at `revision`; a clear error when compacted or absent then. */
export async function configAt(store: Store, prefix: string, revision: number): Promise<StoredConfig> {
  let found: StoredConfig | undefined;
  try {
    ({ config: found } = await readConfig(store, prefix, { revision }));
  } catch (err) {
    if (isPodnetError(err, "compacted")) {
      throw new PodnetError(
        "not-found",
        `revision ${revision} has been compacted by etcd; 'podnet config history' lists what is left`,
      );
    }
    if (isPodnetError(err) && /future revision/i.test(err.message)) {
      throw new PodnetError("not-found", `revision ${revision} is newer than etcd's current revision`);
    }
    throw err;
  }
  if (!found)
    throw new PodnetError("not-found", `${configKey(prefix)} did not exist at revision ${revision}`);
  return found;
}
