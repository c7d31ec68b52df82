/**
 * The client's own TLS files checked before dialing, so a key that does not match its
 * certificate or a file that is not PEM is named as such (a usage error: the files are the
 * admin's) and not reported later as an unexpected failure of the connection.
 */
import { createSecureContext } from "node:tls";
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

/** Throws a usage error naming the flag and file when a TLS file is unusable. */
export function checkTlsFiles(
  files: TlsFiles,
  paths: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string },
): void {
  if (files.ca !== undefined) {
    try {
      createSecureContext({ ca: files.ca });
    } catch (err) {
      throw new PodnetError(
        "usage",
        `--cacert file ${paths.caFile} is not a usable PEM CA certificate (${reason(err)})`,
      );
    }
    if (!files.ca.includes("-----BEGIN CERTIFICATE-----")) {
      throw new PodnetError("usage", `--cacert file ${paths.caFile} holds no PEM certificate`);
    }
  }
  if (files.cert !== undefined) {
    try {
      createSecureContext({ cert: files.cert });
    } catch (err) {
      throw new PodnetError(
        "usage",
        `--cert file ${paths.certFile} is not a usable PEM certificate (${reason(err)})`,
      );
    }
  }
  if (files.key !== undefined) {
    try {
      createSecureContext({ key: files.key });
    } catch (err) {
      throw new PodnetError(
        "usage",
        `--key file ${paths.keyFile} is not a usable PEM private key (${reason(err)})`,
      );
    }
  }
  if (files.cert !== undefined && files.key !== undefined) {
    try {
      createSecureContext({ cert: files.cert, key: files.key });
    } catch (err) {
      throw new PodnetError(
        "usage",
        `--key file ${paths.keyFile} does not belong to the --cert file ${paths.certFile} (${reason(err)})`,
      );
    }
  }
}
