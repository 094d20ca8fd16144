/**
 * The events streams as Redis keeps them (docs/events.md,
 * docs/redis-layout.md): one per shard under the shard's hash tag, one
 * entry per script call whose id numbers its events, trimmed to about
 * `eventsMaxLen` events, and a cursor over every shard that can stop inside
 * an entry.
 */
import { group, Schema, task } from "@weft/core";
import { compile, decode } from "@weft/core/store";
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

/** The id of event number 0 (lua/includes/events.lua). */
const BASE = 1_000_000_000_000_000;

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
  it("appends one entry per script call, its id numbering its last event, under the shard's hash tag", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evkeys" });
    try {
      await store.submit(submission("run-1", 2));
      await store.submit(submission("run-2", 1));
      const key = "evkeys:{evkeys:s00}:events";
      const entries = await store.redis.xrangeBuffer(key, "-", "+");
      expect(entries.map(([id]) => id.toString())).toEqual([`${BASE + 2}-0`, `${BASE + 3}-0`]);
      expect(entries.map(([, f]) => [f[0]!.toString(), decode(f[1]!)])).toEqual([
        // (the second event is the first but for its node: written as its node's number)
        ["b", [["run-1", 7, ["q", 0, "count", 0], 1]]],
        ["b", [["run-2", 7, ["q", 0, "count", 0]]]],
      ]);
      expect(await store.redis.get(`${key}:n`)).toBe("3");
      const read = await store.readEvents({});
      expect(
        read.events.map((e) => [e.runId, e.kind, "nodeId" in e ? e.nodeId : -1, e.at]),
      ).toEqual([
        ["run-1", "queued", 0, 7],
        ["run-1", "queued", 1, 7],
        ["run-2", "queued", 0, 7],
      ]);
    } finally {
      await store.close();
    }
  });

  it("writes a batch's like runs once: a run's id alone for a group like the one before, read back as theirs", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evbatch" });
    try {
      const other = task({ name: "other", input: Schema.Int, output: Schema.Int });
      const sub = (runId: string, t: typeof count | typeof other) => ({
        ...submission(runId, 1),
        dag: compile(t.si(1)),
      });
      await store.submitMany([
        sub("p1", count),
        sub("p2", count),
        sub("p3", other),
        sub("p4", other),
        sub("p5", count),
      ]);
      const key = "evbatch:{evbatch:s00}:events";
      const entries = await store.redis.xrangeBuffer(key, "-", "+");
      expect(entries.map(([, f]) => decode(f[1]!))).toEqual([
        [
          ["p1", 7, ["q", 0, "count", 0]],
          "p2",
          // (another task: the time the previous group's, false)
          ["p3", false, ["q", 0, "other", 0]],
          "p4",
          ["p5", false, ["q", 0, "count", 0]],
        ],
      ]);
      const read = await store.readEvents({});
      expect(
        read.events.map((e) => [
          e.runId,
          e.kind,
          "nodeId" in e ? e.nodeId : -1,
          "task" in e ? e.task : "-",
          e.at,
        ]),
      ).toEqual([
        ["p1", "queued", 0, "count", 7],
        ["p2", "queued", 0, "count", 7],
        ["p3", "queued", 0, "other", 7],
        ["p4", "queued", 0, "other", 7],
        ["p5", "queued", 0, "count", 7],
      ]);
      expect(read.events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5].map((n) => `${BASE + n}-0`));
    } finally {
      await store.close();
    }
  });

  it("keeps about eventsMaxLen events, not entries: older ones are trimmed and reading goes on from the oldest kept", async () => {
    const store = await RedisStore.connect(server.url, {
      prefix: "evtrim",
      eventsMaxLen: 100,
      submitChunk: 50,
    });
    // MINID ~ trims whole blocks of entries (Redis's stream nodes): blocks of 2 entries here
    await store.redis.config("SET", "stream-node-max-entries", "2");
    try {
      // 20 calls of 50 events each: 20 runs of 50 nodes
      for (let r = 0; r < 20; r++) await store.submit(submission(`w${r}`, 50));
      expect(await store.redis.get("evtrim:{evtrim:s00}:events:n")).toBe("1000");
      const all = await store.readEvents({ count: 10_000 });
      const kept = all.events.length;
      // at least N events, at most a block (2 entries of 50) more
      expect(kept).toBeGreaterThanOrEqual(100);
      expect(kept).toBeLessThanOrEqual(200);
      // the last ones written, in order: run w<r>'s node n is event 50 r + n
      const numbers = all.events.map((e) =>
        e.kind === "queued" ? 50 * Number(e.runId.slice(1)) + e.nodeId : -1,
      );
      expect(numbers).toEqual(Array.from({ length: kept }, (_, i) => 1_000 - kept + i));
    } finally {
      await store.redis.config("SET", "stream-node-max-entries", "100");
      await store.close();
    }
  });

  it("trims when the count passes a multiple of an eighth of eventsMaxLen: never more than that eighth (and a block) over", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evstep", eventsMaxLen: 100 });
    await store.redis.config("SET", "stream-node-max-entries", "2");
    try {
      // 311 calls of one event: a trim at every twelfth (12, 24, ... 300), the last at 300
      // (to event 200), none since
      for (let r = 0; r < 311; r++) await store.submit(submission(`s${r}`, 1));
      const kept = (await store.readEvents({ count: 10_000 })).events;
      // events 200 to 311 and at most a block (2 entries of one event) before them: a trim
      // at every append would have kept at most 102
      expect(kept.length).toBeGreaterThanOrEqual(112);
      expect(kept.length).toBeLessThanOrEqual(114);
      expect(kept.at(-1)?.runId).toBe("s310");
    } finally {
      await store.redis.config("SET", "stream-node-max-entries", "100");
      await store.close();
    }
  });

  it("stops a read inside an entry and goes on from the next event of it, none lost or read twice", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evmid" });
    try {
      await store.submit(submission("ten", 10));
      expect(await store.redis.xlen("evmid:{evmid:s00}:events")).toBe(1);
      const seen: number[] = [];
      const cursors = new Set<string>();
      let after: string | undefined;
      for (let i = 0; i < 4; i++) {
        const b = await store.readEvents({ count: 3, ...(after === undefined ? {} : { after }) });
        for (const e of b.events) {
          seen.push(e.kind === "queued" ? e.nodeId : -1);
          cursors.add(e.id);
        }
        after = b.cursor;
      }
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(cursors.size).toBe(10);
      // an event's own id is a cursor too: from the fifth, the rest
      const fifth = (await store.readEvents({ count: 5 })).events[4]!;
      const rest = await store.readEvents({ after: fifth.id });
      expect(rest.events.map((e) => (e.kind === "queued" ? e.nodeId : -1))).toEqual([
        5, 6, 7, 8, 9,
      ]);
    } finally {
      await store.close();
    }
  });

  it("reads an older version's entries, one event each, before the numbered ones, with one cursor", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evold" });
    try {
      const key = "evold:{evold:s00}:events";
      // as a version before 2026-12-03 wrote them: an id of Redis's clock, one event per entry
      await store.redis.xadd(
        key,
        "*",
        "r",
        "old",
        "k",
        "queued",
        "ms",
        "5",
        "n",
        "0",
        "t",
        "count",
        "a",
        "0",
      );
      await store.redis.xadd(key, "*", "r", "old", "k", "run", "ms", "6", "s", "cancelled");
      const first = await store.readEvents({ count: 1 });
      await store.submit(submission("new", 2));
      const rest = await store.readEvents({ after: first.cursor });
      expect([...first.events, ...rest.events].map((e) => [e.runId, e.kind])).toEqual([
        ["old", "queued"],
        ["old", "run"],
        ["new", "queued"],
        ["new", "queued"],
      ]);
      // the stream now holds the new events (ids above any time) after the old ones
      expect((await store.redis.xrevrange(key, "+", "-", "COUNT", 1))[0]![0]).toBe(`${BASE + 2}-0`);
    } finally {
      await store.close();
    }
  });

  it("goes on numbering after the stream's last event when its count key is behind (deleted)", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evlost" });
    try {
      const key = "evlost:{evlost:s00}:events";
      await store.submit(submission("a", 3));
      await store.redis.del(`${key}:n`);
      await store.submit(submission("b", 2));
      const ids = (await store.redis.xrange(key, "-", "+")).map(([id]) => id);
      expect(ids).toEqual([`${BASE + 3}-0`, `${BASE + 5}-0`]);
      expect(await store.redis.get(`${key}:n`)).toBe("5");
      expect((await store.readEvents({})).events.map((e) => e.runId)).toEqual([
        "a",
        "a",
        "a",
        "b",
        "b",
      ]);
    } finally {
      await store.close();
    }
  });

  it("answers a read on a closed store with StoreUnavailable of kind closed, which client.events() does not wait out", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "evclosed" });
    await store.submit(submission("c", 1));
    await store.close();
    const err = await store.readEvents({}).catch((e: unknown) => e);
    expect(err).toMatchObject({ _tag: "StoreUnavailable", failure: "closed" });
    expect((err as Error).message).toMatch(
      /^the store at .* is closed: store\.close\(\) was called on it$/,
    );
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
