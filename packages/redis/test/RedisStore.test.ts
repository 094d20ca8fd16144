import { type RedisServer, startRedisServer, storeConformance } from "@weft/testing";
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
