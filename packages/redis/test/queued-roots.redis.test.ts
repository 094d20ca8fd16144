/**
 * Roots written queued (Records.ts `leadingRoots`, submit.lua's `queued`,
 * the walk `P` in lua/includes/cascade.lua): a run written in several
 * chunks whose first nodes are roots with one record (a wide chord's
 * members) has them written queued, and its commit and `drain` put them in
 * their queue without reading their records. Each test does the same work
 * on such a run written in chunks and on the same run written in one call
 * (its roots walked one by one, "R"), on an emptied Redis, and compares
 * every key the two leave: the records, the ready set and its order, the
 * events, the run's fields.
 */
import { chord, Schema, task } from "@weft/core";
import { compile, encode } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";
import { snapshot } from "./fixtures/snapshot.ts";

const member = task({ name: "member", input: Schema.Int, output: Schema.Int });
const urgent = task({ name: "urgent", input: Schema.Int, output: Schema.Int, priority: 9 });
const body = task({ name: "body", input: Schema.Array(Schema.Int), output: Schema.Int });

/** A chord of `n` members (and `other` members of another task after the first 600) and its body. */
const wide = (n: number, other = 0) =>
  compile(
    chord(
      [
        ...Array.from({ length: Math.min(n, 600) }, (_, i) => member.si(i)),
        ...Array.from({ length: other }, (_, i) => urgent.si(i)),
        ...Array.from({ length: Math.max(0, n - 600) }, (_, i) => member.si(600 + i)),
      ],
      body.s(),
    ),
  );

const prefix = "qr";
const k = shardKeys(prefix, 0);
const leasing = { workerId: "w", queues: ["default"], leaseMs: 60_000 };

/**
 * Submits `dag` as run "r" at time 0 on an emptied Redis, in chunks of 250 nodes (`chunked`)
 * or in one call, its `drain` calls left undone when `draining` is false (the work stays
 * listed), then acts with `act`; every key then.
 */
const run = async (
  dag: ReturnType<typeof compile>,
  chunked: boolean,
  draining: boolean,
  act: (store: RedisStore) => Promise<void> = async () => {},
) => {
  await raw.flushall();
  const store = await RedisStore.connect(server.url, {
    prefix,
    submitChunk: chunked ? 250 : 100_000,
  });
  if (!draining) Reflect.set(store, "drain", async () => {});
  await store.submit({
    runId: "r",
    dag,
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 60_000,
    now: 0,
    nonce: "abcdef",
  });
  const listed = await raw.lrange(k.run("r").work, 0, -1);
  const pq = (await raw.hexists(k.run("r").record, "pq")) === 1;
  if (!draining) Reflect.deleteProperty(store, "drain");
  await act(store);
  const keys = await snapshot();
  await store.close();
  // (a run written in chunks keeps when its commit started it, `started`; one written in one
  // call is started when created, and keeps none: the one difference between the two ways;
  // and a cancel's request id, `cancelreq`, is new at each call)
  const record = keys[k.run("r").record] as { value: Array<[string, Buffer]> };
  record.value = record.value.filter(([field]) => field !== "started" && field !== "cancelreq");
  return { keys, listed, pq };
};

/** Run "r" as a store reads it now. */
const runR = async () => {
  const store = await RedisStore.connect(server.url, { prefix });
  try {
    return await store.getRun("r");
  } finally {
    await store.close();
  }
};

/** The HGET and HMGET commands Redis ran so far, in scripts too. */
const hashReads = async (): Promise<number> => {
  const text = await raw.info("commandstats");
  const calls = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(text)?.[1] ?? 0);
  return calls("hget") + calls("hmget");
};

/** What a run written in chunks and the same run written in one call leave; and what the chunked one had listed. */
const both = async (
  dag: ReturnType<typeof compile>,
  draining: boolean,
  act?: (store: RedisStore) => Promise<void>,
) => {
  const chunked = await run(dag, true, draining, act);
  const whole = await run(dag, false, draining, act);
  return { chunked, whole };
};

describe("roots written queued", () => {
  it("a wide chord's members are queued, recorded and claimed as when its roots are walked one by one", async () => {
    const dag = wide(1_300);
    const { chunked, whole } = await both(dag, true, async (store) => {
      // two claims and a completion: the records the walk did not write read back as queued
      const claims = await store.claim({ ...leasing, max: 300, now: 1 });
      expect(claims.map((c) => c.nodeId)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      const done = await store.completeMany!(
        claims.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 0 })),
        { ...leasing, now: 2 },
      );
      expect(done.every((r) => r.ok)).toBe(true);
    });
    expect(chunked.keys).toEqual(whole.keys);
    // (the members left queued: 1,000 of them in the ready set, in order)
    expect(await raw.zcard(k.queue("default").ready)).toBe(1_000);
  });

  it("are walked without their records while the run is running: `P` listed, and `pq` kept until the walk is past them", async () => {
    const dag = wide(1_300);
    const { chunked, whole } = await both(dag, false);
    // the commit queued 250 (a budget of 500, two units a node): the rest listed for drain
    expect(chunked.listed).toEqual(["P:250:1299"]);
    expect(chunked.pq).toBe(true);
    expect(whole.listed).toEqual(["R:250"]);
    expect(whole.pq).toBe(false);
    // drained: the same keys, `pq` gone; the chunked run's 1,050 members queued by `drain`
    // without a read of their records (a read of the run's `pq` per call: one each, not
    // 1,050, as the walk would read them without `pq`)
    const reads: number[] = [];
    const drained = await both(dag, false, async (store) => {
      const before = await hashReads();
      await store.maintain({ now: 60_000, queues: ["default"] });
      reads.push((await hashReads()) - before);
    });
    expect(drained.chunked.keys).toEqual(drained.whole.keys);
    expect(reads[0]).toBeLessThan(20);
    expect(await raw.hexists(k.run("r").record, "pq")).toBe(0);
    expect(await raw.zcard(k.queue("default").ready)).toBe(1_300);
  });

  it("stop at the first root of another record: the walk reads the rest one by one", async () => {
    const dag = wide(900, 5);
    const { chunked, whole } = await both(dag, false, async (store) => {
      await store.maintain({ now: 60_000, queues: ["default"] });
    });
    expect(chunked.listed).toEqual(["P:250:599"]);
    expect(chunked.keys).toEqual(whole.keys);
    // the five urgent members first in the ready set (priority 9), then the others in order
    const ready = await raw.zrange(k.queue("default").ready, "0", "-1");
    expect(ready.slice(0, 6)).toEqual([...[600, 601, 602, 603, 604].map((i) => `r#${i}`), "r#0"]);
  });

  it("a cancel before the drain ends them cancelled, as the walk one by one does", async () => {
    const { chunked, whole } = await both(wide(1_300), false, async (store) => {
      expect(await store.cancel("r", { now: 10 })).toBe(true);
      await store.maintain({ now: 60_000, queues: ["default"] });
    });
    expect(chunked.keys).toEqual(whole.keys);
    const snap = await runR();
    expect(snap?.run.status).toBe("cancelled");
    expect(new Set(snap?.nodes.map((n) => n.state))).toEqual(new Set(["cancelled"]));
  });

  it("a run failed before the drain leaves those not queued waiting, as the walk one by one does", async () => {
    const { chunked, whole } = await both(wide(1_300), false, async (store) => {
      const [first] = await store.claim({ ...leasing, max: 1, now: 1 });
      const failed = await store.fail(
        first!,
        { tag: "HandlerError", message: "boom", retryable: false },
        { now: 2, retryAt: null },
      );
      expect(failed.ok).toBe(true);
      await store.maintain({ now: 60_000, queues: ["default"] });
    });
    expect(chunked.keys).toEqual(whole.keys);
    const snap = await runR();
    expect(snap?.run.status).toBe("failed");
    // the 249 the commit queued after the failed one stay queued; the 1,050 listed, waiting
    const states = snap?.nodes.slice(0, 1_300).map((n) => n.state) ?? [];
    expect(states.filter((s) => s === "queued")).toHaveLength(249);
    expect(states.filter((s) => s === "waiting")).toHaveLength(1_050);
  });
});
