/**
 * Weft on a real Redis Cluster: 3 primaries with a replica each, formed on
 * loopback ports for this file (`startRedisCluster`).
 */
import type { Store } from "@weft/core";
import { type RedisCluster, startRedisCluster } from "@weft/testing";
import { storeConformance, type Tamper } from "@weft/testing/conformance";
import { afterAll, beforeAll } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";

let cluster: RedisCluster;
let n = 0;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
});
afterAll(async () => {
  await cluster?.stop();
});

const prefixes = new WeakMap<Store, string>();
const connect = async (prefix: string) => {
  const store = await RedisStore.connect(cluster.url, { prefix });
  prefixes.set(store, prefix);
  return store;
};

const tamper: Tamper = async (store, runId, nodeId) => {
  const shard = /\.s(\d+)$/.exec(runId);
  const k = shardKeys(prefixes.get(store)!, shard ? Number(shard[1]) : 0).run(runId);
  const garbage = nodeId % 2 === 0 ? Buffer.from([0x93, 0x01]) : Buffer.from("garbage");
  await (store as RedisStore).redis.hset(k.nodes, `n${nodeId}`, garbage);
};

storeConformance("redis cluster", () => connect(`cl${++n}`), { runs: 10, tamper });
