/**
 * One Weft worker process for `BENCH_PROCESSES` (spawned by
 * `workerProcesses.ts`): `workers` × `startWorker` with the bench's handlers,
 * each on its own `RedisStore`, reporting to the bench process.
 */
import { startWorker } from "@weft/core";
import { RedisStore } from "@weft/redis";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { countCommands, handlersFor, tracked } from "./weft.ts";
import { childOptions, reporter, serve } from "./workerChild.ts";

const opts = childOptions();
const counts = new Map<string, number>();
const shas = new Map<string, string>();
const stores: RedisStore[] = [];
for (let i = 0; i < opts.workers; i++) {
  const store = await RedisStore.connect(
    opts.url,
    opts.prefix === undefined ? {} : { prefix: opts.prefix },
  );
  countCommands(store.redis as Redis, counts, shas);
  stores.push(store);
}
const logger = pino({ level: "silent" });
const workers = stores.map((store) =>
  startWorker({
    store: tracked(store, reporter),
    handlers: handlersFor(reporter),
    concurrency: opts.concurrency,
    logger,
  }),
);
serve(
  () => counts,
  async () => {
    await Promise.all(workers.map((w) => w.stop(2_000)));
    await Promise.all(stores.map((s) => s.close()));
  },
);
