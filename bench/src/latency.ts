/**
 * `npm run latency -w @weft/bench`: the worker runtime's latencies, Weft and
 * BullMQ side by side on one Redis where BullMQ has an equivalent:
 *
 * - **submit → start**: from just before the producer's submit call until
 *   the handler starts, one run at a time on an idle worker (the worker has
 *   gone back to its blocking wait before each submit);
 * - **retry lateness**: when a retry's attempt starts minus when it was due
 *   (the failed attempt's end plus a fixed 50 ms backoff), one run at a time;
 * - **cancel → abort**: from just before `client.cancel()` (another
 *   connection, as `weft cancel` would be) until the running handler's
 *   `AbortSignal` fires. BullMQ's `Worker.cancelJob` only reaches a job in
 *   the process that runs it (no cross-process cancel), so it is not
 *   measured.
 *
 * Knobs: `LATENCY_N` samples per measure (default 200, after 10 dropped
 * warm-up samples; retries take ≥ 50 ms each and use half as many),
 * `LATENCY_IDLE_MS` pause before each submit
 * so that the worker is idle (default 20), `REDIS_URL` (default a private
 * `redis-server`). Both systems run with their default worker settings.
 */
import { createClient, handle, Schema, type Store, startWorker, task } from "@weft/core";
import { deferred } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { type Job, Queue, Worker } from "bullmq";
import { pino } from "pino";
import { quantile, type TableData, toMarkdown, toText } from "./report.ts";

const N = Number(process.env.LATENCY_N ?? 200);
/** Samples taken first and dropped (JIT, script cache, connections). */
const WARMUP = 10;
const IDLE_MS = Number(process.env.LATENCY_IDLE_MS ?? 20);
const BACKOFF_MS = 50;

const log = (line: string) => process.stdout.write(`${line}\n`);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Latency samples of one measure, ms. */
type Samples = ReadonlyArray<number>;

interface Results {
  readonly submitToStart: Samples;
  readonly retryLateness: Samples;
  readonly cancelToAbort: Samples | undefined;
}

const ping = task({ name: "latency.ping", input: Schema.Int, output: Schema.Int });
const flaky = task({
  name: "latency.flaky",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: BACKOFF_MS }, jitter: "none" },
});
const hang = task({ name: "latency.hang", input: Schema.Int, output: Schema.Int });

const weftSide = async (url: string): Promise<Results> => {
  const prefix = "latency-weft";
  const workerStore = await RedisStore.connect(url, { prefix });
  const clientStore = await RedisStore.connect(url, { prefix });
  let started = deferred<number>();
  let retried = deferred<number>();
  let failedAt = 0;
  let aborted = deferred<number>();
  let running = deferred();
  let reported = deferred();
  // the cancelled attempt's report: the next sample waits for it
  const store: Store = new Proxy(workerStore, {
    get(target, prop) {
      if (prop === "fail") {
        return async (...a: Parameters<Store["fail"]>) => {
          const r = await target.fail(...a);
          if (a[0].spec.task === hang.name) reported.resolve();
          return r;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const worker = startWorker({
    store,
    logger: pino({ level: "silent" }),
    handlers: [
      handle(ping, (n) => {
        started.resolve(performance.now());
        return n;
      }),
      handle(flaky, (n, ctx) => {
        if (ctx.attempt === 1) {
          failedAt = performance.now();
          throw new Error("first attempt fails");
        }
        retried.resolve(performance.now());
        return n;
      }),
      handle(hang, (_n, ctx) => {
        running.resolve();
        return new Promise<number>((_, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted.resolve(performance.now());
            reject(ctx.signal.reason);
          }),
        );
      }),
    ],
  });
  const client = createClient(clientStore);
  try {
    const submitToStart: number[] = [];
    for (let i = 0; i < N + WARMUP; i++) {
      await pause(IDLE_MS);
      started = deferred();
      const t0 = performance.now();
      const run = await client.submit(ping.si(i));
      const took = (await started.promise) - t0;
      if (i >= WARMUP) submitToStart.push(took);
      await run.result();
    }
    const retryLateness: number[] = [];
    for (let i = 0; i < Math.ceil(N / 2) + WARMUP; i++) {
      await pause(IDLE_MS);
      retried = deferred();
      const run = await client.submit(flaky.si(i));
      const late = (await retried.promise) - failedAt - BACKOFF_MS;
      if (i >= WARMUP) retryLateness.push(late);
      await run.result();
    }
    const cancelToAbort: number[] = [];
    for (let i = 0; i < N + WARMUP; i++) {
      await pause(IDLE_MS);
      running = deferred();
      aborted = deferred();
      reported = deferred();
      const run = await client.submit(hang.si(i));
      await running.promise;
      const t0 = performance.now();
      await client.cancel(run.runId);
      const took = (await aborted.promise) - t0;
      if (i >= WARMUP) cancelToAbort.push(took);
      await reported.promise;
    }
    return { submitToStart, retryLateness, cancelToAbort };
  } finally {
    await worker.stop(1_000);
    await Promise.all([workerStore.close(), clientStore.close()]);
  }
};

const bullmqSide = async (url: string): Promise<Results> => {
  const u = new URL(url);
  const connection = {
    host: u.hostname,
    port: Number(u.port || 6379),
    maxRetriesPerRequest: null,
  };
  const prefix = "latency-bullmq";
  let started = deferred<number>();
  let retried = deferred<number>();
  let failedAt = 0;
  const queue = new Queue("latency", { connection, prefix });
  const worker = new Worker(
    "latency",
    async (job: Job) => {
      if (job.name === "ping") {
        started.resolve(performance.now());
        return 0;
      }
      if (job.attemptsMade === 0) {
        failedAt = performance.now();
        throw new Error("first attempt fails");
      }
      retried.resolve(performance.now());
      return 0;
    },
    { connection, prefix },
  );
  const completed = new Map<string, () => void>();
  worker.on("completed", (job) => completed.get(job.id!)?.());
  const done = (id: string) =>
    new Promise<void>((r) => {
      completed.set(id, r);
    });
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  try {
    const submitToStart: number[] = [];
    for (let i = 0; i < N + WARMUP; i++) {
      await pause(IDLE_MS);
      started = deferred();
      const t0 = performance.now();
      const job = await queue.add("ping", { i }, { removeOnComplete: true });
      const finished = done(job.id!);
      const took = (await started.promise) - t0;
      if (i >= WARMUP) submitToStart.push(took);
      await finished;
    }
    const retryLateness: number[] = [];
    for (let i = 0; i < Math.ceil(N / 2) + WARMUP; i++) {
      await pause(IDLE_MS);
      retried = deferred();
      const job = await queue.add(
        "flaky",
        { i },
        { attempts: 2, backoff: { type: "fixed", delay: BACKOFF_MS }, removeOnComplete: true },
      );
      const finished = done(job.id!);
      const late = (await retried.promise) - failedAt - BACKOFF_MS;
      if (i >= WARMUP) retryLateness.push(late);
      await finished;
    }
    return { submitToStart, retryLateness, cancelToAbort: undefined };
  } finally {
    await worker.close();
    await queue.close();
  }
};

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "-");

const table = (weft: Results, bull: Results): TableData => {
  const rows: string[][] = [];
  const add = (label: string, w: Samples, b: Samples | undefined) => {
    rows.push([
      label,
      fmt(quantile(w, 0.5)),
      fmt(quantile(w, 0.99)),
      fmt(Math.max(...w)),
      b ? fmt(quantile(b, 0.5)) : "no equivalent",
      b ? fmt(quantile(b, 0.99)) : "-",
      b ? fmt(Math.max(...b)) : "-",
    ]);
  };
  add(
    `submit → start, idle worker (${weft.submitToStart.length} runs)`,
    weft.submitToStart,
    bull.submitToStart,
  );
  add(
    `retry lateness, ${BACKOFF_MS} ms fixed backoff (${weft.retryLateness.length} runs)`,
    weft.retryLateness,
    bull.retryLateness,
  );
  add(
    `cancel → handler aborted (${weft.cancelToAbort?.length ?? 0} runs)`,
    weft.cancelToAbort ?? [],
    bull.cancelToAbort,
  );
  return {
    title: "Worker latencies, ms (Weft vs BullMQ, same Redis, default worker settings)",
    head: ["measure", "Weft p50", "Weft p99", "Weft max", "BullMQ p50", "BullMQ p99", "BullMQ max"],
    rows,
  };
};

const main = async (): Promise<number> => {
  let server: RedisServer | undefined;
  try {
    if (!process.env.REDIS_URL) server = await startRedisServer();
    const url = process.env.REDIS_URL || server!.url;
    log(
      `redis: ${server ? `private redis-server on port ${server.port}` : "REDIS_URL"}; ${N} samples per measure`,
    );
    const weft = await weftSide(url);
    const bull = await bullmqSide(url);
    const t = table(weft, bull);
    log(toText(t));
    if (process.env.BENCH_MD) log(`\n${toMarkdown(t)}`);
    return 0;
  } finally {
    await server?.stop();
  }
};

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `latency bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
