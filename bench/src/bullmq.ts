/**
 * The BullMQ side of the benchmark: the same no-op tasks as job names on one
 * queue, `Worker`s (in-process, or in `bullmqWorker.ts` processes with
 * `BENCH_PROCESSES`), a `Queue` and a `FlowProducer`.
 * Completions are counted with the workers' `completed` event. Every job
 * keeps its record (`removeOnComplete: false`, BullMQ's default), as Weft
 * keeps finished runs.
 *
 * A chain step reads its child's value with `job.getChildrenValues()`, and
 * the chord's parent reads all of its children's, as a BullMQ flow that passes values
 * along must.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import {
  type FlowJob,
  FlowProducer,
  type Job,
  type JobsOptions,
  Queue,
  QueueEvents,
  Worker,
} from "bullmq";
import type { Sizes, WorkloadId } from "./config.ts";
import {
  type BenchSystem,
  epochMs,
  type Instance,
  type InstanceOptions,
  sample,
  type TaskReporter,
} from "./system.ts";
import { WorkerProcesses } from "./workerProcesses.ts";

/** The one queue every job goes to. */
export const QUEUE = "bench";
const JOB_OPTS: JobsOptions = { removeOnComplete: false, removeOnFail: false };

export interface Data {
  readonly i?: number;
  readonly x?: number;
}

/**
 * BullMQ's scripts by SHA1, from the sources it ships (an internal path:
 * empty when it moves, and only the slow-log labels suffer).
 */
const scriptNames = ((): ReadonlyMap<string, string> => {
  const out = new Map<string, string>();
  try {
    const scripts = createRequire(import.meta.url)("bullmq/dist/cjs/scripts/index.js") as Record<
      string,
      { name?: string; content?: string }
    >;
    for (const s of Object.values(scripts)) {
      if (s.name && s.content) {
        out.set(createHash("sha1").update(s.content).digest("hex"), s.name);
      }
    }
  } catch {
    // labels only
  }
  return out;
})();

/** The processor of every job name; a `ping` job reports its start to `reporter`. */
export const processorFor =
  (reporter: TaskReporter) =>
  async (job: Job<Data, number>): Promise<number> => {
    switch (job.name) {
      case "ping":
        reporter.started(job.data.i ?? 0, epochMs());
        return job.data.i ?? 0;
      case "noop":
        return job.data.i ?? 0;
      case "inc": {
        if (typeof job.data.x === "number") return job.data.x + 1;
        const values = Object.values(await job.getChildrenValues<number>());
        if (values.length !== 1)
          throw new Error(`inc expected 1 child value, got ${values.length}`);
        return values[0]! + 1;
      }
      case "collect": {
        // children values come keyed by job key, not in declaration order: sort
        const values = Object.values(await job.getChildrenValues<number>()).sort((a, b) => a - b);
        return values.every((v, i) => v === i) ? values.reduce((a, b) => a + b, 0) : -1;
      }
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  };

/** Connection options BullMQ builds its own ioredis clients from. */
export const connectionOf = (url: string) => {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    maxRetriesPerRequest: null,
  };
};

/** A flow `depth` jobs deep: `inc` parents above `leaf`, the leaf running first. */
const nested = (depth: number, leaf: FlowJob): FlowJob => {
  let flow = leaf;
  for (let d = 1; d < depth; d++) {
    flow = { name: "inc", queueName: QUEUE, data: {}, opts: JOB_OPTS, children: [flow] };
  }
  return flow;
};

/** `n` workers of `concurrency` on the bench queue, reporting to `reporter`. */
export const startWorkers = (
  base: { connection: ReturnType<typeof connectionOf>; prefix?: string },
  n: number,
  concurrency: number,
  reporter: TaskReporter,
): Array<Worker<Data, number>> => {
  const workers = Array.from(
    { length: n },
    () => new Worker<Data, number>(QUEUE, processorFor(reporter), { ...base, concurrency }),
  );
  for (const w of workers) {
    w.on("completed", () => reporter.hit());
    w.on("failed", (job, err) =>
      reporter.fail(new Error(`BullMQ job ${job?.id} (${job?.name}) failed: ${err.message}`)),
    );
    w.on("error", (err) => reporter.fail(new Error(`BullMQ worker error: ${err.message}`)));
  }
  return workers;
};

const start = async (opts: InstanceOptions): Promise<Instance> => {
  const connection = connectionOf(opts.url);
  const base = { connection, ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }) };
  const queue = new Queue<Data, number>(QUEUE, base);
  const flows = new FlowProducer(base);
  const tracker = opts.tracker;
  // BENCH_PROCESSES: the workers run in bullmqWorker.ts processes instead
  const procs =
    opts.processes > 0 ? await WorkerProcesses.start("./bullmqWorker.ts", opts) : undefined;
  const workers = procs ? [] : startWorkers(base, opts.workers, opts.concurrency, tracker);
  await Promise.all([queue.waitUntilReady(), ...workers.map((w) => w.waitUntilReady())]);
  const s: Sizes = opts.sizes;
  let ids: string[] = [];
  let expected: number[] = [];
  // the awaited workload's QueueEvents (made for it only: an idle XREAD on the events
  // stream would be woken by every event of the other workloads)
  let events: QueueEvents | undefined;

  return {
    submit: async (w: WorkloadId) => {
      ids = [];
      switch (w) {
        case "chord":
        case "hugeChord": {
          const n = w === "chord" ? s.chord : s.hugeChord;
          const node = await flows.add({
            name: "collect",
            queueName: QUEUE,
            data: {},
            opts: JOB_OPTS,
            children: Array.from({ length: n }, (_, i) => ({
              name: "noop",
              queueName: QUEUE,
              data: { i },
              opts: JOB_OPTS,
            })),
          });
          ids.push(node.job.id!);
          expected = [(n * (n - 1)) / 2];
          return;
        }
        case "latency":
          for (let i = 0; i < s.latency; i++) {
            tracker.submittedAt.set(i, epochMs());
            ids.push((await queue.add("ping", { i }, JOB_OPTS)).id!);
            await tracker.reached(i + 1);
          }
          expected = ids.map((_, i) => i);
          return;
        case "chains": {
          for (let from = 0; from < s.chains; from += s.chainBatch) {
            const batch = Array.from({ length: Math.min(s.chainBatch, s.chains - from) }, (_, k) =>
              nested(s.chainLength, {
                name: "noop",
                queueName: QUEUE,
                data: { i: from + k },
                opts: JOB_OPTS,
              }),
            );
            for (const node of await flows.addBulk(batch)) ids.push(node.job.id!);
          }
          expected = ids.map((_, i) => i + s.chainLength - 1);
          return;
        }
        case "independent":
        case "memory": {
          const n = w === "memory" ? s.memory : s.independent;
          for (let from = 0; from < n; from += s.independentBatch) {
            const batch = Array.from(
              { length: Math.min(s.independentBatch, n - from) },
              (_, k) => ({
                name: "noop",
                data: { i: from + k },
                opts: JOB_OPTS,
              }),
            );
            for (const job of await queue.addBulk(batch)) ids.push(job.id!);
          }
          expected = ids.map((_, i) => i);
          return;
        }
        case "longChain": {
          const node = await flows.add(
            nested(s.longChain, { name: "inc", queueName: QUEUE, data: { x: 0 }, opts: JOB_OPTS }),
          );
          ids.push(node.job.id!);
          expected = [s.longChain];
          return;
        }
        case "awaited": {
          events = new QueueEvents(QUEUE, base);
          await events.waitUntilReady();
          const jobs = await queue.addBulk(
            Array.from({ length: s.awaited }, (_, i) => ({
              name: "noop",
              data: { i },
              opts: JOB_OPTS,
            })),
          );
          ids = jobs.map((j) => j.id!);
          expected = ids.map((_, i) => i);
          const ready = events;
          const got = await Promise.all(jobs.map((j) => j.waitUntilFinished(ready, 60_000)));
          const wrong = got.findIndex((v, i) => v !== i);
          if (wrong >= 0) throw new Error(`job ${ids[wrong]}: returnvalue ${got[wrong]}`);
          return;
        }
      }
    },
    verify: async () => {
      if (ids.length !== expected.length) return `submitted ${ids.length} root jobs`;
      for (const i of sample(ids.length, 300)) {
        const job = await queue.getJob(ids[i]!);
        if (job?.returnvalue !== expected[i]) {
          return `job ${ids[i]}: returnvalue ${job?.returnvalue}, expected ${expected[i]}`;
        }
      }
      return undefined;
    },
    commandCounts: () => undefined,
    ...(procs ? { remote: () => procs.usage() } : {}),
    scriptName: (sha) => scriptNames.get(sha),
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await procs?.close();
      await Promise.all([queue.close(), flows.close(), events?.close()]);
    },
  };
};

/** BullMQ, as benchmarked. */
export const bullmq: BenchSystem = {
  name: "BullMQ",
  describe: {
    chord: (s) =>
      `FlowProducer.add: parent "collect" with ${s.chord} "noop" children; the parent reads getChildrenValues()`,
    hugeChord: (s) =>
      `FlowProducer.add: parent "collect" with ${s.hugeChord} "noop" children; the parent reads getChildrenValues()`,
    chains: (s) =>
      `${s.chains} flows, each ${s.chainLength} jobs nested parent→child (leaf "noop", ${s.chainLength - 1} "inc" parents reading their child's value); FlowProducer.addBulk of ${s.chainBatch} flows at a time`,
    independent: (s) =>
      `${s.independent} "noop" jobs, Queue.addBulk of ${s.independentBatch} at a time`,
    longChain: (s) =>
      `one flow ${s.longChain} jobs deep (leaf inc {x: 0}, ${s.longChain - 1} "inc" parents)`,
    memory: (s) => `${s.memory} "noop" jobs, removeOnComplete: false`,
    latency: (s) =>
      `${s.latency} "ping" jobs, Queue.add one at a time (each added when the previous one finished); add call → processor start`,
    awaited: (s) =>
      `${s.awaited} "noop" jobs in one Queue.addBulk, then every Job.waitUntilFinished (one QueueEvents) awaited at once; until the last result is in hand`,
  },
  start,
};
