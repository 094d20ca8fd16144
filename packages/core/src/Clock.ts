/**
 * The clock the worker runtime reads and sleeps on. The live clock is
 * `Date.now` and timers; a simulation passes a virtual clock
 * (`virtualClock` in `@weft/testing`: a queue of sleepers whose time moves
 * only when the simulator advances it, see docs/testing.md) so no real
 * time passes.
 *
 * @since 0.1.0
 */

/** A clock: epoch-ms reading and an abortable sleep. */
export interface WorkerClock {
  /** Current time, epoch ms. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const liveClock: WorkerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};
