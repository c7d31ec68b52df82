/**
 * systemd's notification protocol (sd_notify) for `podnet agent` under `Type=notify`: READY=1
 * once the agent is ready, STATUS= on changes, STOPPING=1 on shutdown, WATCHDOG=1 every half
 * WATCHDOG_USEC. Node has no AF_UNIX datagram socket in core and the npm packages that add one
 * are native addons, so each message is sent by the system's `systemd-notify` (systemd's own
 * client; the unit needs NotifyAccess=all, as the message comes from that child). Messages
 * go one at a time, in order; without NOTIFY_SOCKET nothing is sent.
 */
import { spawn } from "node:child_process";

/** Where notifications go, from the environment systemd gives the service. */
export class SystemdNotifier {
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readyOnce = false;
  private failed = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    /** Told once when systemd-notify cannot be run. */
    private readonly onError: (message: string) => void,
  ) {}

  /** Whether systemd asked for notifications (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return (this.env["NOTIFY_SOCKET"] ?? "") !== "";
  }

  /** READY=1 the first time the agent is ready, and STATUS= whenever the status line changes. */
  update(ready: boolean, status: string): void {
    const fields = [`STATUS=${status}`];
    if (ready && !this.readyOnce) {
      this.readyOnce = true;
      fields.unshift("READY=1");
    }
    this.send(fields);
  }

  /** STOPPING=1, and no more watchdog pings. */
  stopping(status: string): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.send(["STOPPING=1", `STATUS=${status}`]);
    return this.chain;
  }

  /** WATCHDOG=1 every half WATCHDOG_USEC, when systemd set it for this process. */
  startWatchdog(): void {
    const usec = Number(this.env["WATCHDOG_USEC"] ?? "");
    const pid = this.env["WATCHDOG_PID"];
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return;
    if (pid !== undefined && pid !== "" && Number(pid) !== process.pid) return;
    this.timer = setInterval(() => this.send(["WATCHDOG=1"]), Math.max(100, usec / 2000));
    this.timer.unref();
  }

  private send(fields: readonly string[]): void {
    if (!this.enabled || this.failed) return;
    this.chain = this.chain.then(
      () =>
        new Promise<void>((done) => {
          // --no-block: no BARRIER=1 round trip (systemd-notify would wait for the manager to answer it).
          const child = spawn("systemd-notify", ["--no-block", ...fields], {
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...this.env },
          });
          let err = "";
          child.stderr?.on("data", (d: Buffer) => {
            err += d.toString();
          });
          child.on("error", (e: NodeJS.ErrnoException) => {
            this.failed = true;
            this.onError(
              e.code === "ENOENT"
                ? "NOTIFY_SOCKET is set but systemd-notify is not installed; systemd will not hear READY=1"
                : `cannot run systemd-notify: ${e.message}`,
            );
            done();
          });
          child.on("close", (code) => {
            if (code !== 0 && code !== null) this.onError(`systemd-notify failed (${code}): ${err.trim()}`);
            done();
          });
        }),
    );
  }
}
