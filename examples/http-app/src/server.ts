/**
 * The app process: serves the HTTP app on `PORT` over the Redis store at
 * `REDIS_URL` (see `config.ts`). Stops on SIGTERM or SIGINT: the server
 * stops accepting connections, then the store is closed.
 *
 *     REDIS_URL=redis://127.0.0.1:6379 npm run server -w @weft/example-http-app
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createClient } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { pino } from "pino";
import { createApp } from "./app.ts";
import { configFrom } from "./config.ts";

const config = configFrom(process.env);
const log = pino({ level: config.logLevel });
const store = await RedisStore.connect(config.redisUrl, { prefix: config.prefix });
const app = createApp({ client: createClient(store) });
const server = serve({ fetch: app.fetch, port: config.port }, () => {
  const { port } = server.address() as AddressInfo;
  log.info({ port }, `onboarding app listening on http://localhost:${port}`);
});

const stop = () => {
  server.close(() => void store.close());
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
