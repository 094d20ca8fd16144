/**
 * Where delayed and expiring nodes live in Redis (docs/redis-layout.md): a
 * delayed node is a member of its queue's delayed set, never of the ready
 * set, until it is due; a node with a deadline is listed in the queue's
 * `expiring` set, and both entries go when it expires. The behaviour itself
 * is held by the conformance suite on every store.
 */
import { chain, Schema, task } from "@weft/core";
import { compile, encode, type Submission } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const sub = (runId: string, canvas: Parameters<typeof compile>[0]): Submission => ({
  runId,
  dag: compile(canvas),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now: 0,
});
const claim = (now: number) => ({
  workerId: "w",
  queues: ["default"],
  max: 8,
  leaseMs: 10_000,
  now,
});

describe("delayed and expiring nodes in Redis", () => {
  it("holds a delayed node in the delayed set by its due time, then in the ready set once due; its deadline in the expiring set", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "delay1" });
    const q = shardKeys("delay1", 0).queue("default");
    await store.submit(sub("d", inc.si(1).with({ delayMs: 100, expiresInMs: 500 })));
    expect(await raw.zrange(q.delayed, "0", "-1", "WITHSCORES")).toEqual(["d#0#5", "100"]);
    expect(await raw.zcard(q.ready)).toBe(0);
    expect(await raw.zrange(q.expiring, "0", "-1", "WITHSCORES")).toEqual(["d#0", "500"]);
    expect(await store.maintain({ now: 100, queues: ["default"] })).toMatchObject({
      promoted: 1,
      expired: 0,
    });
    expect(await raw.zcard(q.delayed)).toBe(0);
    expect(await raw.zrange(q.ready, "0", "-1")).toEqual(["d#0"]);
    await store.close();
  });

  it("scores a node delayed past its deadline by the deadline, and takes both entries away when it expires", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "delay2" });
    const q = shardKeys("delay2", 0).queue("default");
    await store.submit(
      sub("x", chain(inc.si(1), inc.s().with({ delayMs: 1_000, expiresInMs: 50 }))),
    );
    const [first] = await store.claim(claim(0));
    await store.complete(first!, encode(2), {
      now: 10,
      workerId: "w",
      queues: ["default"],
      nextMax: 0,
      leaseMs: 10_000,
    });
    expect(await raw.zrange(q.delayed, "0", "-1", "WITHSCORES")).toEqual(["x#1#5", "60"]);
    expect(await raw.zrange(q.expiring, "0", "-1", "WITHSCORES")).toEqual(["x#1", "60"]);
    expect(await store.maintain({ now: 59, queues: ["default"] })).toMatchObject({ expired: 0 });
    // maintenance promotes the node at its deadline, then expires it: nothing is left behind
    expect(await store.maintain({ now: 60, queues: ["default"] })).toMatchObject({ expired: 1 });
    expect(await raw.zcard(q.delayed)).toBe(0);
    expect(await raw.zcard(q.ready)).toBe(0);
    expect(await raw.zcard(q.expiring)).toBe(0);
    expect((await store.getRun("x"))!.nodes[1]!.state).toBe("expired");
    await store.close();
  });
});
