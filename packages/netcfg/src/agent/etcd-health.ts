/**
 * Whether etcd answers the agent, told truthfully: every answer (a watch event, a renewal, a
 * probe) marks it up; a failure marks it down. A frozen etcd (stopped, no answer at all) never
 * fails a watch stream, so a cheap read of the config key runs every probe interval with the
 * command timeout as its deadline: silence is then detected within that timeout, and logged
 * like a refused connection. The outage's log line gives its real length: from the last
 * answer before it to the first answer after it.
 */
import { configKey, type Store } from "@podnet/ipam-core";

/** What the rest of the agent hears about etcd. */
export interface EtcdHealthEvents {
  /** etcd stopped answering; `since` is the last answer before (ms since the epoch). */
  down(reason: string, since: number): void;
  /** etcd answers again after an outage of `outageMs`. */
  up(outageMs: number, since: number): void;
}

/** The state of etcd as the agent sees it. */
export class EtcdHealth {
  private upNow = true;
  private lastAnswer: number;
  private lastError = "";
  private downAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly events: EtcdHealthEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.lastAnswer = now();
  }

  /** Whether etcd answered last time it was asked. */
  get up(): boolean {
    return this.upNow;
  }

  /** When etcd last answered (ms since the epoch). */
  get lastSync(): number {
    return this.lastAnswer;
  }

  /** Why etcd is down, while it is. */
  get reason(): string {
    return this.lastError;
  }

  /** How long etcd has been silent, in ms (0 while up). */
  outageMs(): number {
    return this.upNow ? 0 : this.now() - this.lastAnswer;
  }

  /** etcd answered. */
  answered(): void {
    const now = this.now();
    if (!this.upNow) {
      this.upNow = true;
      this.lastError = "";
      this.events.up(now - this.lastAnswer, this.lastAnswer);
    }
    this.lastAnswer = now;
  }

  /** A request to etcd failed (refused, timed out, unavailable). */
  failed(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    if (!this.upNow) return;
    this.upNow = false;
    this.downAt = this.now();
    this.events.down(this.lastError, this.lastAnswer);
  }

  /** When the outage was noticed (ms since the epoch), while it lasts. */
  get noticedAt(): number {
    return this.downAt;
  }

  /** Probes `store` every `intervalMs` with a read of the config key (its deadline is the store's command timeout). */
  probe(store: Store, prefix: string, intervalMs: number): void {
    const key = configKey(prefix);
    this.timer = setInterval(() => {
      if (this.probing) return;
      this.probing = true;
      store
        .get(key)
        .then(
          () => this.answered(),
          (err: unknown) => this.failed(err),
        )
        .finally(() => {
          this.probing = false;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops probing. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}

/** `12.3s` or `2m05s`: an outage's length for a log line. */
export function formatOutage(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
}
