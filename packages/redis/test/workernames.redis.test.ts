/**
 * Worker numbers (docs/redis-layout.md, `T:wnames`): node records name the
 * worker of their last attempt by its tag (a NUL byte and a number of the
 * shard's: a string, as the id was, so that an older version reads it),
 * snapshots name it by its id, records written before tags still read, and
 * maintenance forgets a worker unseen for 30 days.
 */
import { Schema, task } from "@weft/core";
import { compile } from "@weft/core/store";
import { pack, unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { nodeField } from "../src/Records.ts";
import { putRecord, storedRecord } from "./fixtures/layout.ts";
import { raw, server } from "./fixtures/server.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60 * 86_400_000 } as const;
const DAY = 86_400_000;

/** Submits run `runId` and has worker `workerId` claim and complete its node at `now`. */
const runOn = async (store: RedisStore, runId: string, workerId: string, now: number) => {
  await store.submit({ ...base, runId, dag: compile(inc.si(1)), now });
  const [claim] = await store.claim({
    workerId,
    queues: ["default"],
    leaseMs: 10_000,
    now,
    max: 1,
    requestId: `${runId}-claim`,
  });
  await store.complete(claim!, new Uint8Array([2]), {
    now,
    workerId,
    nextMax: 0,
    leaseMs: 10_000,
    queues: ["default"],
  });
};

/** Field 7 of node 0's record of run `runId` (prefix `prefix`), as stored (its result after it). */
const storedWorker = async (prefix: string, runId: string): Promise<unknown> => {
  return (await storedRecord(raw, shardKeys(prefix, 0).run(runId).record, 0))[6];
};

describe("worker numbers", () => {
  it("give each worker one number per shard, kept in records as a string tag, and snapshots its id", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "numbers" });
    const long = "payments-worker-7d9f8b6c5d-x2k4p:1:ab12cd34";
    await runOn(store, "a", long, 0);
    await runOn(store, "b", "other", 1);
    await runOn(store, "c", long, 2);
    expect([
      await storedWorker("numbers", "a"),
      await storedWorker("numbers", "b"),
      await storedWorker("numbers", "c"),
    ]).toEqual(["\u00001", "\u00002", "\u00001"]);
    const names = await Promise.all(["a", "b", "c"].map((id) => store.getRun(id)));
    expect(names.map((s) => s?.nodes[0]?.worker)).toEqual([long, "other", long]);
    await store.close();
  });

  it("still reads a record that names its worker by id (written before numbers)", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "older" });
    await runOn(store, "old", "w1", 0);
    const key = shardKeys("older", 0).run("old").record;
    // (the record, then the node's result)
    const { record, result } = nodeField((await raw.hgetBuffer(key, "n0"))!);
    const rec = unpack(record) as unknown[];
    rec[6] = "host-a:12:0badf00d";
    await putRecord(raw, key, 0, Buffer.concat([pack(rec), result ?? new Uint8Array(0)]));
    expect((await store.getRun("old"))?.nodes[0]?.worker).toBe("host-a:12:0badf00d");
    await store.close();
  });

  it("are forgotten 30 days after the worker last started a node; its runs then show #<number>", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "forget" });
    await runOn(store, "gone", "idle-worker", 0);
    await runOn(store, "kept", "busy-worker", 0);
    // busy-worker starts a node again on day 20: it is kept
    await runOn(store, "later", "busy-worker", 20 * DAY);
    await store.maintain({ now: 31 * DAY, queues: ["default"] });
    expect((await store.getRun("gone"))?.nodes[0]?.worker).toBe("#1");
    expect((await store.getRun("kept"))?.nodes[0]?.worker).toBe("busy-worker");
    // a forgotten worker that comes back gets a new number
    await runOn(store, "back", "idle-worker", 32 * DAY);
    expect(await storedWorker("forget", "back")).toBe("\u00003");
    expect((await store.getRun("back"))?.nodes[0]?.worker).toBe("idle-worker");
    await store.close();
  });
});
