/**
 * The agent's log on stderr: one line per event, as text (`<time> podnet agent: <line>`, the
 * format flanneld users grep) or as JSON (`{"time","level","msg",...fields}` for log shippers),
 * filtered by level.
 */
import type { LogLevel, LogMeta } from "@podnet/netcfg";
import { logLine, stderrText } from "./stderr.js";

/** `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** `--log-format`'s values. */
export type LogFormat = (typeof LOG_FORMATS)[number];
/** `--log-level`, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log function for the agent: drops lines below `level`, writes the rest in `format`. */
export function agentLogger(format: LogFormat, level: LogLevel): (line: string, meta?: LogMeta) => void {
  const min = LOG_LEVELS.indexOf(level);
  return (line, meta) => {
    const lvl = meta?.level ?? "info";
    if (LOG_LEVELS.indexOf(lvl) < min) return;
    if (format === "json") {
      const time = new Date().toISOString();
      stderrText(`${JSON.stringify({ time, level: lvl, msg: line, ...meta?.fields })}\n`);
    } else {
      const tag = lvl === "warn" ? "warning: " : lvl === "error" ? "error: " : "";
      logLine("agent", `${tag}${line}`);
    }
  };
}
