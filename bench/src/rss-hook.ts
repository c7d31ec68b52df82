/**
 * Preloaded with `node --import` into a node process whose peak memory the list benchmark
 * wants when /usr/bin/time is missing: prints the max RSS to stderr as the process exits.
 */
process.on("exit", () => {
  process.stderr.write(`\nPODNET_MAXRSS_KB=${process.resourceUsage().maxRSS}\n`);
});
