/**
 * The worker runtime's Redis keys and connections: re-sent claims leasing
 * nothing more, parked nodes in their own sorted set, cancellation signals
 * across processes, at most one blocking read per idle worker, and a wait
 * for work ended by its signal (a stopped worker's) leaving no BLPOP
 * behind to take the next wake-up token.
 */
import { chain, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { compile, deferred } from "@weft/core/store";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
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

/**
 * How many connections named `name` (ioredis `connectionName`, which a store's
 * blocking connections inherit) are blocked in a command, by CLIENT LIST.
 */
const blockedOf = async (name: string): Promise<number> => {
  const clients = String(await raw.call("CLIENT", "LIST")).split("\n");
  return clients.filter((l) => l.includes(` name=${name} `) && / flags=[A-Za-z]*b/.test(l)).length;
};

/** A store on its own named connection (see `blockedOf`). */
const namedStore = (name: string) =>
  RedisStore.connect(new Redis(server.url, { connectionName: name }), { prefix: name });

describe("a wait for work ended by its signal", () => {
  it("ends its BLPOP with CLIENT UNBLOCK: nothing is left blocked and the next token is kept", async () => {
    const store = await namedStore("unblock");
    const wake = shardKeys("unblock", 0).queue("default").wake;
    // a first wait: the store's blocking connection is open and knows its client id
    await store.waitForWork(["default"], 10);
    const stop = new AbortController();
    const waiting = store.waitForWork(["default"], 3_600_000, stop.signal);
    await vi.waitFor(async () => expect(await blockedOf("unblock")).toBe(1), { timeout: 30_000 });
    stop.abort("stop");
    // a command sent after the abort on the store's connection reaches Redis after its CLIENT UNBLOCK
    await store.redis.ping();
    expect(await blockedOf("unblock")).toBe(0);
    await waiting;
    await store.submit({ ...base, runId: "u", dag: compile(inc.si(1)), now: 0 });
    expect(await raw.llen(wake)).toBe(1);
    await store.waitForWork(["default"], 3_600_000);
    expect(await raw.llen(wake)).toBe(0);
    await store.close();
    store.redis.disconnect();
  });

  it("puts back a token its BLPOP was served before the abort", async () => {
    // the blocking connection's BLPOP answers with a token are held until `served` resolves
    const served = deferred<void>();
    const redis = new Redis(server.url, { connectionName: "served" });
    const duplicate = redis.duplicate.bind(redis);
    redis.duplicate = ((...args: Parameters<Redis["duplicate"]>) => {
      const conn = duplicate(...args);
      const blpop = conn.blpop.bind(conn) as (...a: unknown[]) => Promise<[string, string] | null>;
      conn.blpop = (async (...a: unknown[]) => {
        const got = await blpop(...a);
        if (got !== null) await served.promise;
        return got;
      }) as unknown as typeof conn.blpop;
      return conn;
    }) as typeof redis.duplicate;
    const store = await RedisStore.connect(redis, { prefix: "served" });
    const wake = shardKeys("served", 0).queue("default").wake;
    const stop = new AbortController();
    const waiting = store.waitForWork(["default"], 3_600_000, stop.signal);
    await vi.waitFor(async () => expect(await blockedOf("served")).toBe(1), { timeout: 30_000 });
    // Redis serves the blocked BLPOP as it runs the LPUSH: the token is taken, its answer held
    await raw.lpush(wake, "1");
    expect(await raw.llen(wake)).toBe(0);
    stop.abort("stop"); // (its CLIENT UNBLOCK finds nothing blocked)
    served.resolve();
    await waiting;
    expect(await raw.llen(wake)).toBe(1);
    await store.waitForWork(["default"], 3_600_000);
    expect(await raw.llen(wake)).toBe(0);
    await store.close();
    redis.disconnect();
  });

  it("sends nothing when its signal is aborted already", async () => {
    const { redis, sent } = watched(server.url);
    const store = await RedisStore.connect(redis, { prefix: "already" });
    const before = sent.length;
    await store.waitForWork(["default"], 3_600_000, AbortSignal.abort("stop"));
    expect(sent.slice(before)).toEqual([]);
    await store.close();
    redis.disconnect();
  });

  it("a stopped worker leaves no BLPOP behind: a worker started after it on the same store gets the next run", async () => {
    const store = await namedStore("handover");
    const opts = {
      store,
      logger: silent,
      idleMs: 60_000,
      handlers: [handle(inc, (n) => n + 1)],
    };
    const a = startWorker(opts);
    // idle: its claim came back empty and it waits for work in a BLPOP
    await vi.waitFor(async () => expect(await blockedOf("handover")).toBe(1), { timeout: 30_000 });
    await a.stop();
    // its wait ended with it (a BLPOP left blocked would take the next token)
    expect(await blockedOf("handover")).toBe(0);
    const b = startWorker(opts);
    await vi.waitFor(async () => expect(await blockedOf("handover")).toBe(1), { timeout: 30_000 });
    const run = await createClient(store).submit(inc.si(1));
    expect(await run.result()).toBe(2);
    await b.stop();
    await store.close();
    store.redis.disconnect();
  });
});
