/**
 * The events streams as Redis keeps them (docs/events.md,
 * docs/redis-layout.md): one per shard under the shard's hash tag, compact
 * entries, trimmed to about `eventsMaxLen`, and a cursor over every shard.
 */
import { group, Schema, task } from "@weft/core";
import { compile } from "@weft/core/store";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidConnectionOptions, RedisStore } from "../src/index.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const submission = (runId: string, width: number) => ({
  runId,
  dag: compile(group(...Array.from({ length: width }, (_, i) => count.si(i)))),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now: 7,
});

describe("the events streams on Redis", () => {
  it("appends compact entries to the shard's stream, under the shard's hash tag", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evkeys" });
    try {
      await store.submit(submission("run-1", 2));
      const entries = await store.redis.xrange("evkeys:{evkeys:s00}:events", "-", "+");
      expect(entries.map(([, fields]) => fields)).toEqual([
        ["r", "run-1", "k", "queued", "ms", "7", "n", "0", "t", "count", "a", "0"],
        ["r", "run-1", "k", "queued", "ms", "7", "n", "1", "t", "count", "a", "0"],
      ]);
    } finally {
      await store.close();
    }
  });

  it("keeps about eventsMaxLen entries: older events are trimmed and reading goes on from the oldest kept", async () => {
    const store = await RedisStore.connect(server.url, {
      prefix: "evtrim",
      eventsMaxLen: 100,
      submitChunk: 50,
    });
    try {
      await store.submit(submission("wide", 1_000));
      const kept = await store.redis.xlen("evtrim:{evtrim:s00}:events");
      // MAXLEN ~ trims whole blocks (100 entries each by default): between N and a block more
      expect(kept).toBeGreaterThanOrEqual(100);
      expect(kept).toBeLessThanOrEqual(200);
      const all = await store.readEvents({ count: 10_000 });
      expect(all.events).toHaveLength(kept);
      const nodes = all.events.map((e) => (e.kind === "queued" ? e.nodeId : -1));
      expect(nodes.at(-1)).toBe(999);
      expect(nodes[0]).toBe(1_000 - kept);
    } finally {
      await store.close();
    }
  });

  it("refuses an eventsMaxLen out of range, naming it", async () => {
    for (const bad of [5, 1.5, 20_000_000]) {
      const err = await RedisStore.connect(server.url, { eventsMaxLen: bad }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidConnectionOptions);
      expect((err as Error).message).toContain("eventsMaxLen must be an integer from 100");
    }
  });

  it("merges the shards' streams in time order; a cursor names a position in each", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evshards", shards: 3 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await store.submit(submission(`r${i}`, 1))).runId);
      const shards = new Set(ids.map((id) => id.slice(id.lastIndexOf(".s"))));
      expect(shards.size).toBeGreaterThan(1);
      const batch = await store.readEvents({});
      const read = batch.events.map((e) => e.runId);
      expect([...read].sort()).toEqual([...ids].sort());
      // within a shard, in append order; across shards, by entry id (Redis's clock, ms)
      const shardOf = (id: string) => id.slice(id.lastIndexOf(".s"));
      for (const s of shards) {
        expect(read.filter((id) => shardOf(id) === s)).toEqual(
          ids.filter((id) => shardOf(id) === s),
        );
      }
      expect(batch.cursor.split(",")).toHaveLength(3);
      const half = await store.readEvents({ after: batch.events[2]!.id });
      expect(half.events.map((e) => e.runId)).toEqual(read.slice(3));
      // a cursor of another shard count is refused
      await expect(store.readEvents({ after: "0-0" })).rejects.toMatchObject({
        _tag: "InvalidEventCursor",
      });
    } finally {
      await store.close();
    }
  });
});
