/**
 * The worker runtime's Redis keys and connections: re-sent claims leasing
 * nothing more, parked nodes in their own sorted set, cancellation signals
 * across processes, and at most one blocking read per idle worker.
 */
import { chain, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { compile, deferred } from "@weft/core/store";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";
import { watched } from "./fixtures/watched.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const silent = pino({ level: "silent" });
const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60_000 } as const;

/** The script calls (EVALSHA, EVAL and FCALL) Redis has run so far (INFO commandstats). */
const scriptCalls = async (redis: Redis): Promise<number> => {
  const stats = await redis.info("commandstats");
  let calls = 0;
  for (const m of stats.matchAll(/cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/g))
    calls += Number(m[1]);
  return calls;
};

describe("the claim path on Redis", () => {
  it("a claim that gets fewer nodes than it asked for costs one script call", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "one-call" });
    await store.submit({ ...base, runId: "g", dag: compile(group(inc.si(1), inc.si(2))), now: 0 });
    const counted = new Redis(server.url);
    const before = await scriptCalls(counted);
    const req = { workerId: "w", queues: ["default"], leaseMs: 10_000, now: 0 };
    expect((await store.claim({ ...req, max: 5, requestId: "a" })).length).toBe(2);
    expect((await scriptCalls(counted)) - before).toBe(1);
    // a claim that got all it asked for: another call may find more
    await store.submit({ ...base, runId: "h", dag: compile(inc.si(3)), now: 0 });
    const mid = await scriptCalls(counted);
    expect((await store.claim({ ...req, max: 1, requestId: "b" })).length).toBe(1);
    expect((await scriptCalls(counted)) - mid).toBe(1);
    counted.disconnect();
    await store.close();
  });

  it("a claim that came up short answers the next due time, and the store reads no delayed set for it once", async () => {
    const prefix = "due";
    const { redis, sent } = watched(server.url);
    const store = await RedisStore.connect(redis, { prefix });
    const req = { workerId: "w", queues: ["default"], leaseMs: 10_000, now: 0 };
    // a retrying node due at 5,000: in the delayed set
    await store.submit({ ...base, runId: "r", dag: compile(inc.si(1)), now: 0 });
    const [claim] = await store.claim({ ...req, max: 1 });
    const error = { tag: "HandlerError", message: "no", retryable: true } as const;
    await store.fail(claim!, error, { now: 1, retryAt: 5_000 });
    // short (nothing ready): the due time comes with the claim, the wait reads nothing
    expect(await store.claim({ ...req, max: 4, now: 2 })).toEqual([]);
    const before = sent.length;
    expect(await store.nextDueAt(["default"])).toBe(5_000);
    expect(sent.length).toBe(before);
    // once only, and only for the same queues: then read as before
    expect(await store.nextDueAt(["default"])).toBe(5_000);
    expect(sent.slice(before)).toContain("zrange");
    await store.claim({ ...req, max: 4, now: 3 });
    const other = sent.length;
    expect(await store.nextDueAt(["default", "other"])).toBe(5_000);
    expect(sent.slice(other)).toContain("zrange");
    // a failure since the claim may have added a retry: read again
    await store.submit({ ...base, runId: "s", dag: compile(inc.si(2)), now: 0 });
    const [second] = await store.claim({ ...req, max: 4, now: 4 });
    await store.fail(second!, error, { now: 4, retryAt: 4_500 });
    const failed = sent.length;
    expect(await store.nextDueAt(["default"])).toBe(4_500);
    expect(sent.slice(failed)).toContain("zrange");
    await store.close();
    redis.disconnect();
  });

  it("leases nothing more for a claim re-sent with the same request id", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "resent" });
    const q = shardKeys("resent", 0).queue("default");
    await store.submit({
      ...base,
      runId: "g",
      dag: compile(group(inc.si(1), inc.si(2), inc.si(3))),
      now: 0,
    });
    const req = { workerId: "w", queues: ["default"], max: 2, leaseMs: 10_000, now: 0 };
    const first = await store.claim({ ...req, requestId: "r1" });
    const again = await store.claim({ ...req, requestId: "r1" });
    expect(again.map((c) => c.token)).toEqual(first.map((c) => c.token));
    expect(await raw.zcount(q.leases, "-inf", "(+inf")).toBe(2);
    expect(await raw.zcard(q.ready)).toBe(1);
    // the re-sent claim started nothing again: the same attempt, no stall, no history entry
    expect(again.map((c) => [c.attempt, c.stalls])).toEqual([
      [1, 0],
      [1, 0],
    ]);
    const nodes = (await store.getRun("g"))!.nodes;
    expect(nodes.map((n) => [n.state, n.attempts, n.stalls, n.history.length])).toEqual([
      ["running", 1, 0, 0],
      ["running", 1, 0, 0],
      ["queued", 0, 0, 0],
    ]);
    await store.close();
  });

  it("answers a re-sent claim in parts (a free queue, then a rate-limited one) with what each part leased", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "resentparts" });
    const k = shardKeys("resentparts", 0);
    const lim = task({ name: "lim", queue: "lim", input: Schema.Int, output: Schema.Int });
    await store.submit({ ...base, runId: "free", dag: compile(inc.si(1)), now: 0 });
    await store.submit({ ...base, runId: "limited", dag: compile(lim.si(2)), now: 0 });
    const req = {
      workerId: "w",
      queues: ["default", "lim"],
      max: 4,
      leaseMs: 10_000,
      now: 0,
      rateLimits: { lim: { limit: 10, intervalMs: 60_000 } },
    };
    const first = await store.claim({ ...req, requestId: "r1" });
    expect(first.map((c) => c.runId)).toEqual(["free", "limited"]);
    // one string for the request: its id, then both calls' leases (parts 0 and 1,000)
    expect((await raw.getBuffer(k.lastClaim("w")))!.subarray(0, 3).toString()).toBe("r1\0");
    expect(await raw.pttl(k.lastClaim("w"))).toBeGreaterThan(0);
    const again = await store.claim({ ...req, requestId: "r1" });
    expect(again.map((c) => [c.runId, c.token])).toEqual(first.map((c) => [c.runId, c.token]));
    for (const q of ["default", "lim"]) {
      expect(await raw.zcount(k.queue(q).leases, "-inf", "(+inf")).toBe(1);
    }
    // a new request leases anew: nothing is left
    expect(await store.claim({ ...req, requestId: "r2" })).toEqual([]);
    expect((await raw.getBuffer(k.lastClaim("w")))!.subarray(0, 3).toString()).toBe("r2\0");
    await store.close();
  });

  it("keeps a parked node in the queue's parked set, found by task, and cancel removes it", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "parked" });
    const q = shardKeys("parked", 0).queue("default");
    await store.submit({ ...base, runId: "p", dag: compile(add.si({ a: 1, b: 2 })), now: 0 });
    const [c] = await store.claim({
      workerId: "w",
      queues: ["default"],
      tasks: ["inc"],
      max: 1,
      leaseMs: 10_000,
      now: 0,
    });
    await store.park(c!, { now: 1 });
    const members = await raw.zrange(q.parked, "0", "-1");
    expect(members).toHaveLength(1);
    expect(members[0]).toMatch(/^add\0\d{16}\0p#0$/);
    expect(await raw.zcount(q.leases, "-inf", "(+inf")).toBe(0);
    expect(await raw.zcard(q.ready)).toBe(0);
    expect(await raw.llen(q.wake)).toBe(1); // an idle worker that has the task may be waiting
    expect(await store.cancel("p", { now: 2 })).toBe(true);
    expect(await raw.zcard(q.parked)).toBe(0);
    await store.close();
  });

  it("signals a cancellation to a worker's store from another process's store", async () => {
    const a = await RedisStore.connect(server.url, { prefix: "signals" });
    const b = await RedisStore.connect(server.url, { prefix: "signals" });
    const received = deferred<string>();
    const off = await a.subscribe((s) => received.resolve(s.runId));
    await b.submit({ ...base, runId: "far", dag: compile(inc.si(1)), now: 0 });
    expect(await b.cancel("far", { now: 1 })).toBe(true);
    expect(await received.promise).toBe("far");
    await off();
    await Promise.all([a.close(), b.close()]);
  });

  it("keeps at most one blocking read open per idle worker across wake-ups", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "blocking" });
    const worker = startWorker({
      store,
      logger: silent,
      idleMs: 3_600_000,
      handlers: [handle(inc, (n) => n + 1)],
    });
    const client = createClient(store);
    for (let i = 0; i < 6; i++) {
      expect(await (await client.submit(chain(inc.si(i), inc.s()))).result()).toBe(i + 2);
    }
    const clients = String(await raw.call("CLIENT", "LIST"));
    const blocked = clients.split("\n").filter((l) => / cmd=blpop /.test(l));
    expect(blocked.length).toBeLessThanOrEqual(1);
    await worker.stop();
    await store.close();
  });
});
