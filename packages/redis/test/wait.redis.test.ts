/**
 * Waiting for a run's end on Redis (`waitForRun`, what `result()` and
 * `status`'s waits use): the waiter is counted in the run's hash (field `w`,
 * waitrun.lua) and woken by a PUBLISH of its run's id when the run stops or
 * ends, not by every event other runs write.
 */
import {
  chain,
  createClient,
  group,
  handle,
  Schema,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import { deferred } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { endedRunIds } from "../src/EventEntries.ts";
import { RedisStore } from "../src/index.ts";
import { runEndChannel, shardKeys } from "../src/Keys.ts";
import { SCRIPTS } from "../src/Scripts.ts";
import { raw, server } from "./fixtures/server.ts";
import { watched } from "./fixtures/watched.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const gated = task({ name: "gated", input: Schema.Int, output: Schema.Int });
const boom = task({ name: "boom", input: Schema.Int, output: Schema.Int });
const silent = pino({ level: "silent" });

/**
 * A store under `prefix`, and a second one whose commands are recorded (`sent`, the
 * waiter's); `close` closes both and their connection.
 */
const watchedStores = async (prefix: string) => {
  const store = await RedisStore.connect(server.url, { prefix });
  const { redis, sent } = watched(server.url);
  const waiter = await RedisStore.connect(redis, { prefix });
  const close = async () => {
    await Promise.all([store.close(), waiter.close()]);
    redis.disconnect();
  };
  return { store, waiter, sent, close };
};

/**
 * A worker on `store` whose `gated` handler returns `out(n)` once `gate` is resolved;
 * `begun()`: how many of its attempts have begun.
 */
const gatedWorker = (store: RedisStore, concurrency: number, out: (n: number) => number) => {
  const gate = deferred<void>();
  let begun = 0;
  const worker = startWorker({
    store,
    logger: silent,
    concurrency,
    handlers: [
      handle(gated, async (n) => {
        begun += 1;
        await gate.promise;
        return out(n);
      }),
    ],
  });
  return { worker, gate, begun: () => begun };
};

describe("waiting for a run on Redis", () => {
  it("a waiter sends a bounded number of commands while other runs write hundreds of events", async () => {
    const prefix = "wait-quiet";
    const { store, waiter: waiterStore, sent, close } = await watchedStores(prefix);
    const gate = deferred<void>();
    const worker = startWorker({
      store,
      logger: silent,
      concurrency: 4,
      handlers: [
        handle(inc, (n) => n + 1),
        handle(gated, async (n) => {
          await gate.promise;
          return n;
        }),
      ],
    });
    const client = createClient(store);
    const waited = await client.submit(gated.si(7));
    const before = sent.length;
    const started = Date.now();
    const waiting = waiterStore.waitForRun(waited.runId, 60_000);
    // the waiter counted itself in the run's hash: the run's end will be PUBLISHed
    const record = shardKeys(prefix, 0).run(waited.runId).record;
    await vi.waitFor(async () => expect(await raw.hget(record, "w")).toBe("1"));
    // 300 other runs, four events each, while it waits
    const others = await client.submitMany(Array.from({ length: 300 }, (_, i) => inc.si(i)));
    for (const [i, h] of others.entries()) expect(await h.result()).toBe(i + 1);
    gate.resolve();
    expect((await waiting)?.status).toBe("succeeded");
    const seconds = Math.ceil((Date.now() - started) / 1_000);
    const during = sent.slice(before);
    // one read that counts it, one once woken, and one per second the wait lasted (the
    // fallback for a lost message), each a `waitrun` call (a library function: FCALL);
    // woken by every batch of events, it would have read the record (and sent an XREAD)
    // dozens of times
    const reads = during.filter((c) => c === "fcall" || c === "evalsha").length;
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(reads).toBeLessThanOrEqual(2 + seconds);
    expect(during.filter((c) => c === "hmget" || c === "xread")).toEqual([]);
    // nobody waits any longer: the run keeps no field for it
    expect(await raw.hexists(record, "w")).toBe(0);
    await worker.stop();
    await close();
  });

  it("many runs awaited at once are read together: one call for the turn's reads, not one each", async () => {
    const prefix = "wait-batch";
    const { store, waiter: reader, sent, close } = await watchedStores(prefix);
    const worker = startWorker({ store, logger: silent, handlers: [handle(inc, (n) => n + 1)] });
    const runs = await createClient(store).submitMany(
      Array.from({ length: 120 }, (_, i) => inc.si(i)),
    );
    for (const [i, h] of runs.entries()) expect(await h.result()).toBe(i + 1);
    const client = createClient(reader);
    const handles = await Promise.all(runs.map((h) => client.handle(h.runId, inc)));
    const before = sent.length;
    const results = await Promise.all(handles.map((h) => h.result()));
    expect(results).toEqual(runs.map((_, i) => i + 1));
    // every run is over: each wait is one read, and the 120 reads went as one waitrunmany
    expect(sent.slice(before)).toEqual(["fcall"]);
    await worker.stop();
    await close();
  });

  it("reads of one turn that name different fields, and of a run that does not exist, go in one call, each answered as its own", async () => {
    const prefix = "wait-mixed";
    const { store, waiter: reader, sent, close } = await watchedStores(prefix);
    const worker = startWorker({ store, logger: silent, handlers: [handle(inc, (n) => n + 1)] });
    const client = createClient(reader);
    // the output of node 0 (a task), of node 2 (a chain's last step), of nodes 0 and 1 (a
    // group): each handle's reads name its own nodes' fields
    const one = await client.submit(inc.si(1));
    const steps = await client.submit(chain(inc.si(10), inc.s(), inc.s()));
    const both = await client.submit(group(inc.si(100), inc.si(200)));
    expect([await one.result(), await steps.result(), await both.result()]).toEqual([
      2,
      13,
      [101, 201],
    ]);
    const before = sent.length;
    const results = await Promise.allSettled([
      steps.result(),
      both.result(),
      one.result(),
      steps.result(),
      reader.waitForRun("no-such-run", 1_000),
    ]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : r.reason._tag))).toEqual([
      13,
      [101, 201],
      2,
      13,
      "RunNotFound",
    ]);
    expect(sent.slice(before)).toEqual(["fcall"]);
    // a run hash without a status is still a run: the wait reads it (and times out), it is
    // not RunNotFound
    await raw.hdel(shardKeys(prefix, 0).run(one.runId).record, "status");
    await expect(reader.waitForRun(one.runId, 50)).resolves.toBeUndefined();
    await worker.stop();
    await close();
  });

  it("the pub/sub connection outlives the last wait: the next wait finds its channel subscribed", async () => {
    const prefix = "wait-linger";
    const { store, waiter, sent, close } = await watchedStores(prefix);
    const gates = [deferred<void>(), deferred<void>()];
    const worker = startWorker({
      store,
      logger: silent,
      handlers: [
        handle(gated, async (n) => {
          await gates[n]!.promise;
          return n;
        }),
      ],
    });
    const client = createClient(store);
    const record = (runId: string) => shardKeys(prefix, 0).run(runId).record;
    for (const n of [0, 1]) {
      const h = await client.submit(gated.si(n));
      const before = sent.length;
      const waiting = waiter.waitForRun(h.runId, 60_000);
      await vi.waitFor(async () => expect(await raw.hget(record(h.runId), "w")).toBe("1"));
      gates[n]!.resolve();
      expect((await waiting)?.status).toBe("succeeded");
      // the first wait subscribed (on a new connection); the second, after every wait had
      // ended, found the subscription in place
      expect(sent.slice(before).includes("subscribe")).toBe(n === 0);
    }
    await worker.stop();
    await close();
  });

  it("several waiters, in one process and in another, all wake at the end; the count drops to nothing", async () => {
    const prefix = "wait-many";
    const one = await RedisStore.connect(server.url, { prefix });
    const two = await RedisStore.connect(server.url, { prefix });
    const { worker, gate } = gatedWorker(one, 1, (n) => n * 2);
    const h = await createClient(one).submit(gated.si(21));
    const record = shardKeys(prefix, 0).run(h.runId).record;
    const waits = [
      h.result(),
      h.result(),
      (await createClient(two).handle(h.runId, gated)).result(),
    ];
    await vi.waitFor(async () => expect(await raw.hget(record, "w")).toBe("3"));
    gate.resolve();
    expect(await Promise.all(waits)).toEqual([42, 42, 42]);
    expect(await raw.hexists(record, "w")).toBe(0);
    await worker.stop();
    await Promise.all([one.close(), two.close()]);
  });

  it("runs that one completion call ends are PUBLISHed in one message naming them all, and each of their waiters wakes", async () => {
    const prefix = "wait-ended-many";
    const store = await RedisStore.connect(server.url, { prefix });
    const { worker, gate, begun } = gatedWorker(store, 5, (n) => n + 100);
    const client = createClient(store);
    const runs = await client.submitMany(Array.from({ length: 5 }, (_, i) => gated.si(i)));
    const listener = raw.duplicate();
    const messages: Buffer[] = [];
    listener.on("messageBuffer", (_: Buffer, m: Buffer) => messages.push(m));
    await listener.subscribe(runEndChannel(shardKeys(prefix, 0).events));
    const waits = runs.map((h) => h.result());
    // every run is waited for (counted in its hash) and every handler has begun
    for (const h of runs) {
      const record = shardKeys(prefix, 0).run(h.runId).record;
      await vi.waitFor(async () => expect(await raw.hget(record, "w")).toBe("1"));
    }
    await vi.waitFor(() => expect(begun()).toBe(5));
    // the five handlers end in one turn: their completions go in one call, which ends the
    // five runs and PUBLISHes once
    gate.resolve();
    expect(await Promise.all(waits)).toEqual([100, 101, 102, 103, 104]);
    await vi.waitFor(() => expect(messages.length).toBeGreaterThan(0));
    expect(messages).toHaveLength(1);
    expect(messages[0]![0]).toBe(0xff);
    expect([...endedRunIds(messages[0]!)].sort()).toEqual(runs.map((h) => h.runId).sort());
    listener.disconnect();
    await worker.stop();
    await store.close();
  });

  it("a read of a run not over answers whether the waiter is counted and no field; once over, or of a status no run has, the fields", async () => {
    const prefix = "wait-short";
    const store = await RedisStore.connect(server.url, { prefix });
    const { worker, gate } = gatedWorker(store, 1, (n) => n);
    const h = await createClient(store).submit(gated.si(3));
    const record = shardKeys(prefix, 0).run(h.runId).record;
    // the store's own call of the script, as waitForRun makes it
    const read = (mode: string, fields: ReadonlyArray<string> = ["status", "finished", "tags"]) =>
      (store as unknown as { call: (...a: unknown[]) => Promise<unknown> }).call(
        SCRIPTS.waitrun,
        { record },
        { mode, quiet: 0, fields },
      ) as Promise<{ counted: boolean; values: Array<Buffer | null> } | undefined>;
    expect(await read("start")).toEqual({ counted: true, values: [] });
    expect(await read("poll")).toEqual({ counted: true, values: [] });
    expect(await read("check")).toEqual({ counted: true, values: [] });
    expect(await raw.hget(record, "w")).toBe("1");
    gate.resolve();
    expect(await h.result()).toBe(3);
    const over = await read("poll");
    expect(over?.counted).toBe(false);
    expect(over?.values.map((v) => v?.toString() ?? null).slice(0, 1)).toEqual(["succeeded"]);
    expect(over?.values).toHaveLength(3);
    expect(await raw.hexists(record, "w")).toBe(0);
    // a status no run has: the fields, for the client to read it as the corrupt record it is
    await raw.hset(record, "status", "bogus");
    const corrupt = await read("start");
    expect(corrupt?.values.map((v) => v?.toString() ?? null).slice(0, 1)).toEqual(["bogus"]);
    await raw.hdel(record, "w");
    await worker.stop();
    await store.close();
  });

  it("a waiter without waitForQuiet wakes when the run fails, while another node still runs", async () => {
    const prefix = "wait-fail";
    const store = await RedisStore.connect(server.url, { prefix });
    const gate = deferred<void>();
    const worker = startWorker({
      store,
      logger: silent,
      concurrency: 2,
      handlers: [
        handle(gated, async (n) => {
          await gate.promise;
          return n;
        }),
        handle(boom, () => {
          throw new Error("boom");
        }),
      ],
    });
    const client = createClient(store);
    // (gated first: it is claimed before boom fails the run)
    const h = await client.submit(
      group(gated.si(1), boom.si(2).with({ retry: { maxAttempts: 1 } })),
    );
    await expect(h.result()).rejects.toThrow(/boom/);
    // the gated node still runs: the run failed, it has not ended
    const run = await store.getRun(h.runId);
    expect(run?.run.status).toBe("failed");
    expect(run?.nodes.some((n) => n.state === "running")).toBe(true);
    gate.resolve();
    await h.result({ waitForQuiet: true }).catch(() => undefined);
    expect((await store.getRun(h.runId))?.nodes.every((n) => n.state !== "running")).toBe(true);
    await worker.stop();
    await store.close();
  });

  it("waiting for a run that does not exist raises RunNotFound and makes no key", async () => {
    const prefix = "wait-none";
    const store = await RedisStore.connect(server.url, { prefix });
    await expect(store.waitForRun("no-such-run", 1_000)).rejects.toMatchObject({
      _tag: "RunNotFound",
    });
    expect(await raw.exists(shardKeys(prefix, 0).run("no-such-run").record)).toBe(0);
    await store.close();
  });

  it("closing the store ends a wait at once, failing it with StoreUnavailable rather than as a timeout", async () => {
    const prefix = "wait-close";
    const store = await RedisStore.connect(server.url, { prefix });
    const h = await createClient(store).submit(gated.si(1));
    // (its failure handled from the start: it fails while close() is awaited)
    const waiting = store.waitForRun(h.runId, 3_600_000).catch((x: unknown) => x);
    const record = shardKeys(prefix, 0).run(h.runId).record;
    await vi.waitFor(async () => expect(await raw.hget(record, "w")).toBe("1"));
    await store.close();
    const e = await waiting;
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as Error).message).toBe(
      `the store at ${server.url} is closed: store.close() was called while waiting for run ${h.runId}`,
    );
  });
});
