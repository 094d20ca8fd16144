/**
 * The worker process: runs the onboarding handlers on the Redis store at
 * `REDIS_URL` with `WEFT_CONCURRENCY` handlers at once (see `config.ts`).
 * On SIGTERM or SIGINT it stops claiming, lets running handlers finish
 * (10 s), then closes the store. `weft worker src/handlers.ts` does the same
 * from the command line.
 *
 *     REDIS_URL=redis://127.0.0.1:6379 npm run worker -w @weft/example-http-app
 */
import { startWorker } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { pino } from "pino";
import { configFrom } from "./config.ts";
import { handlersFor } from "./handlers.ts";

const config = configFrom(process.env);
const store = await RedisStore.connect(config.redisUrl, { prefix: config.prefix });
const worker = startWorker({
  store,
  handlers: handlersFor({ crmUrl: config.crmUrl }),
  concurrency: config.concurrency,
  logger: pino({ level: config.logLevel }),
});

const stop = async () => {
  await worker.stop();
  await store.close();
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
