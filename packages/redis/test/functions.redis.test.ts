/**
 * The scripts as functions of one library (Redis 7 `FUNCTION LOAD`,
 * `FCALL`; src/Functions.ts): loaded on the first call that finds it
 * missing, loaded again after `FUNCTION FLUSH`, `EVALSHA` where a server
 * refuses functions or the store is told not to use them, a call's
 * caches emptied at every call, as a script's are, and the caches of pure
 * functions kept across calls right past their bounds.
 */
import { chain, chord, createClient, handle, Schema, startWorker, task } from "@weft/core";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { LIBRARY, LUA_GC_PAUSE } from "../src/Scripts.ts";
import { watched } from "./fixtures/watched.ts";

let server: RedisServer;
let admin: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

const inc = task({ name: "fn.inc", queue: "fq", input: Schema.Int, output: Schema.Int });
const sum = task({
  name: "fn.sum",
  queue: "fq",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
});
const silent = pino({ level: "silent" });

/** Runs a 5-step chain on `store` with a worker of its own; its result. */
const runChain = async (store: RedisStore): Promise<unknown> => {
  const worker = startWorker({
    store,
    logger: silent,
    queues: ["fq"],
    handlers: [handle(inc, (n) => n + 1)],
  });
  try {
    const h = await createClient(store).submit(
      chain(inc.si(0), inc.s(), inc.s(), inc.s(), inc.s()),
    );
    return await h.result({ timeout: 10_000 });
  } finally {
    await worker.stop();
  }
};

/** The names of the libraries loaded on the server. */
const libraries = async (): Promise<string[]> => {
  const list = (await admin.call("FUNCTION", "LIST")) as Array<Array<unknown>>;
  return list.map((entry) => String(entry[entry.indexOf("library_name") + 1]));
};

describe("the scripts as a function library", () => {
  it("loads the library at the first call that finds it missing, and calls its functions", async () => {
    await admin.call("FUNCTION", "FLUSH");
    const { redis, sent } = watched(server.url);
    const store = await RedisStore.connect(redis, { prefix: "fn-load" });
    expect(await runChain(store)).toBe(5);
    expect(await libraries()).toEqual([LIBRARY.name]);
    // submit, claim and complete went as functions; no script of the library went by EVALSHA
    expect(sent.filter((c) => c === "fcall").length).toBeGreaterThanOrEqual(6);
    const stats = await admin.info("commandstats");
    expect(stats).toMatch(/cmdstat_fcall:calls=\d+/);
    await store.close();
    redis.disconnect();
  });

  it("sets the functions' Lua collector's pause at a function's first call, after a flush too", async () => {
    // a probe library in the same VM: sets the pause it is given, answers the one it replaced
    const probe =
      "#!lua name=gcprobe\nredis.register_function('gcpause', function(_, a) return collectgarbage('setpause', tonumber(a[1])) end)";
    const setPause = async (p: number) => {
      await admin.call("FUNCTION", "LOAD", "REPLACE", probe);
      return admin.call("FCALL", "gcpause", 0, p);
    };
    const store = await RedisStore.connect(server.url, { prefix: "fn-gc" });
    for (let round = 0; round < 2; round++) {
      // (FUNCTION FLUSH keeps the VM: the pause is set back to Lua's default first)
      await setPause(200);
      await admin.call("FUNCTION", "FLUSH");
      expect(await runChain(store)).toBe(5);
      expect(await setPause(200)).toBe(LUA_GC_PAUSE);
    }
    await admin.call("FUNCTION", "DELETE", "gcprobe");
    await store.close();
  });

  it("loads it again after FUNCTION FLUSH, mid-run, and loses nothing", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fn-flush" });
    expect(await runChain(store)).toBe(5);
    await admin.call("FUNCTION", "FLUSH");
    expect(await libraries()).toEqual([]);
    expect(await runChain(store)).toBe(5);
    expect(await libraries()).toEqual([LIBRARY.name]);
    await store.close();
  });

  it("loads it for a write waited for by a replica too (WAIT behind FCALL, sent again)", async () => {
    // no replica here: each wait times out after 10 ms and the write is acknowledged by the primary
    const store = await RedisStore.connect(server.url, {
      prefix: "fn-durable",
      durability: "replicated",
      replicationTimeoutMs: 10,
      onReplicationShortfall: () => undefined,
    });
    const client = createClient(store, () => 1_000);
    const h = await client.submit(chain(inc.si(0), inc.s()));
    const [claim] = await store.claim({
      workerId: "w",
      queues: ["fq"],
      max: 1,
      leaseMs: 60_000,
      now: 1_000,
    });
    // the completion (a durable write) is the first call to find the library missing
    await admin.call("FUNCTION", "FLUSH");
    const opts = { now: 1_001, workerId: "w", queues: ["fq"], nextMax: 1, leaseMs: 60_000 };
    const done = await store.complete(claim!, new Uint8Array([1]), opts);
    expect(done.ok && done.next.map((c) => [c.runId, c.nodeId])).toEqual([[h.runId, 1]]);
    expect(await libraries()).toEqual([LIBRARY.name]);
    await store.close();
  });

  it("sends EVALSHA when told not to use functions", async () => {
    const { redis, sent } = watched(server.url);
    const store = await RedisStore.connect(redis, { prefix: "fn-off", functions: false });
    expect(await runChain(store)).toBe(5);
    expect(sent).not.toContain("fcall");
    expect(sent).toContain("evalsha");
    await store.close();
    redis.disconnect();
  });

  it("falls back to EVALSHA for a user who may not call functions, or not load them", async () => {
    await admin.call("FUNCTION", "FLUSH");
    await admin.call("ACL", "SETUSER", "nofcall", "on", ">pw", "~*", "&*", "+@all", "-fcall");
    await admin.call("ACL", "SETUSER", "noload", "on", ">pw", "~*", "&*", "+@all", "-function");
    for (const user of ["nofcall", "noload"]) {
      const url = server.url.replace("redis://", `redis://${user}:pw@`);
      const { redis, sent } = watched(url);
      const store = await RedisStore.connect(redis, { prefix: `fn-${user}` });
      expect(await runChain(store)).toBe(5);
      expect(sent).toContain("evalsha");
      // after the refusal, every script goes by EVALSHA
      const at = sent.length;
      expect(await runChain(store)).toBe(5);
      expect(sent.slice(at)).not.toContain("fcall");
      await store.close();
      redis.disconnect();
    }
    expect(await libraries()).toEqual([]);
  });

  it("empties a call's caches at every call: a queue paused between two completions is seen", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fn-percall" });
    const client = createClient(store, () => 1_000);
    const a = await client.submit(chain(inc.si(0), inc.s()));
    const b = await client.submit(chain(inc.si(0), inc.s()));
    const claims = await store.claim({
      workerId: "w",
      queues: ["fq"],
      max: 2,
      leaseMs: 60_000,
      now: 1_000,
    });
    expect(claims.map((c) => c.runId).sort()).toEqual([a.runId, b.runId].sort());
    const opts = { now: 1_001, workerId: "w", queues: ["fq"], nextMax: 1, leaseMs: 60_000 };
    // the first completion reads the queue's pause flag (not paused) and hands over the next step
    const first = await store.complete(claims[0]!, new Uint8Array([0]), opts);
    expect(first.ok && first.next.length).toBe(1);
    await store.pauseQueue("fq");
    // a cache kept from the call before would say "not paused" and hand it over
    const second = await store.complete(claims[1]!, new Uint8Array([0]), opts);
    expect(second).toEqual({ ok: true, next: [] });
    await store.close();
  });

  it("keeps the queue keys, queue lists and numbers it makes across calls, past their bounds: 300 queues, a chord of 5,000", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fn-kept" });
    const client = createClient(store, () => 1_000);
    // 300 queues (the library keeps 256 queues' keys and 256 queue lists): one run in each,
    // all claimed by one call that names them all, completed one by one
    const queues = Array.from({ length: 300 }, (_, i) => `kq${i}`);
    const runs = await client.submitMany(queues.map((queue, i) => inc.si(i).with({ queue })));
    const claims = await store.claim({
      workerId: "w",
      queues,
      max: 300,
      leaseMs: 60_000,
      now: 1_000,
    });
    expect(claims.map((c) => c.spec.queue).sort()).toEqual([...queues].sort());
    for (const c of claims) {
      const r = await store.complete(c, new Uint8Array([0]), {
        now: 1_001,
        workerId: "w",
        queues,
        nextMax: 0,
        leaseMs: 60_000,
      });
      expect(r).toEqual({ ok: true, next: [] });
    }
    for (const h of runs) expect((await store.getRun(h.runId))?.run.status).toBe("succeeded");
    // 5,000 node ids (the library keeps 4,096 numbers' digits) in one run, in calls of many
    const worker = startWorker({
      store,
      logger: silent,
      queues: ["fq"],
      concurrency: 64,
      handlers: [handle(inc, (n) => n + 1), handle(sum, (xs) => xs.reduce((a, b) => a + b, 0))],
    });
    try {
      const h = await createClient(store).submit(
        chord(
          Array.from({ length: 5_000 }, (_, i) => inc.si(i)),
          sum.s(),
        ),
      );
      expect(await h.result({ timeout: 60_000 })).toBe((5_000 * 5_001) / 2);
    } finally {
      await worker.stop();
    }
    await store.close();
  });
});
