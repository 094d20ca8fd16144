/**
 * `npm run schedules -w @weft/bench`: schedules and rate limits on a
 * private Redis (docs/schedules.md).
 *
 * - **Firing lag**: `SCHED_N` schedules (default 20) firing every second,
 *   three beat processes, for `SCHED_SECONDS` (default 20): for each tick,
 *   the time its run was written (the run's `createdAt`, the submitting
 *   beat's clock) minus the tick's time; p50, p99 and max, and a count of
 *   ticks fired twice or missed (both must be 0).
 * - **Rate limit under load**: `LIMIT_TASKS` (default 2 000) no-op tasks on
 *   one queue limited to `LIMIT` per `LIMIT_INTERVAL_MS` (default 100 per
 *   1 000 ms), four workers of concurrency 16, each its own connection: the
 *   most attempts started in any window (by the nodes' `startedAt`), and
 *   the achieved rate against the limit.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { createClient, handle, Schema, startWorker, task, upsertSchedule } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { childNodeArgs } from "./workerProcesses.ts";

const SCHED_N = Number(process.env.SCHED_N ?? 20);
const SCHED_SECONDS = Number(process.env.SCHED_SECONDS ?? 20);
const LIMIT_TASKS = Number(process.env.LIMIT_TASKS ?? 2_000);
const LIMIT = Number(process.env.LIMIT ?? 100);
const LIMIT_INTERVAL_MS = Number(process.env.LIMIT_INTERVAL_MS ?? 1_000);

const log = (line: string) => process.stdout.write(`${line}\n`);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
};

const firingLag = async (url: string) => {
  const prefix = "bsched";
  const store = await RedisStore.connect(url, { prefix });
  const start = Date.now();
  for (let i = 0; i < SCHED_N; i++) {
    await upsertSchedule(
      store,
      {
        id: `s${i}`,
        everyMs: 1_000,
        target: { task: "bench.noop", input: { i } },
        overlap: "allow",
      },
      start,
    );
  }
  const file = fileURLToPath(new URL("./beatProcess.ts", import.meta.url));
  const beats = [0, 1, 2].map(() =>
    spawn(process.execPath, childNodeArgs(file), {
      env: { ...process.env, REDIS_URL: url, WEFT_PREFIX: prefix },
      stdio: ["ignore", "pipe", "inherit"],
    }),
  );
  await Promise.all(beats.map((b) => once(b.stdout!, "data")));
  const from = Date.now();
  await pause(SCHED_SECONDS * 1_000);
  const until = Date.now();
  await Promise.all(
    beats.map(async (b) => {
      const exited = once(b, "exit");
      b.kill("SIGTERM");
      await exited;
    }),
  );
  const runs = await store.listRuns({ limit: SCHED_N * (SCHED_SECONDS + 30) * 2 });
  const lags: number[] = [];
  const seen = new Map<string, number>();
  for (const r of runs) {
    const id = r.tags.find((t) => t.startsWith("schedule:"));
    const tick = Number(r.tags.find((t) => t.startsWith("tick:"))?.slice(5));
    if (!id) continue;
    seen.set(`${id}@${tick}`, (seen.get(`${id}@${tick}`) ?? 0) + 1);
    if (tick >= from) lags.push(r.createdAt - tick);
  }
  const twice = [...seen.values()].filter((n) => n > 1).length;
  let missed = 0;
  for (let i = 0; i < SCHED_N; i++) {
    for (let t = Math.ceil((from + 1) / 1_000) * 1_000; t <= until - 1_000; t += 1_000) {
      if (!seen.has(`schedule:s${i}@${t}`)) missed += 1;
    }
  }
  await store.close();
  log(
    `firing lag, 3 beats, ${SCHED_N} schedules every 1 s, ${SCHED_SECONDS} s: ${lags.length} ticks, p50 ${quantile(lags, 0.5)} ms, p99 ${quantile(lags, 0.99)} ms, max ${Math.max(...lags)} ms; fired twice: ${twice}, missed: ${missed}`,
  );
};

const noop = task({
  name: "bench.limited",
  queue: "limited",
  input: Schema.Struct({ i: Schema.Int }),
  output: Schema.Int,
});

const rateLimit = async (url: string) => {
  const prefix = "blimit";
  const producer = await RedisStore.connect(url, { prefix });
  const client = createClient(producer);
  const ids: string[] = [];
  for (let i = 0; i < LIMIT_TASKS; i++) ids.push((await client.submit(noop.si({ i }), {})).runId);
  const limits = { limited: { limit: LIMIT, intervalMs: LIMIT_INTERVAL_MS } };
  const stores = await Promise.all([0, 1, 2, 3].map(() => RedisStore.connect(url, { prefix })));
  const started = Date.now();
  const workers = stores.map((store) =>
    startWorker({
      store,
      handlers: [handle(noop, async ({ i }) => i)],
      queues: ["limited"],
      concurrency: 16,
      rateLimits: limits,
      logger: pino({ level: "warn" }),
    }),
  );
  // the real condition: every run ended
  for (const id of ids) await producer.waitForRun(id, 600_000);
  const wall = Date.now() - started;
  await Promise.all(workers.map((w) => w.stop()));
  const starts: number[] = [];
  for (const id of ids) {
    const snap = await producer.getRun(id);
    const at = snap?.nodes[0]?.startedAt;
    if (at !== undefined) starts.push(at);
  }
  starts.sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[i]! - starts[j]! >= LIMIT_INTERVAL_MS) j++;
    most = Math.max(most, i - j + 1);
  }
  // starts per fixed window from the first start; the last (partial) window left out
  const first = starts[0] ?? 0;
  const windows: number[] = [];
  for (const t of starts) {
    const k = Math.floor((t - first) / LIMIT_INTERVAL_MS);
    windows[k] = (windows[k] ?? 0) + 1;
  }
  const full = windows.slice(0, -1).map((n) => n ?? 0);
  const mean = full.length === 0 ? Number.NaN : full.reduce((a, b) => a + b, 0) / full.length;
  log(
    `rate limit ${LIMIT} per ${LIMIT_INTERVAL_MS} ms, 4 workers x 16, ${LIMIT_TASKS} tasks in ${(wall / 1000).toFixed(1)} s: most starts in any sliding window ${most} (limit ${LIMIT}); full fixed windows: mean ${mean.toFixed(1)}, min ${Math.min(...full)} (${((mean / LIMIT) * 100).toFixed(1)}% of the limit)`,
  );
  await Promise.all(stores.map((s) => s.close()));
  await producer.close();
};

const server = await startRedisServer();
try {
  await firingLag(server.url);
  await rateLimit(server.url);
} finally {
  await server.stop();
}
