/**
 * The BullMQ side of the benchmark: the same three no-op tasks as job names
 * on one queue, in-process `Worker`s, a `Queue` and a `FlowProducer`.
 * Completions are counted with the workers' `completed` event. Every job
 * keeps its record (`removeOnComplete: false`, BullMQ's default), as Weft
 * keeps finished runs.
 *
 * A chain step reads its child's value with `job.getChildrenValues()`, and
 * the chord's parent reads all 10,000, as a BullMQ flow that passes values
 * along must.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { type FlowJob, FlowProducer, type Job, type JobsOptions, Queue, Worker } from "bullmq";
import type { Sizes, WorkloadId } from "./config.ts";
import { type BenchSystem, type Instance, type InstanceOptions, sample } from "./system.ts";

const QUEUE = "bench";
const JOB_OPTS: JobsOptions = { removeOnComplete: false, removeOnFail: false };

interface Data {
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

const processor = async (job: Job<Data, number>): Promise<number> => {
  switch (job.name) {
    case "noop":
      return job.data.i ?? 0;
    case "inc": {
      if (typeof job.data.x === "number") return job.data.x + 1;
      const values = Object.values(await job.getChildrenValues<number>());
      if (values.length !== 1) throw new Error(`inc expected 1 child value, got ${values.length}`);
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
const connectionOf = (url: string) => {
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

const start = async (opts: InstanceOptions): Promise<Instance> => {
  const connection = connectionOf(opts.url);
  const base = { connection, ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }) };
  const queue = new Queue<Data, number>(QUEUE, base);
  const flows = new FlowProducer(base);
  const tracker = opts.tracker;
  const workers = Array.from(
    { length: opts.workers },
    () => new Worker<Data, number>(QUEUE, processor, { ...base, concurrency: opts.concurrency }),
  );
  for (const w of workers) {
    w.on("completed", () => tracker.hit());
    w.on("failed", (job, err) =>
      tracker.fail(new Error(`BullMQ job ${job?.id} (${job?.name}) failed: ${err.message}`)),
    );
    w.on("error", (err) => tracker.fail(new Error(`BullMQ worker error: ${err.message}`)));
  }
  await Promise.all([queue.waitUntilReady(), ...workers.map((w) => w.waitUntilReady())]);
  const s: Sizes = opts.sizes;
  let ids: string[] = [];
  let expected: number[] = [];

  return {
    submit: async (w: WorkloadId) => {
      ids = [];
      switch (w) {
        case "chord": {
          const node = await flows.add({
            name: "collect",
            queueName: QUEUE,
            data: {},
            opts: JOB_OPTS,
            children: Array.from({ length: s.chord }, (_, i) => ({
              name: "noop",
              queueName: QUEUE,
              data: { i },
              opts: JOB_OPTS,
            })),
          });
          ids.push(node.job.id!);
          expected = [(s.chord * (s.chord - 1)) / 2];
          return;
        }
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
    scriptName: (sha) => scriptNames.get(sha),
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([queue.close(), flows.close()]);
    },
  };
};

/** BullMQ, as benchmarked. */
export const bullmq: BenchSystem = {
  name: "BullMQ",
  describe: {
    chord: (s) =>
      `FlowProducer.add: parent "collect" with ${s.chord} "noop" children; the parent reads getChildrenValues()`,
    chains: (s) =>
      `${s.chains} flows, each ${s.chainLength} jobs nested parent→child (leaf "noop", ${s.chainLength - 1} "inc" parents reading their child's value); FlowProducer.addBulk of ${s.chainBatch} flows at a time`,
    independent: (s) =>
      `${s.independent} "noop" jobs, Queue.addBulk of ${s.independentBatch} at a time`,
    longChain: (s) =>
      `one flow ${s.longChain} jobs deep (leaf inc {x: 0}, ${s.longChain - 1} "inc" parents)`,
    memory: (s) => `${s.memory} "noop" jobs, removeOnComplete: false`,
  },
  start,
};
