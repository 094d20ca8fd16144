/**
 * Packed dependency lists on a real Redis (docs/redis-layout.md, field
 * `d<i>`): a wide chord body's list and spec are a few bytes, its results
 * still arrive in order, and a planted range that is not one of upstream ids
 * fails the node as a corrupt record.
 */
import { chord, createClient, handle, RunFailed, Schema, startWorker, task } from "@weft/core";
import { encode } from "@weft/core/store";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";

let server: RedisServer;
let raw: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});
afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const total = task({
  name: "total",
  input: Schema.Array(Schema.Int),
  output: Schema.Array(Schema.Int),
});
const handlers = [handle(count, (n) => n), handle(total, (xs) => xs)];
const silent = pino({ level: "silent" });
let n = 0;
const runKey = (prefix: string, runId: string) => shardKeys(prefix, 0).run(runId).record;

describe("packed dependency lists", () => {
  it.each([10, 1_000])(
    "a %i-wide chord body's list and spec are a few bytes; the body gets every result in order",
    async (width) => {
      const prefix = `deps${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const run = await client.submit(
        chord(
          Array.from({ length: width }, (_, i) => count.si(i * 3)),
          total.s(),
        ),
      );
      const key = runKey(prefix, run.runId);
      expect((await raw.hgetBuffer(key, `d${width}`))!.length).toBeLessThanOrEqual(8);
      expect((await raw.hgetBuffer(key, `s${width}`))!.length).toBeLessThanOrEqual(64);
      const worker = startWorker({ store, handlers, logger: silent, concurrency: 8, idleMs: 100 });
      try {
        expect(await run.result({ timeout: 30_000 })).toEqual(
          Array.from({ length: width }, (_, i) => i * 3),
        );
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );

  it.each([
    ["past the run's last node", [[0, 50]]],
    ["holding the node itself", [[0, 3]]],
    ["ending off its step", [[0, 3, 2]]],
    ["going down", [[2, 0]]],
  ])(
    "a planted range %s fails the body as a corrupt record naming its field",
    async (_what, planted) => {
      const prefix = `deps${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const run = await client.submit(chord([count.si(1), count.si(2), count.si(3)], total.s()));
      const key = runKey(prefix, run.runId);
      await raw.hset(key, "d3", Buffer.from(encode(planted)));
      const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
      try {
        const err = (await run
          .result({ timeout: 20_000, waitForQuiet: true })
          .catch((e: unknown) => e)) as RunFailed;
        expect(err).toBeInstanceOf(RunFailed);
        expect(err.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
        expect(err.error?.message).toContain(`corrupt record: key ${key} field d3: entry 1 `);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.nodes.map((x) => x.state)).toEqual([
          "succeeded",
          "succeeded",
          "succeeded",
          "failed",
        ]);
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );
});
