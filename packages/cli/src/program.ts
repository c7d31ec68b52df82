import { Command, CommanderError, Option } from "commander";
import { keepAgentHeapSmall, restoreHeapDefaults } from "./agent-heap.js";
import { podnetVersion } from "./commands/version.js";
import { EXIT, reportError } from "./exit.js";
import { addExamples } from "./print/examples.js";
import { OUTPUT_FORMATS } from "./print/output.js";
import { flushWarnings, setVerboseWarnings } from "./print/warn.js";

/**
 * The top-level commands in help order, each loaded only when needed: a command's module
 * pulls in its own dependencies (the agent's metrics, the data plane, the config schema), and
 * loading all of them cost a one-shot command more time than its work (see the README's
 * Benchmarks). `completion` walks the whole tree, so it loads every command.
 */
const COMMANDS: readonly { name: string; load: (program: Command) => Promise<Command> }[] = [
  { name: "config", load: async () => (await import("./commands/config/index.js")).configCommand() },
  { name: "ifconfig", load: async () => (await import("./commands/ifconfig/index.js")).ifconfigCommand() },
  { name: "route", load: async () => (await import("./commands/route/index.js")).routeCommand() },
  { name: "lease", load: async () => (await import("./commands/lease/index.js")).leaseCommand() },
  { name: "ipam", load: async () => (await import("./commands/ipam/index.js")).ipamCommand() },
  { name: "watch", load: async () => (await import("./commands/watch.js")).watchCommand() },
  { name: "agent", load: async () => (await import("./commands/agent.js")).agentCommand() },
  { name: "migrate", load: async () => (await import("./commands/migrate.js")).migrateCommand() },
  { name: "doctor", load: async () => (await import("./commands/doctor.js")).doctorCommand() },
  { name: "version", load: async () => (await import("./commands/version.js")).versionCommand() },
  {
    name: "completion",
    load: async (program) => (await import("./commands/completion.js")).completionCommand(program),
  },
];

/**
 * The `podnet` command with its global flags (etcdctl's names, flannel's defaults) and its
 * commands: all of them, or only the one ARGV names (its help and errors are the same either
 * way; anything else, `help`, a typo or no command, gets the whole tree).
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
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
    .option("--pretty", "indent -o json output (the default on a terminal; piped output is compact)")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      "\nEvery flag may also come from the environment as PODNET_<FLAG> (PODNET_ENDPOINTS, PODNET_PASSWORD, ...);\n" +
        "ETCDCTL_* (ETCDCTL_WRITE_OUT too) and FLANNELD_ETCD_* variables are honoured where they mean the same.\n" +
        "The command line wins. NO_COLOR (non-empty) turns colour off.\n" +
        "Exit status: 0 success, 1 operation failed, 2 usage error, 3 validation failed.",
    );
  const word = argv === undefined ? undefined : commandWord(program, argv);
  const named = COMMANDS.filter((c) => c.name === word && c.name !== "completion");
  const needed = word === VERSION_FLAG ? [] : named.length === 1 ? named : COMMANDS;
  // The agent's heap sizing, before its modules load (see agent-heap.ts); any other command
  // gets the defaults back should agent-heap-start.ts have guessed the agent.
  if (word === "agent") keepAgentHeapSmall();
  else restoreHeapDefaults();
  const commands = await Promise.all(needed.map((c) => c.load(program)));
  for (const command of commands) program.addCommand(command);
  addExamples(program);
  program.hook("preAction", (_root, action) => {
    setVerboseWarnings(action.optsWithGlobals<{ verbose?: boolean }>().verbose === true);
  });
  return program;
}

/** What {@link commandWord} answers for `--version` first: commander prints it before any command runs. */
const VERSION_FLAG = "--version";

/**
 * The first operand of ARGV past the root's own flags (the command's name), or undefined
 * when there is none or a flag the root does not know comes first (commander then decides,
 * with every command loaded).
 */
function commandWord(program: Command, argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--" || arg === "-") return undefined;
    if (!arg.startsWith("-")) return arg;
    const long = arg.startsWith("--");
    const flag = long ? arg.split("=")[0] : arg.slice(0, 2);
    const option = program.options.find((o) => (long ? o.long === flag : o.short === flag));
    if (option === undefined || option.optional) return undefined;
    if (option.long === VERSION_FLAG) return VERSION_FLAG;
    // A flag with a value takes the next argument unless it is joined (--prefix=/x, -ojson).
    const joined = long ? arg.includes("=") : arg.length > 2;
    if (option.required && !joined) i++;
  }
  return undefined;
}

/** Runs podnet with these arguments; resolves to the exit status. */
export async function run(argv: readonly string[]): Promise<number> {
  let program: Command;
  try {
    program = await buildProgram(argv);
  } catch (err) {
    // A damaged install (a chunk missing): one line, not an unhandled rejection's stack.
    return reportError(err);
  }
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
