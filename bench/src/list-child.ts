/**
 * Child process of the list benchmark: connects, times one LeaseRegistry.list() and prints
 * `{"ms":…,"leases":…,"maxRssKb":…}` on stdout. Run as its own process so its peak memory is its own.
 * argv: endpoint prefix
 */
import { connect, LeaseRegistry } from "@podnet/ipam-core";

const [endpoint, prefix] = process.argv.slice(2);
if (endpoint === undefined || prefix === undefined) {
  console.error("usage: list-child ENDPOINT PREFIX");
  process.exit(2);
}
const store = await connect({ endpoints: [endpoint], dialTimeoutMs: 5_000, commandTimeoutMs: 60_000 });
const registry = new LeaseRegistry(store, { prefix });
const t0 = process.hrtime.bigint();
const listing = await registry.list().catch((err: unknown) => {
  process.stderr.write(`list-child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
store.close();
process.stdout.write(
  `${JSON.stringify({
    ms,
    leases: listing.leases.length,
    damaged: listing.damaged.length,
    maxRssKb: process.resourceUsage().maxRSS,
  })}\n`,
);
process.exit(0);
