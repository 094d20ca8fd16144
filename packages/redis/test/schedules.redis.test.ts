import { type RedisServer, startRedisServer } from "@weft/testing";
import { scheduleConformance } from "@weft/testing/conformance";
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

scheduleConformance("redis", () => RedisStore.connect(server.url, { prefix: `sched${++n}` }), {
  runs: 10,
});
