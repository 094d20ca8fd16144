/**
 * Packed dependency lists on a real Redis (docs/redis-layout.md, field
 * `d<i>`): a wide chord body's list and spec are a few bytes, its results
 * still arrive in order, and a planted range that is not one of upstream ids
 * fails the node as a corrupt record. A node's result is kept after its
 * record (field `n<i>`); one an earlier version kept apart (`r<i>`) reads as
 * before.
 */
import {
  chord,
  createClient,
  group,
  handle,
  RunFailed,
  Schema,
  startWorker,
  task,
} from "@weft/core";
import { type Claim, decode, encode } from "@weft/core/store";
import { type Command, Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { nodeField } from "../src/Records.ts";
import { specApart, storedSpec } from "./fixtures/layout.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const total = task({
  name: "total",
  input: Schema.Array(Schema.Int),
  output: Schema.Array(Schema.Int),
});
/** Adds four members to its chord, one call each (counting n + 1 … n + 4), then answers n. */
const grow = task({ name: "grow", input: Schema.Int, output: Schema.Int });
const handlers = [
  handle(count, (n) => n),
  handle(total, (xs) => xs),
  handle(grow, async (n, ctx) => {
    for (const i of [1, 2, 3, 4]) await ctx.addToChord(count.si(n + i));
    return n;
  }),
];
const silent = pino({ level: "silent" });
let n = 0;
const runKey = (prefix: string, runId: string) => shardKeys(prefix, 0).run(runId).record;

/** A connection to `url` that records the fields of every HMGET it sends. */
const hmgetFields = (
  url: string,
): {
  readonly redis: Redis;
  readonly fields: string[];
  /** The most `HMGET`s sent and not answered yet at any moment. */
  readonly mostInFlight: () => number;
} => {
  const fields: string[] = [];
  let inFlight = 0;
  let most = 0;
  const redis = new Redis(url);
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Command, stream?: never) => {
    if (command.name === "hmget") {
      fields.push(...command.args.slice(1).map(String));
      inFlight += 1;
      most = Math.max(most, inFlight);
      command.promise.then(
        () => (inFlight -= 1),
        () => (inFlight -= 1),
      );
    }
    return send(command, stream);
  }) as typeof redis.sendCommand;
  return { redis, fields, mostInFlight: () => most };
};

/**
 * Rewrites node `id` of run `runId` as a version before 2026-12-05 kept it: its result apart,
 * in r<id>, and its spec in s<id>.
 */
const keepResultApart = async (key: string, id: number) => {
  await specApart(raw, key, id);
  const { record, result } = nodeField((await raw.hgetBuffer(key, `n${id}`))!);
  expect(result?.length).toBeGreaterThan(0);
  await raw.hset(key, `n${id}`, Buffer.from(record), `r${id}`, Buffer.from(result!));
};

/** A chord body's width past what a claim answers inline (256) and the worker's reads of 500, four in flight. */
const WIDE = 2_345;

describe("a node's result", () => {
  it.each([
    ["after its record", false],
    ["apart, as an earlier version kept it", true],
  ])(
    "is read %s: inline by a 3-wide body, by the worker for a 2,345-wide one (five reads of 500, four at a time), as a run's output",
    async (_what, apart) => {
      const prefix = `results${apart ? "apart" : "after"}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const opts = { workerId: "w", queues: ["default"], leaseMs: 30_000 };
      try {
        const client = createClient(store);
        const runs = [
          await client.submit(chord([count.si(0), count.si(1), count.si(2)], total.s())),
          await client.submit(
            chord(
              Array.from({ length: WIDE }, (_, i) => count.si(i)),
              total.s(),
            ),
          ),
          await client.submit(count.si(7)),
        ];
        // every member and the plain job, run by hand
        const claimed: Claim[] = [];
        while (claimed.length < WIDE + 4)
          claimed.push(...(await store.claim({ ...opts, max: 100, now: Date.now() })));
        const reports = await store.completeMany(
          claimed.map((claim) => ({ claim, result: encode(claim.spec.bound), nextMax: 0 })),
          { ...opts, now: Date.now() },
        );
        expect(reports.every((r) => r.ok)).toBe(true);
        const [small, wide, plain] = runs.map((r) => runKey(prefix, r.runId)) as [
          string,
          string,
          string,
        ];
        for (const [key, width] of [
          [small, 3],
          [wide, WIDE],
        ] as const) {
          expect(await raw.hexists(key, "r0")).toBe(0);
          if (apart) for (let i = 0; i < width; i++) await keepResultApart(key, i);
        }
        if (apart) await keepResultApart(plain, 0);
        expect(await store.getResult(runs[2]!.runId, 0)).toEqual(Buffer.from(encode(7)));
        expect(await runs[2]!.result()).toBe(7);
        const bodies: Claim[] = [];
        while (bodies.length < 2)
          bodies.push(...(await store.claim({ ...opts, max: 2, now: Date.now() })));
        for (const body of bodies) {
          const width = body.runId === runs[0]!.runId ? 3 : WIDE;
          expect(body.deps.map((d) => d.ok && decode(d.value))).toEqual(
            Array.from({ length: width }, (_, i) => i),
          );
        }
        const snap = (await store.getRun(runs[1]!.runId))!;
        expect(snap.nodes.slice(0, WIDE).every((node) => node.state === "succeeded")).toBe(true);
      } finally {
        await store.close();
      }
    },
  );
});

describe("packed dependency lists", () => {
  it.each([10, 1_000])(
    "a %i-wide chord body's list and spec are a few bytes; the body gets every result in order",
    async (width) => {
      const prefix = `deps${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const run = await client.submit(
        chord(
          Array.from({ length: width }, (_, i) => count.si(i * 3)),
          total.s(),
        ),
      );
      const key = runKey(prefix, run.runId);
      expect((await raw.hgetBuffer(key, `d${width}`))!.length).toBeLessThanOrEqual(8);
      expect((await storedSpec(raw, key, width))!.length).toBeLessThanOrEqual(64);
      const worker = startWorker({ store, handlers, logger: silent, concurrency: 8, idleMs: 100 });
      try {
        expect(await run.result({ timeout: 30_000 })).toEqual(
          Array.from({ length: width }, (_, i) => i * 3),
        );
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );

  it("members added to a chord extend its body's packed list and spec; the body gets their results after the declared ones", async () => {
    const prefix = `deps${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    // nodes 0-5 the header, 6 the body; grow (node 5) adds nodes 7-10
    const header = [...[0, 1, 2, 3, 4].map((i) => count.si(i)), grow.si(50)];
    const run = await client.submit(chord(header, total.s()));
    const key = runKey(prefix, run.runId);
    expect(decode((await raw.hgetBuffer(key, "d6"))!)).toEqual([[0, 5]]);
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
    try {
      expect(await run.result({ timeout: 20_000 })).toEqual([0, 1, 2, 3, 4, 50, 51, 52, 53, 54]);
      expect(decode((await raw.hgetBuffer(key, "d6"))!)).toEqual([
        [0, 5],
        [7, 10],
      ]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes[6]!.spec.deps).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10]);
      expect(snap.nodes.map((x) => x.state).every((st) => st === "succeeded")).toBe(true);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("a run's output shape is stored packed and read back whole", async () => {
    const prefix = `deps${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    const run = await client.submit(group(...[0, 1, 2, 3, 4, 5].map((i) => count.si(i * 2))));
    expect(decode((await raw.hgetBuffer(runKey(prefix, run.runId), "out"))!)).toEqual({
      list: [[0, 5]],
    });
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
    try {
      expect(await run.result({ timeout: 20_000 })).toEqual([0, 2, 4, 6, 8, 10]);
      expect((await store.getRun(run.runId))!.output).toEqual({ list: [0, 1, 2, 3, 4, 5] });
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it.each([
    ["past the run's last node", [[0, 50]]],
    ["holding the node itself", [[0, 3]]],
    ["ending off its step", [[0, 3, 2]]],
    ["going down", [[2, 0]]],
  ])(
    "a planted range %s fails the body as a corrupt record naming its field",
    async (_what, planted) => {
      const prefix = `deps${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const run = await client.submit(chord([count.si(1), count.si(2), count.si(3)], total.s()));
      const key = runKey(prefix, run.runId);
      await raw.hset(key, "d3", Buffer.from(encode(planted)));
      const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
      try {
        const err = (await run
          .result({ timeout: 20_000, waitForQuiet: true })
          .catch((e: unknown) => e)) as RunFailed;
        expect(err).toBeInstanceOf(RunFailed);
        expect(err.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
        expect(err.error?.message).toContain(`corrupt record: key ${key} field d3: entry 1 `);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.nodes.map((x) => x.state)).toEqual([
          "succeeded",
          "succeeded",
          "succeeded",
          "failed",
        ]);
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );

  it.each([
    ["no member recorded a span: results alone", undefined],
    ["a member recorded a span: results and span ids", "0123456789abcdef"],
  ])("a 2,345-wide body's dependencies are read by the worker, %s", async (_what, span) => {
    const prefix = `deps${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { redis, fields, mostInFlight } = hmgetFields(server.url);
    const worker = await RedisStore.connect(redis, { prefix });
    const opts = { workerId: "w", queues: ["default"], leaseMs: 30_000 };
    try {
      const run = await createClient(store).submit(
        chord(
          Array.from({ length: WIDE }, (_, i) => count.si(i)),
          total.s(),
        ),
      );
      const members: Claim[] = [];
      while (members.length < WIDE)
        members.push(...(await worker.claim({ ...opts, max: 100, now: Date.now() })));
      // the last member's completion carries the span, when there is one
      const items = members.map((claim) => ({
        claim,
        result: encode(claim.nodeId),
        nextMax: 0,
        ...(span !== undefined && claim.nodeId === WIDE - 1 ? { span } : {}),
      }));
      for (let from = 0; from < WIDE; from += 100) {
        const reports = await worker.completeMany(items.slice(from, from + 100), {
          ...opts,
          now: Date.now(),
        });
        expect(reports.every((r) => r.ok)).toBe(true);
      }
      // the run's marker: some node recorded a span id
      expect(await raw.hget(runKey(prefix, run.runId), "tr")).toBe(span === undefined ? null : "1");
      fields.length = 0;
      const [body] = await worker.claim({ ...opts, max: 1, now: Date.now() });
      expect(body!.nodeId).toBe(WIDE);
      expect(body!.deps.map((d) => d.ok && decode(d.value))).toEqual(
        Array.from({ length: WIDE }, (_, i) => i),
      );
      expect(body!.depSpans).toEqual(
        span === undefined ? undefined : [...Array(WIDE - 1).fill(""), span],
      );
      // (the worker's own reads: its claim is a script, its HMGETs are the dependencies'
      // records, each result after its record, and nothing more)
      expect(fields.filter((f) => f.startsWith("n"))).toHaveLength(WIDE);
      expect(fields.filter((f) => f.startsWith("r") || f.startsWith("e"))).toHaveLength(0);
      expect(fields.filter((f) => f.startsWith("t"))).toHaveLength(span === undefined ? 0 : WIDE);
      // five reads of 500, at most four of them in flight at once
      expect(mostInFlight()).toBe(4);
    } finally {
      await worker.close();
      await store.close();
      redis.disconnect();
    }
  });
});
