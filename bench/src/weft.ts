/**
 * The Weft side of the benchmark: no-op tasks, workers on their own
 * `RedisStore` connections (in-process, or in `weftWorker.ts` processes with
 * `BENCH_PROCESSES`), and a client on another. Completions
 * are counted by wrapping the workers' store: a `complete` call that
 * returns `ok` is a finished task (the counterpart of BullMQ's worker
 * `completed` event), so counting adds no Redis traffic.
 */
import {
  type Canvas,
  chain,
  chord,
  createClient,
  handle,
  type RunHandle,
  Schema,
  type Signature,
  type Store,
  startWorker,
  task,
  type Worker,
} from "@weft/core";
import { RedisStore } from "@weft/redis";
import type { Command, Redis } from "ioredis";
import { pino } from "pino";
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

/** Returns its `i`. */
export const noop = task({
  name: "bench.noop",
  input: Schema.Struct({ i: Schema.Int }),
  output: Schema.Int,
});

/** Returns its input plus one. */
export const inc = task({ name: "bench.inc", input: Schema.Int, output: Schema.Int });

/** Returns the sum of its inputs when they are `0, 1, 2, …` in order, else -1. */
export const collect = task({
  name: "bench.collect",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
});

/** Returns its input; its handler reports when it starts (the latency workload). */
export const ping = task({ name: "bench.ping", input: Schema.Int, output: Schema.Int });

const handlers = [
  handle(noop, ({ i }) => i),
  handle(inc, (x) => x + 1),
  handle(collect, (xs) => (xs.every((v, i) => v === i) ? xs.reduce((a, b) => a + b, 0) : -1)),
];

/** Every handler; `ping`'s reports its start to `reporter`. */
export const handlersFor = (reporter: TaskReporter) => [
  ...handlers,
  handle(ping, (i) => {
    reporter.started(i, epochMs());
    return i;
  }),
];

/** `chain(first, inc.s() × (length - 1))`. */
export const chainOf = (
  first: Signature<unknown, number>,
  length: number,
): Canvas<unknown, number> => {
  const rest = Array.from({ length: length - 1 }, () => inc.s());
  return chain(first, ...rest) as Canvas<unknown, number>;
};

/** A store whose successful `complete` and any `fail` are reported to `tracker`. */
export const tracked = (store: Store, tracker: TaskReporter): Store =>
  new Proxy(store, {
    get(target, prop) {
      if (prop === "complete") {
        return async (...args: Parameters<Store["complete"]>) => {
          const r = await target.complete(...args);
          if (r.ok) tracker.hit();
          return r;
        };
      }
      if (prop === "completeMany" && target.completeMany) {
        const many = target.completeMany.bind(target);
        return async (...args: Parameters<NonNullable<Store["completeMany"]>>) => {
          const rs = await many(...args);
          for (const r of rs) if (r.ok) tracker.hit();
          return rs;
        };
      }
      if (prop === "fail") {
        return async (...args: Parameters<Store["fail"]>) => {
          const [claim, error] = args;
          tracker.fail(
            new Error(
              `Weft node ${claim.runId}#${claim.nodeId} (${claim.spec.task}) failed: ${error.tag}: ${error.message}`,
            ),
          );
          return target.fail(...args);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });

/** `weft1_complete` for the library function `weft1_<hash>_complete`. */
const scriptOfFunction = (fn: string) => fn.replace(/^(weft\d+)_[0-9a-f]{12}_/, "$1_");

/** Counts the commands sent on `redis`, scripts by their registered name (`evalsha …`, `fcall …`). */
export const countCommands = (
  redis: Redis,
  counts: Map<string, number>,
  shas: Map<string, string>,
) => {
  const scripts = (redis as unknown as { scriptsSet: Record<string, { sha: string }> }).scriptsSet;
  for (const [name, s] of Object.entries(scripts)) shas.set(s.sha, `evalsha ${name}`);
  const send = redis.sendCommand.bind(redis) as (...a: unknown[]) => unknown;
  redis.sendCommand = ((command: Command, ...rest: unknown[]) => {
    const name =
      command.name === "evalsha"
        ? (shas.get(String(command.args[0])) ?? "evalsha ?")
        : command.name === "fcall"
          ? `fcall ${scriptOfFunction(String(command.args[0]))}`
          : command.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return send(command, ...rest);
  }) as Redis["sendCommand"];
};

const start = async (opts: InstanceOptions): Promise<Instance> => {
  const storeOpts = opts.prefix === undefined ? {} : { prefix: opts.prefix };
  const counts = new Map<string, number>();
  const shas = new Map<string, string>();
  const clientStore = await RedisStore.connect(opts.url, storeOpts);
  // BENCH_PROCESSES: the workers run in weftWorker.ts processes instead
  const procs =
    opts.processes > 0 ? await WorkerProcesses.start("./weftWorker.ts", opts) : undefined;
  const workerStores: RedisStore[] = [];
  for (let i = 0; i < (procs ? 0 : opts.workers); i++) {
    workerStores.push(await RedisStore.connect(opts.url, storeOpts));
  }
  // a single Redis here (the benchmark's own server, or REDIS_URL)
  for (const s of [clientStore, ...workerStores]) countCommands(s.redis as Redis, counts, shas);
  const client = createClient(clientStore);
  const logger = pino({ level: "silent" });
  const workers: Worker[] = workerStores.map((store) =>
    startWorker({
      store: tracked(store, opts.tracker),
      handlers: handlersFor(opts.tracker),
      concurrency: opts.concurrency,
      logger,
    }),
  );
  const s: Sizes = opts.sizes;
  let handles: Array<RunHandle<number>> = [];
  let expected: number[] = [];

  // as BullMQ's side uses Queue.addBulk and FlowProducer.addBulk: one client.submitMany per batch
  const submitMany = async (
    canvases: (i: number) => Canvas<unknown, number>,
    n: number,
    batch: number,
  ) => {
    for (let from = 0; from < n; from += batch) {
      const part = await client.submitMany(
        Array.from({ length: Math.min(batch, n - from) }, (_, k) => canvases(from + k)),
      );
      handles.push(...part);
    }
  };

  return {
    submit: async (w: WorkloadId) => {
      handles = [];
      switch (w) {
        case "chord":
        case "hugeChord": {
          const n = w === "chord" ? s.chord : s.hugeChord;
          const header = Array.from({ length: n }, (_, i) => noop.si({ i }));
          handles.push(await client.submit(chord(header, collect.s())));
          expected = [(n * (n - 1)) / 2];
          return;
        }
        case "latency":
          for (let i = 0; i < s.latency; i++) {
            opts.tracker.submittedAt.set(i, epochMs());
            handles.push(await client.submit(ping.si(i)));
            await opts.tracker.reached(i + 1);
          }
          expected = handles.map((_, i) => i);
          return;
        case "chains":
          await submitMany((i) => chainOf(noop.si({ i }), s.chainLength), s.chains, s.chainBatch);
          expected = handles.map((_, i) => i + s.chainLength - 1);
          return;
        case "independent":
        case "memory": {
          const n = w === "memory" ? s.memory : s.independent;
          await submitMany((i) => noop.si({ i }), n, s.independentBatch);
          expected = handles.map((_, i) => i);
          return;
        }
        case "longChain":
          handles.push(await client.submit(chainOf(inc.si(0), s.longChain)));
          expected = [s.longChain];
          return;
        case "awaited": {
          handles = [
            ...(await client.submitMany(
              Array.from({ length: s.awaited }, (_, i) => noop.si({ i })),
            )),
          ];
          expected = handles.map((_, i) => i);
          const got = await Promise.all(handles.map((h) => h.result({ timeout: 60_000 })));
          const wrong = got.findIndex((v, i) => v !== i);
          if (wrong >= 0) throw new Error(`run ${handles[wrong]!.runId}: result ${got[wrong]}`);
          return;
        }
      }
    },
    verify: async () => {
      if (handles.length !== expected.length) return `submitted ${handles.length} runs`;
      for (const i of sample(handles.length, 300)) {
        const got = await handles[i]!.result({ timeout: 10_000 });
        if (got !== expected[i])
          return `run ${handles[i]!.runId}: result ${got}, expected ${expected[i]}`;
      }
      return undefined;
    },
    commandCounts: () => counts,
    ...(procs ? { remote: () => procs.usage() } : {}),
    scriptName: (sha) =>
      shas.get(sha)?.replace(/^evalsha /, "") ??
      (/^weft\d+_[0-9a-f]{12}_/.test(sha) ? scriptOfFunction(sha) : undefined),
    close: async () => {
      await Promise.all(workers.map((wk) => wk.stop(2_000)));
      await procs?.close();
      await Promise.all([clientStore, ...workerStores].map((st) => st.close()));
    },
  };
};

/** Weft, as benchmarked. */
export const weft: BenchSystem = {
  name: "Weft",
  describe: {
    chord: (s) =>
      `one run: chord(${s.chord} × noop.si({ i }), collect.s()); collect gets the ${s.chord} results in order`,
    hugeChord: (s) =>
      `one run: chord(${s.hugeChord} × noop.si({ i }), collect.s()); collect gets the ${s.hugeChord} results in order`,
    chains: (s) =>
      `${s.chains} runs, each chain(noop.si({ i }), inc.s() × ${s.chainLength - 1}); client.submitMany of ${s.chainBatch} runs at a time`,
    independent: (s) =>
      `${s.independent} single-node runs noop.si({ i }); client.submitMany of ${s.independentBatch} runs at a time`,
    longChain: (s) => `one run: chain(inc.si(0), inc.s() × ${s.longChain - 1})`,
    memory: (s) =>
      `${s.memory} single-node runs noop.si({ i }), default retention (7 days); client.submitMany of ${s.independentBatch} runs at a time`,
    latency: (s) =>
      `${s.latency} single-node runs ping.si(i), one at a time (each submitted when the previous one finished); submit call → handler start`,
    awaited: (s) =>
      `${s.awaited} single-node runs noop.si({ i }) in one client.submitMany, then every RunHandle.result() awaited at once; until the last result is in hand`,
  },
  start,
};
