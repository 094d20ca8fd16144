import type { Store } from "@weft/core";
import { MemoryStore, type RedisServer, startRedisServer } from "@weft/testing";
import { storeConformance, type Tamper } from "@weft/testing/conformance";
import { afterAll, beforeAll } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";

let server: RedisServer;
let n = 0;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const prefixes = new WeakMap<Store, string>();
const connect = async (prefix: string, shards = 1, budget?: number) => {
  const store = await RedisStore.connect(server.url, {
    prefix,
    shards,
    ...(budget === undefined ? {} : { budget, submitChunk: 4 }),
  });
  prefixes.set(store, prefix);
  return store;
};

// garbage in a node's record field: bytes that are not msgpack, or a msgpack value that is not a record
const tamper: Tamper = async (store, runId, nodeId) => {
  const shard = /\.s(\d+)$/.exec(runId);
  const k = shardKeys(prefixes.get(store)!, shard ? Number(shard[1]) : 0).run(runId);
  const garbage = nodeId % 2 === 0 ? Buffer.from([0x93, 0x01]) : Buffer.from("garbage");
  await (store as RedisStore).redis.hset(k.nodes, `n${nodeId}`, garbage);
};

storeConformance("redis", () => connect(`conf${++n}`), { tamper });

// the same suite with runs spread over three shards (hash tags), as on a Redis Cluster
storeConformance("redis, 3 shards", () => connect(`shard${++n}`, 3), { runs: 10, tamper });

// every transition in steps of 3 work items (cascades and cancels go on in `drain`),
// submissions in chunks of 4 nodes; maintenance promotes and re-delivers 3 at a time, as the
// model. No corrupt records here: a node leased between two steps of a sweep runs (it has
// started), which the model, doing each transition at once, cannot mirror; the bounded sweep
// has its own test in faults.redis.test.ts.
storeConformance("redis, budget 3", () => connect(`budget${++n}`, 1, 3), {
  runs: 10,
  model: () => new MemoryStore({ batch: 3 }),
});
