import { group, Schema, SubmitInterrupted, task } from "@weft/core";
import { compile, decodeHeaders, encodeHeaders } from "@weft/core/store";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });

describe("a submission interrupted on Redis", () => {
  it("is a SubmitInterrupted naming the run when the run is discarded between two of its chunks", async () => {
    const store = await RedisStore.connect(server.url, {
      prefix: "interrupted",
      submitChunk: 2,
      abandonAfterMs: 1_000,
    });
    const s = store as unknown as {
      script: (name: string, keys: string[], args: unknown[]) => Promise<unknown>;
    };
    const real = s.script.bind(store);
    let discarded = false;
    s.script = async (name, keys, args) => {
      // before the second chunk lands, maintenance takes the run for abandoned and discards it
      if (name === "submit" && !String(args[2]).includes("b") && !discarded) {
        discarded = true;
        await store.maintain({ now: 5_000, queues: ["default"] });
      }
      return real(name, keys, args);
    };
    const dag = compile(group(count.si(1), count.si(2), count.si(3), count.si(4), count.si(5)));
    const err = await store
      .submit({ runId: "cut", dag, tags: [], idempotencyWindowMs: 0, retentionMs: 60_000, now: 0 })
      .catch((e: unknown) => e);
    expect(discarded).toBe(true);
    expect(err).toBeInstanceOf(SubmitInterrupted);
    expect(err).toMatchObject({ _tag: "SubmitInterrupted", runId: "cut" });
    expect((err as Error).message).toBe(
      "the submission of run cut was interrupted: the run was gone while it was being written (discarded as abandoned, or lost by a Redis restart); submit it again",
    );
    expect(await store.getRun("cut")).toBeUndefined();
    await store.close();
  });
});

describe("submitMany on Redis", () => {
  const sub = (i: number) => ({
    runId: `m${String(i).padStart(3, "0")}`,
    dag: compile(count.si(i)),
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 60_000,
    now: i,
  });

  it("writes runs without keys in order, its batches sent without waiting for each other", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "many" });
    const s = store as unknown as {
      script: (name: string, keys: string[], args: unknown[]) => Promise<unknown>;
    };
    const real = s.script.bind(store);
    // the batches' calls in flight at once: more than one when they do not wait for each other
    let inFlight = 0;
    let most = 0;
    s.script = async (name, keys, args) => {
      if (name !== "submitmany") return real(name, keys, args);
      most = Math.max(most, ++inFlight);
      try {
        return await real(name, keys, args);
      } finally {
        inFlight--;
      }
    };
    const subs = Array.from({ length: 300 }, (_, i) => sub(i));
    const got = await store.submitMany(subs);
    expect(got).toEqual(subs.map((x) => ({ ok: true, runId: x.runId, existing: false })));
    expect(most).toBeGreaterThan(1);
    // claimed in submission order (arrival numbers), one run after another
    const claims = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 300,
      leaseMs: 10_000,
      now: 1_000,
    });
    expect(claims.map((c) => c.runId)).toEqual(subs.map((x) => x.runId));
    await store.close();
  });

  it("rejects with the failure of a batch in the middle once every batch sent is answered", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "manyfail" });
    const s = store as unknown as {
      script: (name: string, keys: string[], args: unknown[]) => Promise<unknown>;
    };
    const real = s.script.bind(store);
    let calls = 0;
    const answered: number[] = [];
    s.script = async (name, keys, args) => {
      if (name !== "submitmany") return real(name, keys, args);
      const call = ++calls;
      if (call === 2) throw new Error("batch 2 failed");
      const r = await real(name, keys, args);
      answered.push(call);
      return r;
    };
    const err = await store
      .submitMany(Array.from({ length: 300 }, (_, i) => sub(i)))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("batch 2 failed");
    // the batches after it were sent and answered before the call rejected
    expect(calls).toBeGreaterThan(2);
    expect(answered).toEqual([1, ...Array.from({ length: calls - 2 }, (_, i) => i + 3)]);
    // the first batch's runs exist, the failed one's do not
    expect(await store.getRun("m000")).toBeDefined();
    expect(await store.getRun(`m${String(64).padStart(3, "0")}`)).toBeUndefined();
    await store.close();
  });
});

describe("a run's headers on Redis", () => {
  it("are written once by the first of several chunks and handed back with every claim", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "headers", submitChunk: 2 });
    const dag = compile(group(count.si(1), count.si(2), count.si(3), count.si(4), count.si(5)));
    const headers = encodeHeaders({ tenant: "acme", ids: [1, 2] });
    await store.submit({
      runId: "h",
      dag,
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
      headers,
    });
    const claims = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 10,
      leaseMs: 10_000,
      now: 1,
    });
    expect(claims.map((c) => c.nodeId).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const c of claims)
      expect(decodeHeaders(c.headers)).toEqual({ tenant: "acme", ids: [1, 2] });
    await store.close();
  });
});
