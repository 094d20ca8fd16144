/**
 * What each benchmarked system (Weft, BullMQ) provides: an instance set up
 * for one workload (producer, workers, connections), which submits the
 * workload, reports completions to a {@link Tracker}, verifies the results
 * afterwards and closes everything it opened.
 */
import type { Sizes, WorkloadId } from "./config.ts";

/** Where and how an instance runs. */
export interface InstanceOptions {
  readonly url: string;
  /** Key prefix; `undefined` keeps the system's default. */
  readonly prefix: string | undefined;
  readonly workers: number;
  readonly concurrency: number;
  readonly sizes: Sizes;
  readonly tracker: Tracker;
}

/** One system, set up for one workload. */
export interface Instance {
  /** Submits the whole workload (workers already run); resolves when everything is submitted. */
  submit(workload: WorkloadId): Promise<void>;
  /** Checks the results after the workload; returns a problem, or `undefined` when they are right. */
  verify(workload: WorkloadId): Promise<string | undefined>;
  /** Client-side command counts by name (scripts by their registered name), when the system has them. */
  commandCounts(): ReadonlyMap<string, number> | undefined;
  /** Maps a script SHA1 to its name, for the slow log. */
  scriptName(sha: string): string | undefined;
  /** Stops workers and closes every connection. */
  close(): Promise<void>;
}

/** A benchmarked system. */
export interface BenchSystem {
  readonly name: "Weft" | "BullMQ";
  /** What each workload submits on this system, for the report. */
  readonly describe: Readonly<Record<WorkloadId, (sizes: Sizes) => string>>;
  /** Sets up producer and workers (not timed). */
  start(opts: InstanceOptions): Promise<Instance>;
}

/** Number of tasks (nodes / jobs) a workload runs, the same on both systems. */
export const taskCount = (workload: WorkloadId, s: Sizes): number => {
  switch (workload) {
    case "chord":
      return s.chord + 1;
    case "chains":
      return s.chains * s.chainLength;
    case "independent":
      return s.independent;
    case "longChain":
      return s.longChain;
    case "memory":
      return s.memory;
  }
};

/** Evenly spaced indexes of at most `max` elements out of `n`. */
export const sample = (n: number, max: number): number[] => {
  const step = Math.max(1, Math.floor(n / max));
  const out: number[] = [];
  for (let i = 0; i < n && out.length < max; i += step) out.push(i);
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
};

/**
 * Counts finished tasks as workers report them and resolves when the
 * expected number is reached; a failed task or the timeout rejects.
 */
export class Tracker {
  private count = 0;
  private target = Number.POSITIVE_INFINITY;
  private settle: ((error?: Error) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Time the last expected task finished (`performance.now()`). */
  finishedAt = 0;

  /** Tasks finished so far. */
  get finished(): number {
    return this.count;
  }

  /** Starts waiting for `total` finished tasks; call before submitting. */
  until(total: number, timeoutMs: number): Promise<void> {
    this.count = 0;
    this.target = total;
    this.finishedAt = 0;
    return new Promise<void>((resolve, reject) => {
      this.settle = (error) => {
        clearTimeout(this.timer);
        this.settle = undefined;
        if (error) reject(error);
        else resolve();
      };
      this.timer = setTimeout(
        () =>
          this.settle?.(
            new Error(
              `timed out after ${timeoutMs / 1000} s with ${this.count}/${this.target} tasks finished`,
            ),
          ),
        timeoutMs,
      );
    });
  }

  /** One task finished. */
  hit(): void {
    this.count += 1;
    if (this.count === this.target) {
      this.finishedAt = performance.now();
      this.settle?.();
    }
  }

  /** A task failed or something else went wrong: the workload is aborted. */
  fail(error: Error): void {
    this.settle?.(error);
  }
}
