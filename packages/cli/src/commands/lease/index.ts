import { Command } from "commander";
import { acquireCommand } from "./acquire.js";
import { listCommand } from "./list.js";
import { releaseCommand } from "./release.js";
import { renewCommand } from "./renew.js";
import { reserveCommand } from "./reserve.js";
import { showCommand } from "./show.js";
import { unreserveCommand } from "./unreserve.js";

/** `podnet lease`: per-host subnet leases in etcd, flannel's keys and values. */
export function leaseCommand(): Command {
  return new Command("lease")
    .description("acquire, renew, release, list, show and reserve per-host subnet leases")
    .addCommand(acquireCommand())
    .addCommand(renewCommand())
    .addCommand(releaseCommand())
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(reserveCommand())
    .addCommand(unreserveCommand());
}
