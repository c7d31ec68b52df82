/**
 * When the agent touches the kernel: a full reconcile at start, every interval and after a
 * failure; an incremental apply of the changed peers after lease events. Calls while a pass
 * runs coalesce into one more pass after it, so a burst of thousands of events is one apply.
 */

/** The two kinds of pass the scheduler runs. */
export interface SchedulerWork {
  /** Compares the whole kernel with the plan and repairs it. */
  full(): Promise<void>;
  /** Applies what changed since the last pass; true when something is left to do. */
  incremental(): Promise<void>;
  /** Whether peers changed since the last pass. */
  pending(): boolean;
}

/** Runs passes one at a time, never two at once. */
export class ReconcileScheduler {
  private fullDue = true;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly work: SchedulerWork,
    private readonly signal: AbortSignal,
  ) {}

  /** Schedules a pass: a full one when `full` (or one is due), else the incremental apply. */
  kick(full: boolean): void {
    if (full) this.fullDue = true;
    if (this.running !== undefined) return;
    this.running = (async () => {
      // Let the rest of this tick's events join the batch.
      await new Promise<void>((r) => setImmediate(r));
      while (!this.signal.aborted && (this.fullDue || this.work.pending())) {
        if (this.fullDue) {
          this.fullDue = false;
          await this.work.full();
        } else {
          await this.work.incremental();
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Asks for a full reconcile at the next pass (after a failed incremental apply). */
  fullNext(): void {
    this.fullDue = true;
  }

  /** Resolves when no pass runs (at once when idle). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Starts the periodic full reconcile. */
  every(intervalMs: number): void {
    this.timer = setInterval(() => this.kick(true), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for the pass in flight. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.idle();
  }
}
