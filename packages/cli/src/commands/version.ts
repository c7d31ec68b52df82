import { readFileSync } from "node:fs";
import { Command } from "commander";
import { withContext } from "../context.js";
import { formatVersion, type VersionReport } from "../print/version.js";

/** The git commit and the version, replaced by scripts/bundle.mjs at build time (absent unbundled). */
declare const __PODNET_COMMIT__: string | undefined;
declare const __PODNET_VERSION__: string | undefined;

/** podnet's version: baked into the bundle, else from packages/cli/package.json. */
export function podnetVersion(): string {
  if (typeof __PODNET_VERSION__ === "string") return __PODNET_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The git commit the running build was made from; "unknown" outside the bundle. */
export function podnetCommit(): string {
  return typeof __PODNET_COMMIT__ === "string" && __PODNET_COMMIT__ !== "" ? __PODNET_COMMIT__ : "unknown";
}

/** podnet's and Node's versions: what `podnet version` reports without etcd. */
function ours(): Pick<VersionReport, "podnet" | "commit" | "node"> {
  return { podnet: podnetVersion(), commit: podnetCommit(), node: process.version };
}

/** `podnet version`: podnet's version and commit, Node's, and etcd's when an endpoint answers. */
export function versionCommand(): Command {
  return new Command("version")
    .description("print podnet's version and commit, Node's version, and the etcd server's and cluster's")
    .action(
      withContext(async (ctx) => {
        const { etcdVersions } = await import("../etcd-versions.js");
        const etcd = await etcdVersions(ctx.globals.connection);
        const report: VersionReport =
          "error" in etcd
            ? { ...ours(), revision: null, etcd: null, etcdError: etcd.error }
            : {
                ...ours(),
                revision: etcd.revision,
                etcd: { endpoint: etcd.endpoint, server: etcd.server, cluster: etcd.cluster },
              };
        await ctx.print({
          data: report,
          human: () => formatVersion(report),
          rows: () => [
            ["podnet", report.podnet],
            ["commit", report.commit],
            ["node", report.node],
            ["etcd-server", report.etcd?.server ?? "-"],
            ["etcd-cluster", report.etcd?.cluster ?? "-"],
            ["etcd-revision", report.revision === null ? "-" : String(report.revision)],
          ],
        });
        return undefined;
      }),
    );
}
