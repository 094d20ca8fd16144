/**
 * Bounded Redis work (docs/guarantees.md, guarantee 10): a transition that
 * would touch many nodes does a bounded step per script call and leaves the
 * rest on the run's work list for `drain`; leftover work whose owner died is
 * resumed by any worker's maintenance, and a submission that died before its
 * commit is discarded.
 */
import { chain, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { compile, encode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { SCRIPTS, sendScript } from "../src/Scripts.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });

/** Claim options: worker "w" leases up to `max` nodes of queue `default` for `leaseMs` at `now`. */
const leaseOf = (max: number, leaseMs: number, now: number) => ({
  workerId: "w",
  queues: ["default"],
  max,
  leaseMs,
  now,
});

describe("bounded work", () => {
  it("lists a completion's whole cascade for drain when the call has no budget left, and drain finishes it", async () => {
    const prefix = "nobudget";
    const store = await RedisStore.connect(server.url, { prefix });
    const k = shardKeys(prefix, 0);
    const { runId } = await store.submit({
      runId: "r",
      dag: compile(chain(count.si(1), double.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    // a run of several nodes is written with its `rare` marker (no rare field set)
    expect(await raw.hget(k.run(runId).record, "rare")).toBe("0");
    const [c] = await store.claim(leaseOf(1, 10_000, 1));
    const complete = SCRIPTS.complete;
    const reply = complete.reply(
      await sendScript(
        store.redis,
        "complete",
        complete.keyList({ ...runScriptKeys(k, runId, ["default"]) }),
        complete.argList({
          runId,
          node: 0,
          token: c!.token,
          result: encode(1),
          now: 2,
          worker: "w",
          nextMax: 0,
          leaseMs: 10_000,
          served: ",1,",
          budget: 0,
          eventsMax: 10_000,
          span: "",
        }),
      ),
    );
    expect(reply).toMatchObject({ code: "OK", more: true });
    // the cascade of node 0, as drain reads it, and the run's field that says work is listed
    expect(await raw.lrange(k.run(runId).work, 0, -1)).toEqual(["D:0:1"]);
    expect(await raw.hget(k.run(runId).record, "wk")).toBe("1");
    // and the marker went with it: a chain step of the run reads `wk` again (shortCompletion)
    expect(await raw.hget(k.run(runId).record, "rare")).toBeNull();
    await store.maintain({ now: 10_000, queues: ["default"] });
    expect(await raw.exists(k.run(runId).work)).toBe(0);
    expect(await raw.hget(k.run(runId).record, "wk")).toBeNull();
    const [next] = await store.claim(leaseOf(1, 10_000, 10_001));
    expect(next).toMatchObject({ runId, nodeId: 1, deps: [{ ok: true }] });
    await store.close();
  });

  it("a claim and a completion of a run with no work listed (no `wk`) send no RPOP of its work list and no ZREM from the work set", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "nowork" });
    const client = createClient(store);
    const stats = async () => {
      const text = await raw.info("commandstats");
      const calls = (cmd: string) =>
        Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(text)?.[1] ?? 0);
      return { rpop: calls("rpop"), zrem: calls("zrem"), llen: calls("llen") };
    };
    const runs = await client.submitMany(Array.from({ length: 20 }, (_, i) => count.si(i)));
    const before = await stats();
    const claims = await store.claim(leaseOf(20, 60_000, Date.now()));
    expect(claims).toHaveLength(20);
    const replies = await store.completeMany!(
      claims.map((c) => ({ claim: c, result: encode(c.nodeId), nextMax: 0 })),
      { now: Date.now(), workerId: "w", queues: ["default"], leaseMs: 60_000 },
    );
    expect(replies.every((r) => r.ok)).toBe(true);
    const after = await stats();
    // the one ZREM per completion is its lease's
    expect(after).toEqual({ rpop: before.rpop, zrem: before.zrem + 20, llen: before.llen });
    for (const r of runs) expect(await r.result({ timeout: 5_000 })).toBeGreaterThanOrEqual(0);
    await store.close();
  });

  it("drains the work a run listed without `wk` (a version before 2026-12-03): maintenance finishes it", async () => {
    const prefix = "oldwork";
    const store = await RedisStore.connect(server.url, { prefix, budget: 1 });
    const k = shardKeys(prefix, 0);
    const { runId } = await store.submit({
      runId: "old",
      dag: compile(chain(count.si(1), group(double.s(), double.s(), double.s()))),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    (store as unknown as { drain: () => Promise<void> }).drain = () => Promise.resolve();
    const [c] = await store.claim(leaseOf(1, 10_000, 1));
    await store.complete(c!, encode(1), {
      now: 2,
      workerId: "w",
      queues: [],
      nextMax: 0,
      leaseMs: 10_000,
    });
    expect(await raw.llen(k.run(runId).work)).toBeGreaterThan(0);
    // as an older version leaves it: work listed, no `wk`
    await raw.hdel(k.run(runId).record, "wk");
    const first = await store.claim(leaseOf(10, 10_000, 3));
    expect(first.length).toBeLessThan(3);
    const rescuer = await RedisStore.connect(server.url, { prefix, budget: 1 });
    await rescuer.maintain({ now: 10_000, queues: ["default"] });
    for (let i = 0; i < 20 && (await raw.zscore(k.work, runId)) !== null; i++)
      await rescuer.maintain({ now: 20_000 + i, queues: ["default"] });
    const rest = await rescuer.claim(leaseOf(10, 100_000, 20_001));
    expect(first.length + rest.length).toBe(3);
    expect(await raw.exists(k.run(runId).work)).toBe(0);
    await store.close();
    await rescuer.close();
  });

  it("fans out in bounded steps and finishes every step", async () => {
    const store = await RedisStore.connect(server.url, {
      prefix: "budget",
      budget: 3,
      submitChunk: 4,
    });
    const client = createClient(store);
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      concurrency: 8,
      handlers: [handle(count, (n) => n), handle(double, (n) => n * 2)],
    });

    const wide = Array.from({ length: 40 }, () => double.s());
    const run = await client.submit(chain(count.si(3), group(...wide)));
    expect(await run.result({ timeout: 20_000 })).toEqual(Array(40).fill(6));
    await worker.stop();
    await store.close();
  });

  it("resumes leftover work when the caller that owned it died", async () => {
    const owner = await RedisStore.connect(server.url, { prefix: "orphan", budget: 2 });
    // the owner dies right after its first bounded step: it never drains
    (owner as unknown as { drain: () => Promise<void> }).drain = () => Promise.resolve();
    const dag = compile(chain(count.si(1), group(...Array.from({ length: 10 }, () => double.s()))));
    const sub = await owner.submit({
      runId: "orphan-run",
      dag,
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const [c] = await owner.claim({
      workerId: "a",
      queues: ["default"],
      max: 1,
      leaseMs: 1_000,
      now: 0,
    });
    await owner.complete(c!, encode(1), {
      now: 1,
      workerId: "a",
      queues: [],
      nextMax: 0,
      leaseMs: 1_000,
    });
    const rescuer = await RedisStore.connect(server.url, { prefix: "orphan", budget: 2 });
    const before = await rescuer.claim({
      workerId: "b",
      queues: ["default"],
      max: 20,
      leaseMs: 100_000,
      now: 2,
    });
    expect(before.length).toBeLessThan(10);
    await rescuer.maintain({ now: 10_000, queues: ["default"] });
    const after = await rescuer.claim({
      workerId: "b",
      queues: ["default"],
      max: 20,
      leaseMs: 100_000,
      now: 10_001,
    });
    expect(before.length + after.length).toBe(10);
    expect(
      (await rescuer.getRun(sub.runId))!.nodes.filter((n) => n.state === "running"),
    ).toHaveLength(10);
    await owner.close();
    await rescuer.close();
  });

  it("re-drives a 10,000-node failed run in bounded steps, resumed by maintenance when its caller died", async () => {
    const budget = 100;
    const owner = await RedisStore.connect(server.url, { prefix: "redrive", budget });
    const dag = compile(
      chain(count.si(1), group(...Array.from({ length: 10_000 }, () => double.s()))),
    );
    const sub = await owner.submit({
      runId: "wide",
      dag,
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const lease = (now: number) => ({
      workerId: "a",
      queues: ["default"],
      max: 1,
      leaseMs: 1_000,
      now,
    });
    const [c] = await owner.claim(lease(1));
    expect(
      (
        await owner.fail(
          c!,
          { tag: "Boom", message: "planned", retryable: false },
          { now: 2, retryAt: null },
        )
      ).ok,
    ).toBe(true);
    const states = async () => {
      const tally: Record<string, number> = {};
      for (const n of (await owner.getRun(sub.runId))!.nodes)
        tally[n.state] = (tally[n.state] ?? 0) + 1;
      return tally;
    };
    expect(await states()).toEqual({ failed: 1, skipped: 10_000 });
    expect((await owner.getRun(sub.runId))!.run.finishedAt).toBe(2);

    // the caller dies right after the first bounded step of its re-drive: it never drains
    const drain = (owner as unknown as { drain: unknown }).drain;
    (owner as unknown as { drain: () => Promise<void> }).drain = () => Promise.resolve();
    expect((await owner.redrive(sub.runId, { now: 3 })).ok).toBe(true);
    const first = await states();
    // one call re-drove at most `budget` nodes: the rest waits on the run's work list
    expect((first.waiting ?? 0) + (first.queued ?? 0)).toBeLessThanOrEqual(budget);
    expect(first.skipped).toBeGreaterThan(10_000 - budget);
    expect(await raw.llen(`redrive:{redrive:s00}:run:${sub.runId}:work`)).toBeGreaterThan(0);
    let run = (await owner.getRun(sub.runId))!.run;
    expect(run).toMatchObject({ status: "running", redrives: 1 });
    expect(run.finishedAt).toBeUndefined();

    (owner as unknown as { drain: unknown }).drain = drain;
    await owner.maintain({ now: 10_000, queues: ["default"] });
    expect(await states()).toEqual({ queued: 1, waiting: 10_000 });
    run = (await owner.getRun(sub.runId))!.run;
    expect(run).toMatchObject({ status: "running", ended: 0 });
    const [again] = await owner.claim(lease(10_001));
    expect(again).toMatchObject({ nodeId: 0, attempt: 1 });
    await owner.close();
  });

  it("a cancel during a re-drive's walk stops it: the run ends cancelled", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "redrivecancel", budget: 10 });
    const dag = compile(
      chain(count.si(1), group(...Array.from({ length: 200 }, () => double.s()))),
    );
    const sub = await store.submit({
      runId: "walk",
      dag,
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const [c] = await store.claim({
      workerId: "a",
      queues: ["default"],
      max: 1,
      leaseMs: 1_000,
      now: 1,
    });
    const boom = { tag: "Boom", message: "planned", retryable: false };
    expect((await store.fail(c!, boom, { now: 2, retryAt: null })).ok).toBe(true);
    const drain = (store as unknown as { drain: unknown }).drain;
    (store as unknown as { drain: () => Promise<void> }).drain = () => Promise.resolve();
    expect((await store.redrive(sub.runId, { now: 3 })).ok).toBe(true);
    (store as unknown as { drain: unknown }).drain = drain;
    expect((await store.getRun(sub.runId))!.run.status).toBe("running");
    expect(await store.cancel(sub.runId, { now: 4 })).toBe(true);
    const snap = (await store.getRun(sub.runId))!;
    expect(snap.run).toMatchObject({ status: "cancelled", ended: 201, finishedAt: 4 });
    expect(snap.nodes.some((n) => n.state === "cancelled")).toBe(true);
    expect(snap.nodes.filter((n) => n.state === "waiting" || n.state === "queued")).toEqual([]);
    expect(
      await store.claim({ workerId: "a", queues: ["default"], max: 10, leaseMs: 1_000, now: 5 }),
    ).toEqual([]);
    await store.close();
  });

  it("discards a submission that died before its commit: nothing of it runs", async () => {
    const store = await RedisStore.connect(server.url, {
      prefix: "abandon",
      submitChunk: 2,
      abandonAfterMs: 1_000,
    });
    const s = store as unknown as {
      script: (name: string, keys: string[], args: unknown[]) => Promise<unknown>;
    };
    const real = s.script.bind(store);
    s.script = (name, keys, args) =>
      name === "submit" && String(args[2]).includes("c")
        ? Promise.reject(new Error("producer died"))
        : real(name, keys, args);
    const dag = compile(group(count.si(1), count.si(2), count.si(3), count.si(4), count.si(5)));
    await expect(
      store.submit({
        runId: "half",
        dag,
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
      }),
    ).rejects.toThrow("producer died");
    expect(
      await store.claim({ workerId: "a", queues: ["default"], max: 10, leaseMs: 1_000, now: 1 }),
    ).toEqual([]);
    expect((await store.getRun("half"))?.run.status).toBe("pending");
    await store.maintain({ now: 5_000, queues: ["default"] });
    expect(await store.getRun("half")).toBeUndefined();
    expect(await raw.keys("abandon:*run:half*")).toEqual([]);
    await store.close();
  });

  it("leases more than 1,000 nodes of one queue in one claim: each once, in order, tokens one apart", async () => {
    // claim.lua takes one queue's nodes in one pop and leases them in ZADDs of at most 1,000
    const store = await RedisStore.connect(server.url, { prefix: "wideclaim" });
    const client = createClient(store);
    const runs = await client.submitMany(Array.from({ length: 1_500 }, (_, i) => count.si(i)));
    const claims = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 2_000,
      leaseMs: 60_000,
      now: Date.now(),
    });
    expect(claims.map((c) => c.runId)).toEqual(runs.map((r) => r.runId));
    const tokens = claims.map((c) => c.token);
    expect(tokens).toEqual(tokens.map((_, i) => tokens[0]! + i));
    const leases = shardKeys("wideclaim", 0).queue("default").leases;
    expect(await raw.zcount(leases, "-inf", "(+inf")).toBe(1_500);
    expect(await raw.zscore(leases, `${claims[1_499]!.runId}#0#${tokens[1_499]}`)).not.toBeNull();
    await store.close();
  });
});
