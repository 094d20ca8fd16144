/**
 * Benchmark configuration from the environment, and the workload sizes it
 * implies.
 *
 * Knobs:
 * - `BENCH_SCALE`: multiplies the workload sizes (default 1; 0.1 for a quick run).
 * - `BENCH_WORKERS`, `BENCH_CONCURRENCY`: workers per system (default 1) and
 *   concurrency of each (default 16), the same on both sides.
 * - `BENCH_PROCESSES`: 0 (default) runs the workers in the bench process,
 *   with the producer; N ≥ 1 runs each system's workers in N child processes
 *   (`BENCH_WORKERS` × `BENCH_CONCURRENCY` each), and Node CPU adds theirs.
 * - `BENCH_REPEAT`: whole-suite repetitions; the tables show medians (default 1).
 * - `BENCH_ONLY`: comma list of workload ids; `BENCH_SYSTEMS`: comma list of
 *   `weft`, `bullmq` (default both).
 * - `BENCH_TIMEOUT_S`: limit per workload and system (default 300: BullMQ's
 *   100,000-child flow takes minutes on a busy 2-core machine).
 * - `BENCH_WARMUP`: the warm-up pass before the measured runs, for each system:
 *   `full` (default) runs every workload at the measured sizes, but
 *   hugeChord at its small size ({@link warmupSizes}), until it has run
 *   2,000 tasks (main.ts, `warmupRounds`: the 100-step chain 20 times);
 *   `small` runs them once at {@link WARMUP_SIZES} (the pass before
 *   2026-12-04); `0` skips it.
 * - `BENCH_SCRIPT_TIMES=1`: the slow log records every command, and the report
 *   shows Redis time per script; this slows Redis, so the other numbers of
 *   such a run are not comparable.
 * - `BENCH_INSTRUCTIONS=1`: the private redis-server runs under Valgrind's
 *   callgrind, and the report shows the instructions it executed per task
 *   (callgrind.ts): counts that hold still on a noisy machine, for comparing
 *   two trees. Redis runs some 30–50× slower, so times, rates and CPU of
 *   such a run mean nothing; use it with `BENCH_SCALE=0.1` and `BENCH_ONLY`.
 * - `BENCH_OUT`, `BENCH_MD`: write the raw measurements (JSON) or the tables
 *   (Markdown) to that file.
 * - `BENCH_FROM`: comma list of `BENCH_OUT` files: prints the report over all
 *   of them (medians across runs) without running anything.
 * - `REDIS_URL`: use that server instead of a private one; it is never
 *   flushed (each workload gets its own key prefix, deleted afterwards).
 */

/** Workload identifiers, in the order they run. */
export const WORKLOAD_IDS = [
  "chord",
  "hugeChord",
  "chains",
  "independent",
  "longChain",
  "memory",
  "latency",
  "awaited",
] as const;

/** One of {@link WORKLOAD_IDS}. */
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/** Sizes of every workload at the configured scale. */
export interface Sizes {
  /** Header width of the chord (the body is one more task). */
  readonly chord: number;
  /** Header width of the huge chord (the body is one more task). */
  readonly hugeChord: number;
  /** Number of chains in the chains workload. */
  readonly chains: number;
  /** Length of each chain in the chains workload. */
  readonly chainLength: number;
  /** Independent single-task runs / jobs. */
  readonly independent: number;
  /** Steps of the long chain. */
  readonly longChain: number;
  /** Independent tasks whose kept memory is measured. */
  readonly memory: number;
  /** Single-node runs submitted one at a time for the submit → start latency. */
  readonly latency: number;
  /** Single-node runs submitted together whose results are all awaited at once. */
  readonly awaited: number;
  /** Runs (Weft) / jobs (BullMQ) submitted per batch in the independent workloads. */
  readonly independentBatch: number;
  /** Chains submitted per batch in the chains workload. */
  readonly chainBatch: number;
}

/** The whole configuration. */
export interface Config {
  readonly scale: number;
  readonly workers: number;
  readonly concurrency: number;
  /** Worker processes per system; 0: workers in the bench process. */
  readonly processes: number;
  readonly repeat: number;
  readonly only: ReadonlySet<WorkloadId>;
  /** Lower-case names of the systems to run. */
  readonly systems: ReadonlySet<string>;
  readonly timeoutMs: number;
  /** The warm-up pass: `full`, `small` or none (`BENCH_WARMUP`). */
  readonly warmup: "full" | "small" | "none";
  /** Log every command in the slow log, for server time per script. */
  readonly scriptTimes: boolean;
  /** `BENCH_INSTRUCTIONS=1`: count redis-server's instructions (callgrind). */
  readonly instructions: boolean;
  /** `BENCH_REDIS_SERVER`: the redis-server binary run under callgrind (default: the one on PATH). */
  readonly redisServer: string;
  /** `BENCH_CALLGRIND_DIR`: where to keep each workload's callgrind dump, for `callgrind_annotate`. */
  readonly callgrindDir: string | undefined;
  readonly out: string | undefined;
  readonly markdown: string | undefined;
  readonly redisUrl: string | undefined;
  readonly sizes: Sizes;
}

const num = (name: string, fallback: number, check: (n: number) => boolean): number => {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw new Error(`${name}=${raw} is not valid`);
  return n;
};

const positiveInt = (n: number) => Number.isInteger(n) && n >= 1;

const warmupOf = (raw: string): Config["warmup"] => {
  if (raw === "0") return "none";
  if (raw === "full" || raw === "small") return raw;
  throw new Error(`BENCH_WARMUP=${raw} is not valid (full, small or 0)`);
};

/** Reads the configuration from `process.env`. */
export const readConfig = (): Config => {
  const scale = num("BENCH_SCALE", 1, (n) => n > 0 && n <= 10);
  const scaled = (n: number, min: number) => Math.max(min, Math.round(n * scale));
  const onlyRaw = process.env.BENCH_ONLY?.trim();
  const only = new Set<WorkloadId>(
    onlyRaw
      ? onlyRaw.split(",").map((s) => {
          const id = s.trim() as WorkloadId;
          if (!WORKLOAD_IDS.includes(id)) {
            throw new Error(`BENCH_ONLY: unknown workload "${s}" (${WORKLOAD_IDS.join(", ")})`);
          }
          return id;
        })
      : WORKLOAD_IDS,
  );
  return {
    scale,
    workers: num("BENCH_WORKERS", 1, positiveInt),
    concurrency: num("BENCH_CONCURRENCY", 16, positiveInt),
    processes: num("BENCH_PROCESSES", 0, (n) => Number.isInteger(n) && n >= 0),
    repeat: num("BENCH_REPEAT", 1, positiveInt),
    only,
    systems: new Set(
      (process.env.BENCH_SYSTEMS?.trim() || "weft,bullmq").split(",").map((s) => {
        const name = s.trim().toLowerCase();
        if (name !== "weft" && name !== "bullmq") throw new Error(`BENCH_SYSTEMS: unknown "${s}"`);
        return name;
      }),
    ),
    timeoutMs: num("BENCH_TIMEOUT_S", 300, (n) => n > 0) * 1_000,
    warmup: warmupOf(process.env.BENCH_WARMUP?.trim() || "full"),
    scriptTimes: process.env.BENCH_SCRIPT_TIMES === "1",
    instructions: process.env.BENCH_INSTRUCTIONS === "1",
    redisServer: process.env.BENCH_REDIS_SERVER || "redis-server",
    callgrindDir: process.env.BENCH_CALLGRIND_DIR || undefined,
    out: process.env.BENCH_OUT || undefined,
    markdown: process.env.BENCH_MD || undefined,
    redisUrl: process.env.REDIS_URL || undefined,
    sizes: {
      chord: scaled(10_000, 10),
      hugeChord: scaled(100_000, 100),
      chains: scaled(1_000, 10),
      chainLength: 10,
      independent: scaled(20_000, 100),
      longChain: 100,
      memory: scaled(10_000, 100),
      latency: scaled(1_000, 50),
      awaited: scaled(1_000, 50),
      independentBatch: 500,
      chainBatch: 100,
    },
  };
};

/** Tiny sizes for the `small` warm-up pass (script cache, connections, a first JIT pass). */
export const WARMUP_SIZES: Sizes = {
  chord: 200,
  hugeChord: 200,
  chains: 20,
  chainLength: 10,
  independent: 500,
  longChain: 20,
  memory: 100,
  latency: 20,
  awaited: 50,
  independentBatch: 100,
  chainBatch: 10,
};

/**
 * The sizes of the `full` warm-up pass: the measured sizes, but the huge chord's small
 * one (BullMQ's 100,000-child flow takes minutes). V8 optimizes a path only after many
 * thousands of calls: after the `small` pass, a 10,000-wide chord on Weft cost 118 µs of
 * Node CPU per task in its first run and 37-41 µs from its fourth on (BullMQ's side
 * gains less: 5,200 → 6,300-7,000 tasks/s), so a first measured run of each workload
 * timed the JIT as much as the system (docs/benchmarks.md, "Since 16:30 UTC on 2026-12-04").
 */
export const warmupSizes = (sizes: Sizes): Sizes => ({
  ...sizes,
  hugeChord: WARMUP_SIZES.hugeChord,
});
