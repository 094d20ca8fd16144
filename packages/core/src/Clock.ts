/**
 * The clock the worker runtime, its locks and the in-memory store read and
 * sleep on. The live clock is `Date.now` and timers; a simulation passes a
 * virtual clock (`virtualClock` in `@weft/testing`: a queue of sleepers
 * whose time moves only when the simulator advances it, see
 * docs/testing.md) so that no real time passes.
 */

/** A clock: a reading in epoch ms and an abortable sleep. */
export interface Clock {
  /** Current time, epoch ms. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const liveClock: Clock = {
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
