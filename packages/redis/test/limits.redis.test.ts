import { type RedisServer, startRedisServer } from "@weft/testing";
import { limitConformance } from "@weft/testing/conformance";
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

limitConformance("redis", () => RedisStore.connect(server.url, { prefix: `lim${++n}` }), {
  runs: 10,
});

// runs spread over three shards: the limit is one log per queue, whatever the shards
limitConformance(
  "redis, 3 shards",
  () => RedisStore.connect(server.url, { prefix: `lim3s${++n}`, shards: 3 }),
  { runs: 5 },
);
