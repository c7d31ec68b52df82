/** The user, password and PEM files of a connection, read the same way by the v3 and v2 clients. */
import { readFile } from "node:fs/promises";
import { PodnetError } from "../errors.js";
import {
  type ConnectionOptions,
  fileNamed,
  normaliseEndpoints,
  optionNamesOf,
  wantsTls,
} from "./connection.js";

/** The user and password to send: `--user name:secret` splits unless `--password` is given; none without a user. */
export function userCredentials(
  opts: Pick<ConnectionOptions, "user" | "password" | "optionNames">,
): { username: string; password: string } | undefined {
  if (opts.user === undefined) return undefined;
  const colon = opts.user.indexOf(":");
  const username = colon >= 0 && opts.password === undefined ? opts.user.slice(0, colon) : opts.user;
  const password = colon >= 0 && opts.password === undefined ? opts.user.slice(colon + 1) : opts.password;
  if (password === undefined) {
    throw new PodnetError(
      "usage",
      `no password for etcd user "${username}"; give it with ${optionNamesOf(opts).password}`,
    );
  }
  return { username, password };
}

/** A PEM file's bytes; a usage error naming the flag when it cannot be read. */
export async function readPem(path: string | undefined, name: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new PodnetError("usage", `cannot read ${fileNamed(name, path)} (${code})`);
  }
}

/** The endpoints with their scheme, whether TLS is on, and the PEM files' bytes; usage errors for bad flags. */
export async function resolveTransport(opts: ConnectionOptions): Promise<{
  endpoints: string[];
  tls: boolean;
  caFile: Buffer | undefined;
  certFile: Buffer | undefined;
  keyFile: Buffer | undefined;
}> {
  const tls = wantsTls(opts);
  const names = optionNamesOf(opts);
  const endpoints = normaliseEndpoints(opts.endpoints, tls, names);
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    throw new PodnetError(
      "usage",
      `${names.certFile} and ${names.keyFile} go together; give both or neither`,
    );
  }
  const [caFile, certFile, keyFile] = await Promise.all([
    readPem(opts.caFile, names.caFile),
    readPem(opts.certFile, names.certFile),
    readPem(opts.keyFile, names.keyFile),
  ]);
  return { endpoints, tls, caFile, certFile, keyFile };
}
