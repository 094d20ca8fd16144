/**
 * How a worker stops one attempt, cheaply: an `AbortController` made only
 * when someone reads `signal` (the handler's `ctx.signal`), and a direct
 * callback for the attempt's race against its abort instead of an event
 * listener. A worker runs thousands of attempts a second; most handlers
 * never look at their signal, and an `AbortSignal` with a listener costs
 * several µs to make (docs/benchmarks.md).
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private ended = false;
  private why: unknown;
  private onAbort: ((reason: unknown) => void) | undefined;

  /** Whether `abort` was called. */
  get aborted(): boolean {
    return this.ended;
  }

  /** The reason `abort` was called with; undefined before. */
  get reason(): unknown {
    return this.ended ? this.why : undefined;
  }

  /** The signal (made on first read), aborted with the same reason as this. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Aborts with `reason` (its first call only): the signal aborts, the attempt ends with `reason` as its error. */
  abort(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.why = reason;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /**
   * A promise that rejects with the reason once this is aborted (at once if
   * it has); never resolves. Only the latest `rejection()` or `race()` is
   * told of the abort.
   */
  rejection(): Promise<never> {
    const p = new Promise<never>((_, reject) => {
      if (this.ended) reject(this.why);
      else this.onAbort = reject;
    });
    p.catch(() => undefined); // raced, or left unawaited when the attempt ends first
    return p;
  }

  /**
   * Settles as `running` does, unless this is aborted first: then it rejects
   * with the reason (at once if this was aborted already, even when
   * `running` has settled). What `Promise.race([running, this.rejection()])`
   * gives, with one promise instead of three. Only the latest `rejection()`
   * or `race()` is told of the abort.
   */
  race<T>(running: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      running.then(resolve, reject);
      if (this.ended) reject(this.why);
      else this.onAbort = reject;
    });
  }
}
