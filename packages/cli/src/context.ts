import { readFile } from "node:fs/promises";
import { type ConnectionOptions, PodnetError, type Store } from "@podnet/ipam-core";
import type { Command } from "commander";
import { type GlobalOptions, type RawGlobalFlags, resolveGlobalOptions } from "./global-options.js";
import { promptPassword } from "./password.js";
import { type Palette, palette } from "./print/colour.js";
import { print, type Result } from "./print/output.js";

/** What every command gets: resolved global options, colours, and a lazy etcd connection. */
export interface Context {
  readonly globals: GlobalOptions;
  readonly colours: Palette;
  /** Connects once (prompting for a password on a terminal when a user has none). */
  store(): Promise<Store>;
  /** The connection options {@link store} used, a prompted password included (for a second client, such as v2's). */
  connection(): Promise<ConnectionOptions>;
  /** Prints a result in the chosen output format. */
  print(result: Result): Promise<void>;
  /** Closes the connection, if one was made. */
  close(): void;
}

/** Builds the context of a command from its own and its ancestors' flags. */
export function contextFor(cmd: Command): Context {
  const globals = resolveGlobalOptions(cmd.optsWithGlobals<RawGlobalFlags>());
  let connecting: Promise<Store> | undefined;
  let resolved: ConnectionOptions = globals.connection;
  const context: Context = {
    globals,
    colours: palette(globals.color),
    async connection() {
      await context.store();
      return resolved;
    },
    store() {
      connecting ??= (async () => {
        let connection = globals.connection;
        const user = connection.user;
        if (user !== undefined && !user.includes(":") && connection.password === undefined) {
          if (!process.stdin.isTTY) {
            throw new PodnetError(
              "usage",
              `no password for etcd user "${user}"; set PODNET_PASSWORD or pass --password-file`,
            );
          }
          connection = { ...connection, password: await promptPassword(`Password for etcd user ${user}: `) };
        }
        resolved = connection;
        const { connect } = await import("./connect.js");
        return connect(connection);
      })();
      return connecting;
    },
    print: (result) => print(result, globals.output, globals.pretty),
    close() {
      connecting?.then((s) => s.close()).catch(() => undefined);
    },
  };
  return context;
}

/** Reads a document from FILE, or from stdin for `-` or no FILE when stdin is not a terminal. */
export async function readInput(file: string | undefined): Promise<{ name: string; text: string }> {
  if (file === undefined || file === "-") {
    if (file === undefined && process.stdin.isTTY) {
      throw new PodnetError("usage", "give a FILE, or pipe the document on stdin with '-'");
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { name: "<stdin>", text: Buffer.concat(chunks).toString("utf8") };
  }
  try {
    return { name: file, text: await readFile(file, "utf8") };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code;
    throw new PodnetError("usage", `cannot read ${file}: ${why}`);
  }
}

/**
 * Wraps a command's action: builds its context from the flags, runs it, always closes the
 * connection. The action returns its exit status (0 when it returns nothing).
 */
export function withContext<A extends unknown[]>(
  fn: (ctx: Context, ...args: A) => Promise<number | undefined>,
): (...args: [...A, Command]) => Promise<void> {
  return async (...args) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = contextFor(cmd);
    try {
      const status = await fn(ctx, ...(args.slice(0, -1) as A));
      if (status !== undefined && status !== 0) process.exitCode = status;
    } finally {
      ctx.close();
    }
  };
}
