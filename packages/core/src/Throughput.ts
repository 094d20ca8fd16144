/**
 * Queue throughput without a command on the hot path (docs/dashboard.md,
 * "Throughput"): each worker counts the attempts it finished per queue in
 * memory (`finishedWindow`) and publishes the count of the last 60 s in its
 * registration, which its heartbeat refreshes anyway (`WorkerInfo.finished`);
 * `weft queues` and the dashboard sum the live workers' counts
 * (`queueThroughput`).
 */
import type { FinishedCounts, WorkerPresence } from "./Store.ts";

/** The window a worker's `finished` counts cover: 60 000 ms before its registration. */
export const THROUGHPUT_WINDOW_MS = 60_000;

/** Width of one bucket of the window, ms: a count is exact to within one bucket at the window's old edge. */
const BUCKET_MS = 1_000;
const BUCKETS = THROUGHPUT_WINDOW_MS / BUCKET_MS;

/** One queue's ring of per-second buckets: the second each bucket counts (epoch s) and its counts. */
interface Ring {
  readonly second: number[];
  readonly succeeded: number[];
  readonly failed: number[];
}

/** A worker's sliding count of the attempts it finished, per queue. */
export interface FinishedWindow {
  /** Counts one finished attempt of a node on `queue`, at `now` (epoch ms). */
  record(queue: string, outcome: "succeeded" | "failed", now: number): void;
  /**
   * The attempts finished per queue in the `THROUGHPUT_WINDOW_MS` up to
   * `now` (epoch ms; bucketed by second); queues with none left out.
   */
  counts(now: number): Record<string, FinishedCounts>;
}

/** A new, empty {@link FinishedWindow}: 60 buckets per queue, a few hundred bytes each. */
export const finishedWindow = (): FinishedWindow => {
  const rings = new Map<string, Ring>();
  return {
    record(queue, outcome, now) {
      let ring = rings.get(queue);
      if (!ring) {
        ring = {
          second: new Array<number>(BUCKETS).fill(-1),
          succeeded: new Array<number>(BUCKETS).fill(0),
          failed: new Array<number>(BUCKETS).fill(0),
        };
        rings.set(queue, ring);
      }
      const s = Math.floor(now / BUCKET_MS);
      const i = s % BUCKETS;
      if (ring.second[i] !== s) {
        ring.second[i] = s;
        ring.succeeded[i] = 0;
        ring.failed[i] = 0;
      }
      ring[outcome][i] = (ring[outcome][i] ?? 0) + 1;
    },
    counts(now) {
      const s = Math.floor(now / BUCKET_MS);
      const out: Record<string, FinishedCounts> = {};
      for (const [queue, ring] of rings) {
        let succeeded = 0;
        let failed = 0;
        for (let i = 0; i < BUCKETS; i++) {
          const at = ring.second[i] ?? -1;
          if (at > s - BUCKETS && at <= s) {
            succeeded += ring.succeeded[i] ?? 0;
            failed += ring.failed[i] ?? 0;
          }
        }
        if (succeeded + failed > 0) out[queue] = { succeeded, failed };
      }
      return out;
    },
  };
};

/** A queue's throughput: attempts finished in the last `windowMs`, summed over live workers. */
export interface QueueThroughput extends FinishedCounts {
  /** The window counted, ms (`THROUGHPUT_WINDOW_MS`). */
  readonly windowMs: number;
  /** `succeeded + failed`: with a 60 s window, attempts per minute. */
  readonly finished: number;
}

/**
 * Sums the `finished` counts that the live workers of `workers` published
 * for `queue` (each as of its last heartbeat). A dead worker's counts and a
 * stopped worker's (it unregisters) are not included.
 */
export const queueThroughput = (
  workers: ReadonlyArray<WorkerPresence>,
  queue: string,
): QueueThroughput => {
  let succeeded = 0;
  let failed = 0;
  for (const w of workers) {
    const c = w.alive ? w.finished?.[queue] : undefined;
    if (!c) continue;
    succeeded += c.succeeded;
    failed += c.failed;
  }
  return { windowMs: THROUGHPUT_WINDOW_MS, finished: succeeded + failed, succeeded, failed };
};
