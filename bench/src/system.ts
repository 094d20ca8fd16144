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
  /** Worker processes; 0: the workers run in this process. */
  readonly processes: number;
  readonly sizes: Sizes;
  readonly tracker: Tracker;
}

/** What the worker processes of an instance used so far (see workerProcesses.ts). */
export interface RemoteUsage {
  /** User + system CPU of all worker processes since they started, ms. */
  readonly cpuMs: number;
  /** Client-side command counts of their connections, summed (empty when not counted). */
  readonly counts: ReadonlyMap<string, number>;
}

/** One system, set up for one workload. */
export interface Instance {
  /** Submits the whole workload (workers already run); resolves when everything is submitted. */
  submit(workload: WorkloadId): Promise<void>;
  /** Checks the results after the workload; returns a problem, or `undefined` when they are right. */
  verify(workload: WorkloadId): Promise<string | undefined>;
  /** Client-side command counts by name (scripts by their registered name), when the system has them. */
  commandCounts(): ReadonlyMap<string, number> | undefined;
  /** Worker processes' usage, when the workers run in child processes. */
  remote?(): Promise<RemoteUsage>;
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
    case "hugeChord":
      return s.hugeChord + 1;
    case "chains":
      return s.chains * s.chainLength;
    case "independent":
      return s.independent;
    case "longChain":
      return s.longChain;
    case "memory":
      return s.memory;
    case "latency":
      return s.latency;
    case "awaited":
      return s.awaited;
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

/** Wall-clock time in ms with sub-ms resolution, comparable between processes of one machine. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** What a worker reports, in this process or from a worker process. */
export type TaskReporter = Pick<Tracker, "hit" | "fail" | "started">;

/**
 * Counts finished tasks as workers report them and resolves when the
 * expected number is reached; a failed task or the timeout rejects.
 */
export class Tracker {
  private count = 0;
  private target = Number.POSITIVE_INFINITY;
  private settle: ((error?: Error) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  /** Latency workload: task `i` → when its submit call began / its handler started ({@link epochMs}). */
  readonly submittedAt = new Map<number, number>();
  readonly startedAt = new Map<number, number>();
  /** Time the last expected task finished (`performance.now()`). */
  finishedAt = 0;
  /** Time the first task finished, and the one before the last expected (`performance.now()`; 0: not yet). */
  firstAt = 0;
  lastButOneAt = 0;

  /** Tasks finished so far. */
  get finished(): number {
    return this.count;
  }

  /** Starts waiting for `total` finished tasks; call before submitting. */
  until(total: number, timeoutMs: number): Promise<void> {
    this.count = 0;
    this.target = total;
    this.finishedAt = 0;
    this.firstAt = 0;
    this.lastButOneAt = 0;
    this.submittedAt.clear();
    this.startedAt.clear();
    return new Promise<void>((resolve, reject) => {
      this.settle = (error) => {
        clearTimeout(this.timer);
        this.settle = undefined;
        if (error) {
          for (const w of this.waiters.splice(0)) w.reject(error);
          reject(error);
        } else resolve();
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

  /** Resolves once `n` tasks finished; rejects when the workload fails or times out. */
  reached(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    if (this.settle === undefined) return Promise.reject(new Error("the workload is over"));
    return new Promise((resolve, reject) => this.waiters.push({ n, resolve, reject }));
  }

  /** `n` tasks finished (a worker process reports them in batches). */
  hit(n = 1): void {
    const before = this.count;
    this.count += n;
    // (a worker process reports its tasks in batches: the batch's time for each of them)
    if (before === 0) this.firstAt = performance.now();
    if (before < this.target - 1 && this.count >= this.target - 1)
      this.lastButOneAt = performance.now();
    if (this.waiters.length > 0) {
      const due = this.waiters.filter((w) => w.n <= this.count);
      this.waiters = this.waiters.filter((w) => w.n > this.count);
      for (const w of due) w.resolve();
    }
    if (before < this.target && this.count >= this.target) {
      this.finishedAt = performance.now();
      this.settle?.();
    }
  }

  /** The handler of latency task `i` started at `at` ({@link epochMs}). */
  started(i: number, at: number): void {
    this.startedAt.set(i, at);
  }

  /** A task failed or something else went wrong: the workload is aborted. */
  fail(error: Error): void {
    this.settle?.(error);
  }
}
