/**
 * Which etcd endpoint a call goes to, and what happens when one does not answer: the call has
 * one deadline (the command timeout) shared by every attempt; an endpoint that does not answer
 * within its share of the time left is set aside and the call moves on to the next one. A
 * set-aside endpoint is tried again only when no other is left, or once a probe shows it
 * answers again (long-lived clients: the agent, `watch`, library importers).
 */

/** What the pool knows of an endpoint. */
export type EndpointHealth = "up" | "unknown" | "aside";

/** How a failed attempt counts. */
export type AttemptFailure =
  /** The endpoint did not answer (timeout, refused, reset): try another. */
  | "endpoint"
  /** The endpoint answered with a refusal that another would repeat: give up. */
  | "final";

/** One endpoint with its health. */
export interface PooledEndpoint<C> {
  readonly url: string;
  readonly client: C;
  health: EndpointHealth;
  /** When an aside endpoint may be probed again (ms since the epoch). */
  retryAt: number;
}

/** How the pool runs calls. */
export interface EndpointPoolOptions {
  /** The deadline of a whole call, every attempt included. */
  readonly callTimeoutMs: number;
  /** How long an aside endpoint rests before a probe may bring it back; default 5 s. */
  readonly recheckMs?: number;
  /** Sorts endpoints of equal health; default random (spreads the load as etcd3 does). */
  readonly random?: () => number;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

/** Whether a call may overlap its attempts (reads) or must end one before the next (writes). */
export type CallKind = "read" | "write";

/** What {@link EndpointPool.run} reports when every attempt failed. */
export class AllEndpointsFailed extends Error {
  constructor(
    /** Each endpoint's error, in the order they came (empty when the time ran out before any). */
    readonly errors: readonly unknown[],
    readonly timedOut: boolean,
  ) {
    const last = errors[errors.length - 1];
    super(last instanceof Error ? last.message : "Deadline exceeded: no endpoint answered in time");
  }
}

/** A rejection at `deadline` unless `p` settles first; the timer never keeps a process alive. */
export function withDeadline<T>(p: Promise<T>, deadline: number, now: () => number = Date.now): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError()), Math.max(0, deadline - now()));
    timer.unref?.();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** An attempt that ran out of time without an answer. */
export class DeadlineError extends Error {
  constructor() {
    super("Deadline exceeded: the endpoint did not answer in time");
  }
}

/** The endpoints of one store, their health, and the failover of calls across them. */
export class EndpointPool<C> {
  readonly endpoints: PooledEndpoint<C>[];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly recheckMs: number;

  constructor(
    endpoints: readonly { url: string; client: C }[],
    private readonly opts: EndpointPoolOptions,
    /** Probes an aside endpoint; resolves when it answers. */
    private readonly probe?: (endpoint: PooledEndpoint<C>) => Promise<void>,
  ) {
    this.endpoints = endpoints.map((e) => ({ ...e, health: "unknown", retryAt: 0 }));
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.recheckMs = opts.recheckMs ?? 5000;
  }

  /** Marks an endpoint as answering. */
  up(endpoint: PooledEndpoint<C>): void {
    endpoint.health = "up";
  }

  /** Sets an endpoint aside until a probe shows it answers again. */
  aside(endpoint: PooledEndpoint<C>): void {
    endpoint.health = "aside";
    endpoint.retryAt = this.now() + this.recheckMs;
  }

  /** The order to try endpoints in: answering ones, then untested ones, then the aside ones (longest aside first). */
  order(): { candidates: PooledEndpoint<C>[]; fallback: PooledEndpoint<C>[] } {
    this.recheck();
    const shuffled = (list: PooledEndpoint<C>[]) =>
      list
        .map((e) => ({ e, k: this.random() }))
        .sort((a, b) => a.k - b.k)
        .map((x) => x.e);
    const up = shuffled(this.endpoints.filter((e) => e.health === "up"));
    const unknown = shuffled(this.endpoints.filter((e) => e.health === "unknown"));
    const aside = this.endpoints.filter((e) => e.health === "aside").sort((a, b) => a.retryAt - b.retryAt);
    return { candidates: [...up, ...unknown], fallback: aside };
  }

  /** Starts a probe of each aside endpoint whose rest is over (without waiting for it). */
  private recheck(): void {
    if (this.probe === undefined) return;
    const now = this.now();
    for (const e of this.endpoints) {
      if (e.health !== "aside" || e.retryAt > now) continue;
      e.retryAt = now + this.recheckMs;
      this.probe(e).then(
        () => {
          if (e.health === "aside") e.health = "up";
        },
        () => undefined,
      );
    }
  }

  /**
   * Runs `attempt` on one endpoint after another until one answers, all within the call
   * timeout. Each endpoint not yet tried (aside ones included) gets an equal share of the time
   * left; a read whose endpoint is silent past its share keeps waiting while the next endpoint
   * is asked too (first answer wins), a write is ended at its share (its compare makes the
   * retry harmless; the caller tells its own landed write from a lost race, see lost-answer.ts).
   * `classify` says whether a failure may be retried on another endpoint.
   */
  run<T>(
    kind: CallKind,
    attempt: (endpoint: PooledEndpoint<C>, deadline: number) => Promise<T>,
    classify: (err: unknown) => AttemptFailure,
  ): Promise<T> {
    const start = this.now();
    const end = start + this.opts.callTimeoutMs;
    const { candidates, fallback } = this.order();
    const queue = [...candidates, ...fallback];
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let next = 0;
      let running = 0;
      const errors: unknown[] = [];
      const finishIfDone = () => {
        if (!settled && running === 0 && (next >= queue.length || this.now() >= end)) {
          settled = true;
          reject(new AllEndpointsFailed(errors, this.now() >= end));
        }
      };
      const launch = (): void => {
        if (settled) return;
        const now = this.now();
        if (next >= queue.length || now >= end) {
          finishIfDone();
          return;
        }
        const index = next++;
        const endpoint = queue[index] as PooledEndpoint<C>;
        // Every endpoint not yet tried counts, the aside ones too: a last candidate that is silent
        // must not take the time an aside endpoint that has recovered since needs for its turn.
        const left = queue.length - index;
        const share = left > 1 ? Math.max(1, Math.floor((end - now) / left)) : end - now;
        const deadline = kind === "write" ? now + share : end;
        let passedOn = false;
        const passOn = () => {
          if (passedOn) return;
          passedOn = true;
          launch();
        };
        const timer =
          kind === "read" && left > 1
            ? setTimeout(() => {
                // Silent past its share: ask the next one too, and keep listening to this one.
                if (!settled) this.aside(endpoint);
                passOn();
              }, share)
            : undefined;
        timer?.unref?.();
        running++;
        withDeadline(attempt(endpoint, deadline), deadline, this.now).then(
          (value) => {
            clearTimeout(timer);
            running--;
            this.up(endpoint);
            if (settled) return;
            settled = true;
            resolve(value);
          },
          (err: unknown) => {
            clearTimeout(timer);
            running--;
            if (settled) return;
            if (classify(err) === "final") {
              this.up(endpoint);
              settled = true;
              reject(err);
              return;
            }
            this.aside(endpoint);
            errors.push(err);
            if (passedOn) finishIfDone();
            else passOn();
          },
        );
      };
      launch();
    });
  }
}
