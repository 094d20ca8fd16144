/**
 * Runs one workload on one system from an empty database and measures it:
 * wall time from the first submit to the last task finished, the CPU time
 * of the Node processes (the bench's, plus its worker processes' with
 * `BENCH_PROCESSES`) and of Redis, the Redis memory kept, the commands Redis
 * executed (`INFO commandstats`), the commands over 1 ms (slow log), and,
 * where the system offers them, client-side command counts; the latency
 * workload also gives each task's submit → start time.
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { type Admin, type CommandStat, commandDelta } from "./admin.ts";
import type { CountedRedis } from "./callgrind.ts";
import type { Config, Sizes, WorkloadId } from "./config.ts";
import { type BenchSystem, Tracker, taskCount } from "./system.ts";

/** The measurement of one workload on one system. */
export interface Measurement {
  readonly system: BenchSystem["name"];
  readonly workload: WorkloadId;
  readonly tasks: number;
  /** First submit to last task finished, ms. */
  readonly wallMs: number;
  /** First submit to submission done, ms. */
  readonly submitMs: number;
  /**
   * First submit to the first task finished, ms: a chord's submission and
   * first claim, which its members wait for (absent in runs saved before
   * 2026-12-06).
   */
  readonly firstDoneMs?: number;
  /**
   * The next-to-last task finished to the last, ms: a chord's body, which
   * waits for its members' results to be read (absent as above).
   */
  readonly lastAloneMs?: number;
  /**
   * CPU of this Node process (producer, and workers when in-process) plus
   * that of the worker processes during the workload, ms.
   */
  readonly nodeCpuMs: number;
  /** CPU of redis-server, ms. */
  readonly redisCpuMs: number;
  /** Instructions redis-server executed (`BENCH_INSTRUCTIONS=1`, callgrind.ts). */
  readonly redisInstructions?: number;
  /** `used_memory` after minus before, bytes. */
  readonly memoryBytes: number;
  /** Server-side command counts during the workload. */
  readonly commands: Readonly<Record<string, CommandStat>>;
  /** Client-side command counts (Weft only), scripts named. */
  readonly clientCommands: Readonly<Record<string, number>> | undefined;
  /** Commands over 1 ms, and the slowest. */
  readonly slow: {
    /** False when the slow log was not read (shared server) or overflowed. */
    readonly complete?: boolean;
    readonly count: number;
    readonly over10ms: number;
    readonly maxUs: number;
    readonly maxCommand: string;
  };
  /** Slow-log entries of scripts, by script name: count and total µs. */
  readonly serverTimes: Readonly<Record<string, { readonly calls: number; readonly us: number }>>;
  /** Latency workload: ms from each submit call to its handler's start, in task order. */
  readonly latencySamples?: ReadonlyArray<number>;
  /** 1-minute load average of the machine right after the workload. */
  readonly load: number;
  /**
   * p50 of 200 `PING` round trips on the admin connection right after the
   * workload (after its memory was read), µs: on a 2-vCPU VM it tells
   * whether Node and Redis shared a vCPU (about 15 µs) or not (about 65–85
   * µs), which moves a chain step's time (docs/benchmarks.md); absent in
   * runs saved before 2026-12-07.
   */
  readonly roundTripUs?: number;
  /** Why the workload did not finish, if it did not. */
  readonly error: string | undefined;
  /** A wrong result found after the workload, if any. */
  readonly wrong: string | undefined;
}

const delta = (
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
};

/** `local` plus `remote`, by name; `undefined` when the system counts nothing. */
const addCounts = (
  local: ReadonlyMap<string, number> | undefined,
  remote: ReadonlyMap<string, number> | undefined,
): Map<string, number> | undefined => {
  if (local === undefined) return undefined;
  const out = new Map(local);
  for (const [k, v] of remote ?? []) out.set(k, (out.get(k) ?? 0) + v);
  return out;
};

/** Submit → start of every latency task that started, ms, in task order. */
const latencyOf = (tracker: Tracker): number[] =>
  [...tracker.submittedAt]
    .sort((a, b) => a[0] - b[0])
    .flatMap(([i, at]) => {
      const started = tracker.startedAt.get(i);
      return started === undefined ? [] : [started - at];
    });

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Measures `workload` on `system` at `sizes`; with `counter` (a redis-server
 * under callgrind), also the instructions Redis executed meanwhile.
 */
export const measure = async (
  system: BenchSystem,
  workload: WorkloadId,
  sizes: Sizes,
  cfg: Config,
  admin: Admin,
  url: string,
  counter?: Pick<CountedRedis, "zero" | "count">,
): Promise<Measurement> => {
  const prefix = admin.owned
    ? undefined
    : `bench-${randomUUID().slice(0, 8)}-${system.name.toLowerCase()}`;
  await admin.clean(prefix);
  const tracker = new Tracker();
  const instance = await system.start({
    url,
    prefix,
    workers: cfg.workers,
    concurrency: cfg.concurrency,
    processes: cfg.processes,
    sizes,
    tracker,
  });
  const tasks = taskCount(workload, sizes);
  try {
    await admin.resetSlowlog();
    const remoteBefore = await instance.remote?.();
    const clientBefore = addCounts(instance.commandCounts(), remoteBefore?.counts) ?? new Map();
    const before = await admin.read();
    counter?.zero();
    const cpuBefore = process.cpuUsage();
    const done = tracker.until(tasks, cfg.timeoutMs);
    done.catch(() => undefined);
    const t0 = performance.now();
    let submitMs = 0;
    let error: string | undefined;
    try {
      await Promise.all([
        instance.submit(workload).then(() => {
          submitMs = performance.now() - t0;
        }),
        done,
      ]);
    } catch (e) {
      error = message(e);
      tracker.fail(new Error(error));
    }
    // (awaited: until every result is in hand, which its submit waits for)
    const end =
      workload === "awaited" ? Math.max(tracker.finishedAt, t0 + submitMs) : tracker.finishedAt;
    const wallMs = (error ? performance.now() : end) - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const redisInstructions = counter?.count(`${system.name.toLowerCase()}-${workload}`);
    const remoteAfter = await instance.remote?.().catch(() => undefined);
    const remoteCpuMs =
      remoteBefore && remoteAfter ? remoteAfter.cpuMs - remoteBefore.cpuMs : Number.NaN;
    const clientAfter = addCounts(instance.commandCounts(), remoteAfter?.counts);
    // the slow log keeps each entry's arguments: read it and free it before reading memory
    const { entries: slow, complete } = await admin.slowlog();
    await admin.resetSlowlog();
    const after = await admin.read();
    // (after the memory reading: the pings would change it)
    const trips = (await admin.roundTrips(200)).sort((a, b) => a - b);
    const roundTripUs = trips[trips.length >> 1] ?? Number.NaN;
    const load = loadavg()[0] ?? 0;
    const slowest = slow.reduce((m, e) => (e.us > m.us ? e : m), {
      us: 0,
      command: "-",
      sha: undefined as string | undefined,
    });
    // scripts only: the slow log also lists the commands a script runs, inside its time
    const serverTimes: Record<string, { calls: number; us: number }> = {};
    for (const e of slow) {
      if (e.command !== "evalsha" && e.command !== "eval" && e.command !== "fcall") continue;
      const label =
        e.sha === undefined
          ? "eval (loads a script)"
          : (instance.scriptName(e.sha) ?? `evalsha ${e.sha.slice(0, 8)}`);
      const t = serverTimes[label] ?? { calls: 0, us: 0 };
      t.calls += 1;
      t.us += e.us;
      serverTimes[label] = t;
    }
    let wrong: string | undefined;
    if (!error) {
      try {
        wrong = await instance.verify(workload);
      } catch (e) {
        wrong = `verification failed: ${message(e)}`;
      }
    }
    return {
      system: system.name,
      workload,
      tasks,
      wallMs,
      submitMs,
      ...(error || tracker.firstAt === 0 ? {} : { firstDoneMs: tracker.firstAt - t0 }),
      ...(error || tracker.lastButOneAt === 0 ? {} : { lastAloneMs: end - tracker.lastButOneAt }),
      nodeCpuMs: (cpu.user + cpu.system) / 1_000 + (remoteBefore ? remoteCpuMs : 0),
      redisCpuMs: after.cpuMs - before.cpuMs,
      ...(redisInstructions === undefined ? {} : { redisInstructions }),
      memoryBytes: after.usedMemory - before.usedMemory,
      commands: Object.fromEntries(commandDelta(before, after)),
      clientCommands: clientAfter ? delta(clientBefore, clientAfter) : undefined,
      slow: {
        complete,
        count: slow.length,
        over10ms: slow.filter((e) => e.us > 10_000).length,
        maxUs: slowest.us,
        maxCommand:
          slowest.sha === undefined
            ? slowest.command
            : (instance.scriptName(slowest.sha) ?? `evalsha ${system.name}`),
      },
      serverTimes,
      ...(workload === "latency" ? { latencySamples: latencyOf(tracker) } : {}),
      load,
      roundTripUs,
      error,
      wrong,
    };
  } finally {
    await instance.close();
    if (!admin.owned) await admin.clean(prefix);
  }
};
