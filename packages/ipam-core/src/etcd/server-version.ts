/**
 * etcd's own version report (`GET /version` on a client URL, as `etcdctl version` and
 * `curl $ENDPOINT/version` read it): the server's version and the cluster's, and from the same
 * member its status (`POST /v3/maintenance/status`, etcd's JSON gateway) for the revision it is
 * at. No credentials are needed; client certificates are sent when given, for etcd with
 * --client-cert-auth.
 */
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  type ConnectionOptions,
  normaliseEndpoints,
  optionNamesOf,
  resolveConnectionOptions,
  wantsTls,
} from "./connection.js";

/** The versions one endpoint reported. */
export interface EtcdVersions {
  readonly endpoint: string;
  /** The member's version, e.g. `3.4.27`. */
  readonly server: string;
  /** The cluster's version (the lowest its members speak), e.g. `3.4.0`. */
  readonly cluster: string;
  /** The member's store revision as it answered; null when it serves no JSON gateway (`--enable-grpc-gateway=false`). */
  readonly revision: number | null;
}

/**
 * How long an endpoint that has answered its versions is given for its status (the revision)
 * at most: a member answers both at once, so a status that does not come is not waited for
 * the whole dial timeout.
 */
const STATUS_GRACE_MS = 500;

/**
 * Asks every endpoint at once for its versions: the first to answer (a frozen endpoint does not
 * hold up the others), or every endpoint's error once none has, in the endpoints' order.
 */
export async function etcdVersions(options: ConnectionOptions): Promise<EtcdVersions | { error: string }> {
  const opts = resolveConnectionOptions(options);
  const tls = wantsTls(opts);
  const endpoints = normaliseEndpoints(opts.endpoints, tls, optionNamesOf(opts));
  const read = (path: string | undefined) => (path === undefined ? undefined : readFile(path));
  const [ca, cert, key] = await Promise.all([read(opts.caFile), read(opts.certFile), read(opts.keyFile)]);
  const tlsOptions = {
    ...(ca !== undefined && { ca }),
    ...(cert !== undefined && { cert }),
    ...(key !== undefined && { key }),
    ...(opts.insecureSkipTlsVerify === true && { rejectUnauthorized: false }),
  };
  // Once one endpoint has answered, the others' requests are dropped.
  const done = new AbortController();
  const ask = async (endpoint: string): Promise<EtcdVersions> => {
    const get = (path: string, body?: string) =>
      httpText(new URL(path, endpoint), opts.dialTimeoutMs, tlsOptions, done.signal, body);
    const status = get("/v3/maintenance/status", "{}").catch(() => undefined);
    const doc = JSON.parse(await get("/version")) as { etcdserver?: unknown; etcdcluster?: unknown };
    if (typeof doc.etcdserver !== "string") throw new Error("the answer has no etcdserver version");
    let grace: NodeJS.Timeout | undefined;
    const answer = await Promise.race([
      status,
      new Promise<undefined>((resolve) => {
        grace = setTimeout(() => resolve(undefined), STATUS_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    return {
      endpoint,
      server: doc.etcdserver,
      cluster: typeof doc.etcdcluster === "string" ? doc.etcdcluster : "not decided",
      revision: answer === undefined ? null : revisionOf(answer),
    };
  };
  const errors: string[] = endpoints.map((e) => `${e}: no answer`);
  try {
    return await Promise.any(
      endpoints.map((endpoint, i) =>
        ask(endpoint).catch((err: unknown) => {
          errors[i] = `${endpoint}: ${err instanceof Error ? err.message : String(err)}`;
          throw err;
        }),
      ),
    );
  } catch {
    return { error: endpoints.length === 0 ? "no endpoint" : errors.join("; ") };
  } finally {
    done.abort();
  }
}

/** The revision in a status answer's header (the gateway writes int64s as strings); null when there is none. */
function revisionOf(body: string): number | null {
  try {
    const revision = Number((JSON.parse(body) as { header?: { revision?: unknown } }).header?.revision);
    return Number.isSafeInteger(revision) && revision > 0 ? revision : null;
  } catch {
    return null;
  }
}

/** The longest answer read (etcd's are a few hundred bytes): a longer one is not etcd's. */
const MAX_ANSWER = 64 << 10;

/**
 * GET `url` (POST `body` when given); the answer's text, or an error for anything but 200 (or
 * once `signal` aborts).
 * `timeoutMs` bounds the whole exchange, not each silence: an endpoint that trickles bytes
 * (or never ends its answer) fails it in time, and no answer past {@link MAX_ANSWER} is held.
 */
function httpText(
  url: URL,
  timeoutMs: number,
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean },
  signal: AbortSignal,
  body?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = {
      signal,
      ...(body !== undefined && { method: "POST", headers: { "content-type": "application/json" } }),
      ...(url.protocol === "https:" ? tls : {}),
    };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER) req.destroy(new Error(`an answer longer than ${MAX_ANSWER} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => {
        clearTimeout(timer);
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        else resolve(Buffer.concat(chunks).toString("utf8"));
      });
      res.on("error", fail);
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", fail);
    req.end(body);
  });
}
