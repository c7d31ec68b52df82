import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Unit and integration tests run against the sources; e2e tests run the built `podnet`.
    alias: {
      "@podnet/ipam-core": src("ipam-core"),
      "@podnet/netcfg": src("netcfg"),
      "@podnet/test-harness": fileURLToPath(new URL("./test/harness", import.meta.url)),
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"],
  },
});
