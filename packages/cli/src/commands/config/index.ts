import { Command } from "commander";
import { diffCommand } from "./diff.js";
import { getCommand } from "./get.js";
import { historyCommand } from "./history.js";
import { rollbackCommand } from "./rollback.js";
import { setCommand } from "./set.js";
import { validateCommand } from "./validate.js";

/** `podnet config`: the network config document, offline and in etcd. */
export function configCommand(): Command {
  return new Command("config")
    .description("validate, read, write and roll back the network config document")
    .addCommand(validateCommand())
    .addCommand(getCommand())
    .addCommand(setCommand())
    .addCommand(diffCommand())
    .addCommand(historyCommand())
    .addCommand(rollbackCommand());
}
