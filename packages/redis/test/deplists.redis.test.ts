/**
 * Packed dependency lists on a real Redis (docs/redis-layout.md, field
 * `d<i>`): a wide chord body's list and spec are a few bytes, its results
 * still arrive in order, and a planted range that is not one of upstream ids
 * fails the node as a corrupt record.
 */
import {
  chord,
  createClient,
  group,
  handle,
  RunFailed,
  Schema,
  startWorker,
  task,
} from "@weft/core";
import { decode, encode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const total = task({
  name: "total",
  input: Schema.Array(Schema.Int),
  output: Schema.Array(Schema.Int),
});
/** Adds four members to its chord, one call each (counting n + 1 … n + 4), then answers n. */
const grow = task({ name: "grow", input: Schema.Int, output: Schema.Int });
const handlers = [
  handle(count, (n) => n),
  handle(total, (xs) => xs),
  handle(grow, async (n, ctx) => {
    for (const i of [1, 2, 3, 4]) await ctx.addToChord(count.si(n + i));
    return n;
  }),
];
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

  it("members added to a chord extend its body's packed list and spec; the body gets their results after the declared ones", async () => {
    const prefix = `deps${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    // nodes 0-5 the header, 6 the body; grow (node 5) adds nodes 7-10
    const header = [...[0, 1, 2, 3, 4].map((i) => count.si(i)), grow.si(50)];
    const run = await client.submit(chord(header, total.s()));
    const key = runKey(prefix, run.runId);
    expect(decode((await raw.hgetBuffer(key, "d6"))!)).toEqual([[0, 5]]);
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
    try {
      expect(await run.result({ timeout: 20_000 })).toEqual([0, 1, 2, 3, 4, 50, 51, 52, 53, 54]);
      expect(decode((await raw.hgetBuffer(key, "d6"))!)).toEqual([
        [0, 5],
        [7, 10],
      ]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes[6]!.spec.deps).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10]);
      expect(snap.nodes.map((x) => x.state).every((st) => st === "succeeded")).toBe(true);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("a run's output shape is stored packed and read back whole", async () => {
    const prefix = `deps${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    const run = await client.submit(group(...[0, 1, 2, 3, 4, 5].map((i) => count.si(i * 2))));
    expect(decode((await raw.hgetBuffer(runKey(prefix, run.runId), "out"))!)).toEqual({
      list: [[0, 5]],
    });
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
    try {
      expect(await run.result({ timeout: 20_000 })).toEqual([0, 2, 4, 6, 8, 10]);
      expect((await store.getRun(run.runId))!.output).toEqual({ list: [0, 1, 2, 3, 4, 5] });
    } finally {
      await worker.stop();
      await store.close();
    }
  });

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
