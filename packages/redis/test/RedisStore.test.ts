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
