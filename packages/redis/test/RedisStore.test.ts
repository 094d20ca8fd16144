import { type RedisServer, startRedisServer } from "@weft/testing";
import { storeConformance } from "@weft/testing/conformance";
import { afterAll, beforeAll } from "vitest";
import { RedisStore } from "../src/index.ts";

let server: RedisServer;
let n = 0;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

storeConformance("redis", () => RedisStore.connect(server.url, { prefix: `conf${++n}` }));

// the same suite with runs spread over three shards (hash tags), as on a Redis Cluster
storeConformance(
  "redis, 3 shards",
  () => RedisStore.connect(server.url, { prefix: `shard${++n}`, shards: 3 }),
  {
    runs: 10,
  },
);
