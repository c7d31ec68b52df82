import { Command } from "commander";
import { checkCommand } from "./check.js";
import { releaseCommand } from "./release.js";
import { showCommand } from "./show.js";

/** `podnet ipam`: how the address space is used, what is wrong with it, and cleaning up. */
export function ipamCommand(): Command {
  return new Command("ipam")
    .description("address space: utilisation, who holds an address, free space, a map; checks and cleanup")
    .addCommand(showCommand())
    .addCommand(checkCommand())
    .addCommand(releaseCommand());
}
