import { Command, CommanderError, Option } from "commander";
import { agentCommand } from "./commands/agent.js";
import { completionCommand } from "./commands/completion.js";
import { configCommand } from "./commands/config/index.js";
import { doctorCommand } from "./commands/doctor.js";
import { ifconfigCommand } from "./commands/ifconfig/index.js";
import { ipamCommand } from "./commands/ipam/index.js";
import { leaseCommand } from "./commands/lease/index.js";
import { routeCommand } from "./commands/route/index.js";
import { podnetVersion, versionCommand } from "./commands/version.js";
import { watchCommand } from "./commands/watch.js";
import { EXIT, reportError } from "./exit.js";
import { addExamples } from "./print/examples.js";
import { OUTPUT_FORMATS } from "./print/output.js";
import { flushWarnings, setVerboseWarnings } from "./print/warn.js";

/** The `podnet` command with its global flags (etcdctl's names, flannel's defaults). */
export function buildProgram(): Command {
  const program = new Command("podnet")
    .description("Overlay pod networks in etcd, flannel-compatible: config, leases, ifconfig, route, ipam")
    .version(podnetVersion(), "-v, --version", "print podnet's version (see also 'podnet version')")
    .option("--endpoints <list>", "etcd endpoints, comma separated (default: http://127.0.0.1:2379)")
    .option("--prefix <path>", "etcd prefix of the network (default: /coreos.com/network)")
    .option("--cacert <file>", "verify etcd's certificate with this CA bundle")
    .option("--cert <file>", "client certificate for etcd")
    .option("--key <file>", "client key for etcd")
    .option("--insecure-skip-tls-verify", "accept any certificate etcd presents (testing only)")
    .option("--user <name[:password]>", "etcd user name (and password, not recommended)")
    .option("--password <password>", "etcd password (visible to other users; prefer PODNET_PASSWORD)")
    .option("--password-file <file>", "read the etcd password from this file")
    .option("--dial-timeout <duration>", "how long to wait for etcd to answer (default: 2s)")
    .option("--command-timeout <duration>", "deadline of each etcd request (default: 5s)")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS))
    .addOption(
      new Option("-w, --write-out <format>", "the same as -o (etcdctl's name)").choices(OUTPUT_FORMATS),
    )
    .option("--no-color", "never colour the output")
    .option("--verbose", "print every warning (by default the first 20, then a count)")
    .option("--show-secrets", "print pre-shared keys in clear (by default they show as <redacted>)")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      "\nEvery flag may also come from the environment as PODNET_<FLAG> (PODNET_ENDPOINTS, PODNET_PASSWORD, ...);\n" +
        "ETCDCTL_* (ETCDCTL_WRITE_OUT too) and FLANNELD_ETCD_* variables are honoured where they mean the same.\n" +
        "The command line wins. NO_COLOR (non-empty) turns colour off.\n" +
        "Exit status: 0 success, 1 operation failed, 2 usage error, 3 validation failed.",
    );
  program.addCommand(configCommand());
  program.addCommand(ifconfigCommand());
  program.addCommand(routeCommand());
  program.addCommand(leaseCommand());
  program.addCommand(ipamCommand());
  program.addCommand(watchCommand());
  program.addCommand(agentCommand());
  program.addCommand(doctorCommand());
  program.addCommand(versionCommand());
  program.addCommand(completionCommand(program));
  addExamples(program);
  program.hook("preAction", (_root, action) => {
    setVerboseWarnings(action.optsWithGlobals<{ verbose?: boolean }>().verbose === true);
  });
  return program;
}

/** Runs podnet with these arguments; resolves to the exit status. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const exitOverride = (err: CommanderError) => {
    throw err;
  };
  const applyAll = (cmd: Command) => {
    cmd.exitOverride(exitOverride);
    cmd.configureOutput({ outputError: (text, write) => write(`podnet: ${text.replace(/^error: /, "")}`) });
    for (const sub of cmd.commands) applyAll(sub);
  };
  applyAll(program);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(err);
  } finally {
    flushWarnings();
  }
}
