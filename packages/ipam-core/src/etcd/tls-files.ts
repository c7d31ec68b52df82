/**
 * The client's own TLS files checked before dialing, so a key that does not match its
 * certificate or a file that is not PEM is named as such (a usage error: the files are the
 * admin's) and not reported later as an unexpected failure of the connection.
 */
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { PodnetError } from "../errors.js";
import { type ConnectionOptionNames, fileNamed, optionNamesOf } from "./connection.js";

/** The PEM contents of the CA, certificate and key files (`--cacert`, `--cert`, `--key`), when given. */
export interface TlsFiles {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** OpenSSL's reason without its error code prefix: `key values mismatch`. */
function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split("::").pop() ?? msg).replace(/^error:[0-9A-F]+:[^:]*:/i, "").trim();
}

/** Builds a TLS context from `options`; a usage error with `sentence` and OpenSSL's reason if it fails. */
function usable(options: SecureContextOptions, sentence: string): void {
  try {
    createSecureContext(options);
  } catch (err) {
    throw new PodnetError("usage", `${sentence} (${reason(err)})`);
  }
}

/** Throws a usage error naming the option and file when a TLS file is unusable. */
export function checkTlsFiles(
  files: TlsFiles,
  paths: {
    readonly caFile?: string | undefined;
    readonly certFile?: string | undefined;
    readonly keyFile?: string | undefined;
    readonly optionNames?: ConnectionOptionNames | undefined;
  },
): void {
  const { ca, cert, key } = files;
  const names = optionNamesOf(paths);
  const caNamed = fileNamed(names.caFile, paths.caFile);
  if (ca !== undefined) {
    usable({ ca }, `${caNamed} is not a usable PEM CA certificate`);
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new PodnetError("usage", `${caNamed} holds no PEM certificate`);
    }
  }
  const certNamed = fileNamed(names.certFile, paths.certFile);
  const keyNamed = fileNamed(names.keyFile, paths.keyFile);
  if (cert !== undefined) usable({ cert }, `${certNamed} is not a usable PEM certificate`);
  if (key !== undefined) usable({ key }, `${keyNamed} is not a usable PEM private key`);
  if (cert !== undefined && key !== undefined) {
    usable({ cert, key }, `${keyNamed} does not belong to the ${certNamed}`);
  }
}
