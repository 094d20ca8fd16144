/**
 * A worker process for the spam pipeline: connects to Redis (`REDIS_URL`),
 * runs the pipeline's handlers on the `default` queue until SIGTERM or
 * SIGINT, then closes the store.
 *
 * Environment: `REDIS_URL` (required), `WEFT_CONCURRENCY` (default 2),
 * `WEFT_LOG_LEVEL` (pino level, default `info`).
 *
 * @example
 * REDIS_URL=redis://127.0.0.1:6379 npx tsx --conditions=@weft/source src/worker.ts
 */
import { startWorker, stopOnSignals } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { loadCorpus } from "./corpus.ts";
import { handlers } from "./handlers.ts";

const url = process.env.REDIS_URL;
if (!url) {
  console.error("worker: set REDIS_URL (e.g. redis://127.0.0.1:6379)");
  process.exit(2);
}
const concurrency = Number(process.env.WEFT_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error("worker: WEFT_CONCURRENCY must be a positive integer");
  process.exit(2);
}

// Read the corpus before claiming work, so no node's time includes it.
loadCorpus();
const store = await RedisStore.connect(url);
const worker = startWorker({ store, handlers, queues: ["default"], concurrency });
stopOnSignals(worker);
await worker.done;
await store.close();
