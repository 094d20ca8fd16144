/**
 * `rediss+cluster://` on a private Redis Cluster that serves TLS only (its
 * clients, its bus and its replication), with a password, every node's
 * certificate signed by a test CA.
 */
import {
  chain,
  createClient,
  handle,
  Schema,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import { type RedisCluster, startRedisCluster } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RedisStore, type RedisStoreOptions } from "../src/index.ts";

const echo = task({ name: "echo", input: Schema.Int, output: Schema.Int });
const PASSWORD = "cl/us@ter:pw#1";

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({
    masters: 3,
    replicasPerMaster: 1,
    tls: true,
    password: PASSWORD,
  });
});
afterAll(async () => {
  await cluster?.stop();
});

const failure = (opts: RedisStoreOptions) =>
  RedisStore.connect(cluster.url, { connectTimeoutMs: 3_000, ...opts }).then(
    async (s) => {
      await s.close();
      throw new Error("connected, but should not have");
    },
    (e: unknown) => e,
  );

it("runs a chain over TLS with a password on every node, the password masked in the store's name", async () => {
  expect(cluster.url).toMatch(/^rediss\+cluster:\/\//);
  const store = await RedisStore.connect(cluster.url, {
    prefix: "tls",
    tls: { caFile: cluster.caFile! },
  });
  const worker = startWorker({
    store,
    handlers: [handle(echo, (n) => n + 1)],
    logger: pino({ level: "silent" }),
    idleMs: 200,
  });
  try {
    const run = await createClient(store).submit(chain(echo.si(1), echo.s(), echo.s()));
    expect(await run.result({ timeout: 20_000 })).toBe(4);
    expect(store.name).toMatch(/^rediss\+cluster:\/\/:\*\*\*@127\.0\.0\.1:\d+,/);
    expect(store.name).not.toContain(encodeURIComponent(PASSWORD));
  } finally {
    await worker.stop();
    await store.close();
  }
});

it("fails the TLS handshake without the CA, or for a name the certificates do not carry", async () => {
  for (const tls of [{}, { caFile: cluster.caFile!, servername: "other.test" }]) {
    const e = await failure({ tls });
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("tls");
    expect((e as StoreUnavailable).message).toMatch(
      /^TLS handshake with the store at rediss\+cluster:\/\/:\*\*\*@127\.0\.0\.1:\d+,.* failed: /,
    );
  }
});
