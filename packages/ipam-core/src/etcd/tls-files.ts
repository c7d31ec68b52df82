/**
 * The client's own TLS files checked before dialing, so a key that does not match its
 * certificate or a file that is not PEM is named as such (a usage error: the files are the
 * admin's) and not reported later as an unexpected failure of the connection.
 */
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { PodnetError } from "../errors.js";

/** The PEM contents of --cacert, --cert and --key, when given. */
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

/** Throws a usage error naming the flag and file when a TLS file is unusable. */
export function checkTlsFiles(
  files: TlsFiles,
  paths: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string },
): void {
  const { ca, cert, key } = files;
  if (ca !== undefined) {
    usable({ ca }, `--cacert file ${paths.caFile} is not a usable PEM CA certificate`);
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new PodnetError("usage", `--cacert file ${paths.caFile} holds no PEM certificate`);
    }
  }
  if (cert !== undefined) usable({ cert }, `--cert file ${paths.certFile} is not a usable PEM certificate`);
  if (key !== undefined) usable({ key }, `--key file ${paths.keyFile} is not a usable PEM private key`);
  if (cert !== undefined && key !== undefined) {
    usable({ cert, key }, `--key file ${paths.keyFile} does not belong to the --cert file ${paths.certFile}`);
  }
}
