/**
 * The one place podnet speaks etcd's old v2 HTTP API, read-only: flanneld before v0.18 kept
 * the network config and the leases there (`<prefix>/config`, `<prefix>/subnets/<name>`,
 * each lease a node with a TTL), in a keyspace apart from v3's. Used by `podnet migrate v2`.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { PodnetError } from "../errors.js";
import {
  type ConnectionOptionNames,
  type ConnectionOptions,
  optionNamesOf,
  resolveConnectionOptions,
} from "../etcd/connection.js";
import { resolveTransport, userCredentials } from "../etcd/credentials.js";
import { normalisePrefix } from "../keys.js";

/** One node of the v2 keyspace as `GET /v2/keys/...` returns it. */
export interface V2Node {
  /** The full v2 key, `/coreos.com/network/subnets/10.5.52.0-24`. */
  readonly key: string;
  /** The value; absent for a directory. */
  readonly value?: string;
  readonly dir?: boolean;
  /** The seconds left before the node expires, as etcd computed it for this answer; absent: never. */
  readonly ttl?: number;
  readonly modifiedIndex: number;
}

/** flannel's part of the v2 keyspace, read in two consistent (quorum) requests. */
export interface V2Keyspace {
  /** The endpoint that answered. */
  readonly endpoint: string;
  /** The v2 prefix read, normalised with a leading `/`. */
  readonly prefix: string;
  /** `<prefix>/config`; undefined when it does not exist. */
  readonly config: V2Node | undefined;
  /** Every node directly under `<prefix>/subnets/` (a directory there is listed as one node). */
  readonly subnets: readonly V2Node[];
  /** When the subnets were read (ms since the epoch): TTLs count down from here. */
  readonly readAtMs: number;
}

/** The normalised v2 prefix: a v2 key always starts with `/`. */
export function v2Prefix(prefix: string): string {
  const p = normalisePrefix(prefix);
  return p.startsWith("/") ? p : `/${p}`;
}

/**
 * Reads the config and the leases under `prefix` from the v2 API of the first endpoint that
 * answers, with the connection's TLS files and credentials (v2 auth is HTTP basic auth).
 */
export async function readV2Keyspace(options: ConnectionOptions, prefix: string): Promise<V2Keyspace> {
  const opts = resolveConnectionOptions(options);
  const { endpoints, caFile: ca, certFile: cert, keyFile: key } = await resolveTransport(opts);
  const auth = basicAuth(opts);
  const dir = v2Prefix(prefix);
  let lastError: PodnetError | undefined;
  for (const endpoint of endpoints) {
    const get = (path: string) =>
      v2Get({
        endpoint,
        path,
        ca,
        cert,
        key,
        auth,
        timeoutMs: opts.dialTimeoutMs + opts.commandTimeoutMs,
        insecure: opts.insecureSkipTlsVerify === true,
        names: optionNamesOf(opts),
      });
    try {
      const config = await get(`${dir}/config`);
      const readAtMs = Date.now();
      const subnets = await get(`${dir}/subnets?recursive=true`);
      return {
        endpoint,
        prefix: dir,
        config: config?.node,
        subnets: subnets?.node.nodes ?? [],
        readAtMs,
      };
    } catch (err) {
      if (!(err instanceof PodnetError) || err.code !== "unavailable") throw err;
      lastError = err;
    }
  }
  throw lastError ?? new PodnetError("unavailable", "no etcd endpoint answered");
}

interface V2Answer {
  readonly node: V2Node & { readonly nodes?: V2Node[] };
}

interface GetRequest {
  readonly endpoint: string;
  readonly path: string;
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly auth: string | undefined;
  readonly timeoutMs: number;
  /** `--insecure-skip-tls-verify`: accept any server certificate. */
  readonly insecure: boolean;
  /** What messages call the TLS options. */
  readonly names: ConnectionOptionNames;
}

/** One quorum GET of a v2 key; undefined when the key does not exist. */
async function v2Get(req: GetRequest): Promise<V2Answer | undefined> {
  const [pathPart, query] = req.path.split("?");
  const encoded = (pathPart ?? "").split("/").map(encodeURIComponent).join("/");
  const url = new URL(`${req.endpoint}/v2/keys${encoded}?quorum=true${query ? `&${query}` : ""}`);
  const { status, body } = await send(url, req);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const answer = parsed as { errorCode?: number; message?: string; node?: unknown } | undefined;
  if (status === 200 && answer?.node !== undefined) return answer as V2Answer;
  if (answer?.errorCode === 100) return undefined; // Key not found
  if (status === 401 || answer?.errorCode === 110) {
    throw new PodnetError(
      "permission",
      `etcd at ${req.endpoint} refused the v2 request for ${req.path.split("?")[0]}: ${req.auth ? "the user or password is wrong, or lacks read permission" : `it needs a user (${req.names.user})`}`,
    );
  }
  if (status === 404 && answer === undefined) {
    throw new PodnetError(
      "not-found",
      `etcd at ${req.endpoint} does not serve the v2 API (etcd 3.4 needs --enable-v2=true; etcd 3.6 dropped it): nothing to read`,
    );
  }
  const why = answer?.message ?? `HTTP ${status}`;
  throw new PodnetError("failed", `etcd at ${req.endpoint} failed the v2 request for ${req.path}: ${why}`);
}

function send(url: URL, req: GetRequest): Promise<{ status: number; body: string }> {
  const secure = url.protocol === "https:";
  const options = {
    method: "GET",
    headers: { accept: "application/json", ...(req.auth ? { authorization: req.auth } : {}) },
    timeout: req.timeoutMs,
    ...(secure ? { ca: req.ca, cert: req.cert, key: req.key, rejectUnauthorized: !req.insecure } : {}),
  };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", (err) => reject(unavailable(req.endpoint, err, req.names)));
    };
    const r = secure ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    r.on("timeout", () => r.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    r.on("error", (err) => reject(unavailable(req.endpoint, err, req.names)));
    r.end();
  });
}

function unavailable(endpoint: string, err: Error, names: ConnectionOptionNames): PodnetError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && /^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)) {
    return new PodnetError(
      "permission",
      `etcd at ${endpoint}: TLS failed (${code}); check ${names.caFile}/${names.certFile}/${names.keyFile}`,
    );
  }
  return new PodnetError(
    "unavailable",
    `etcd at ${endpoint} did not answer the v2 API: ${code ?? err.message}`,
    {
      cause: err,
    },
  );
}

function basicAuth(opts: ConnectionOptions): string | undefined {
  const user = userCredentials(opts);
  return user && `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
}
