import type { Command } from "commander";
import { addCommand } from "./add.js";
import { delCommand } from "./del.js";
import { showCommand } from "./show.js";

/** `podnet route`: the overlay routing table from the leases; `add` reserves, `del` removes. */
export function routeCommand(): Command {
  return showCommand().addCommand(addCommand()).addCommand(delCommand());
}
