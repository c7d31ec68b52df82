/**
 * Shell completion scripts for bash, zsh and fish, generated from the commander tree: every
 * subcommand, every flag (global ones everywhere), and the choices of flags that have them.
 * Pure: the tree in, the script text out.
 */
import type { Command, Option } from "commander";

/** The shells `podnet completion` writes a script for. */
export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;
/** A shell `podnet completion` writes a script for. */
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** One command of the tree as completion needs it. */
interface Node {
  /** Space-separated path below the program: "" for podnet, "lease list". */
  readonly path: string;
  readonly name: string;
  readonly description: string;
  readonly subcommands: readonly string[];
  readonly options: readonly Option[];
}

function nodes(root: Command): Node[] {
  const out: Node[] = [];
  const visit = (cmd: Command, path: string) => {
    out.push({
      path,
      name: cmd.name(),
      description: cmd.description(),
      subcommands: cmd.commands.map((c) => c.name()),
      options: cmd.options.filter((o) => !o.hidden),
    });
    for (const sub of cmd.commands) visit(sub, path === "" ? sub.name() : `${path} ${sub.name()}`);
  };
  visit(root, "");
  return out;
}

const flagsOf = (o: Option): string[] => [o.short, o.long].filter((f): f is string => f !== undefined);
const takesValue = (o: Option): boolean => o.required || o.optional;
const sq = (text: string): string => `'${text.replaceAll("'", "'\\''")}'`;

/** The completion script for `shell`, for the program `root`. */
export function completionScript(root: Command, shell: CompletionShell): string {
  switch (shell) {
    case "bash":
      return bashScript(root);
    case "zsh":
      return `#compdef ${root.name()}\n# zsh completion for ${root.name()}: uses the bash one through bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n${bashScript(root)}`;
    case "fish":
      return fishScript(root);
  }
}

function bashScript(root: Command): string {
  const all = nodes(root);
  const [top] = all;
  const globals = top?.options ?? [];
  const fn = `_${root.name().replace(/[^A-Za-z0-9_]/g, "_")}`;
  const valued = new Map<string, string>(); // flag -> compgen action
  for (const n of all) {
    for (const o of n.options) {
      if (!takesValue(o)) continue;
      const choices = o.argChoices;
      const action =
        choices !== undefined ? `-W ${sq(choices.join(" "))}` : /file/i.test(o.flags) ? "-f" : "";
      for (const f of flagsOf(o)) valued.set(f, action);
    }
  }
  const valueCases = [...valued.entries()]
    .map(([flag, action]) =>
      action === ""
        ? `    ${flag}) return 0 ;;`
        : `    ${flag}) COMPREPLY=($(compgen ${action} -- "$cur")); return 0 ;;`,
    )
    .join("\n");
  const globalFlags = globals.flatMap(flagsOf);
  const pathCases = all
    .map((n) => {
      const flags = [...new Set([...n.options.flatMap(flagsOf), ...globalFlags, "--help"])].join(" ");
      return `    ${sq(n.path)}) subs=${sq(n.subcommands.join(" "))}; flags=${sq(flags)} ;;`;
    })
    .join("\n");
  return `# bash completion for ${root.name()}, generated from its commands: source <(${root.name()} completion bash)
${fn}() {
  local cur prev path subs flags i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${valueCases}
  esac
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    ${fn}_node "$path"
    case " $subs " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  ${fn}_node "$path"
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
  return 0
}
${fn}_node() {
  case "$1" in
${pathCases}
    *) subs=""; flags="" ;;
  esac
}
complete -F ${fn} ${root.name()}
`;
}

function fishScript(root: Command): string {
  const all = nodes(root);
  const name = root.name();
  const lines = [`# fish completion for ${name}, generated from its commands`, `complete -c ${name} -f`];
  for (const n of all) {
    const words = n.path === "" ? [] : n.path.split(" ");
    const seen = words.map((w) => `__fish_seen_subcommand_from ${w}`);
    const notDeeper =
      n.subcommands.length > 0 ? [`not __fish_seen_subcommand_from ${n.subcommands.join(" ")}`] : [];
    const here = [...(words.length === 0 ? ["__fish_use_subcommand"] : seen)];
    for (const sub of n.subcommands) {
      const c = all.find((x) => x.path === (n.path === "" ? sub : `${n.path} ${sub}`));
      const cond = [...here, ...notDeeper].join("; and ");
      lines.push(`complete -c ${name} -n ${sq(cond)} -a ${sub} -d ${sq(c?.description ?? "")}`);
    }
    for (const o of n.options) {
      const parts = [`complete -c ${name}`];
      if (words.length > 0) parts.push(`-n ${sq(seen.join("; and "))}`);
      if (o.short !== undefined) parts.push(`-s ${o.short.replace(/^-/, "")}`);
      if (o.long !== undefined) parts.push(`-l ${o.long.replace(/^--/, "")}`);
      if (takesValue(o)) parts.push(o.argChoices ? `-x -a ${sq(o.argChoices.join(" "))}` : "-r");
      parts.push(`-d ${sq(o.description)}`);
      lines.push(parts.join(" "));
    }
  }
  return `${lines.join("\n")}\n`;
}
