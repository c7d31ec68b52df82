import { Argument, Command } from "commander";
import { withContext } from "../context.js";
import { COMPLETION_SHELLS, type CompletionShell, completionScript } from "../print/completion.js";

/** `podnet completion bash|zsh|fish`: the shell's completion script, from the command tree. */
export function completionCommand(program: Command): Command {
  return new Command("completion")
    .description("print a shell completion script (bash, zsh or fish) for podnet's commands and flags")
    .addArgument(new Argument("<shell>", "the shell").choices(COMPLETION_SHELLS))
    .action(
      withContext(async (ctx, shell: CompletionShell) => {
        const script = completionScript(program, shell);
        await ctx.print({ data: { shell, script }, human: () => script });
        return undefined;
      }),
    );
}
