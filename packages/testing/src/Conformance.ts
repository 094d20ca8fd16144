/**
 * The conformance suite every store must pass (STYLE.md: one suite, every
 * store). Call it from a vitest file with a factory that returns a fresh,
 * empty store; the suite covers chains, groups, chords, nested canvases,
 * failures and skipped dependents, chord result order, fenced completions,
 * lease expiry and re-delivery, retries, settled groups, cancellation,
 * idempotent submission, and a model-based property: any random canvas
 * under any random fault plan ends in the same state on this store as on
 * the in-memory model.
 *
 * @since 0.1.0
 */
import { fc, test } from "@fast-check/vitest";
import {
  attemptHistory,
  type BoundHandler,
  chain,
  chord,
  compile,
  createClient,
  DuplicateRun,
  decode,
  encode,
  group,
  handle,
  NonRetryableError,
  RunFailed,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { anyTask, arbCanvas, arbPlan } from "./Arbitraries.ts";
import { drive, normalize } from "./Drive.ts";
import { MemoryStore } from "./MemoryStore.ts";

/** Makes a fresh, empty store for one test. */
export type StoreFactory = () => Promise<Store>;

/**
 * Makes node `nodeId`'s stored record unreadable in a store made by the
 * factory (the Redis test writes garbage into the hash field, the in-memory
 * store has a test hook), so that the suite can check that a corrupt record
 * fails only its own node and run.
 */
export type Tamper = (store: Store, runId: string, nodeId: number) => Promise<void>;

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const boom = task({
  name: "boom",
  input: Schema.String,
  output: Schema.Int,
  retry: { maxAttempts: 1 },
});
const tag = task({
  name: "tag",
  input: Schema.Struct({ label: Schema.String, n: Schema.Int }),
  output: Schema.String,
});
const labels = task({ name: "labels", input: Schema.Unknown, output: Schema.Unknown });

const handlers: ReadonlyArray<BoundHandler> = [
  handle(add, async ({ a, b }) => a + b),
  handle(sum, async (xs) => xs.reduce((x, y) => x + y, 0)),
  handle(inc, (n) => n + 1),
  handle(boom, async (why) => {
    throw new NonRetryableError(why);
  }),
  handle(tag, async ({ label, n }) => `${label}${n}`),
  handle(labels, async (x) => x),
];

const silent = pino({ level: "silent" });

/**
 * Registers the conformance suite for a store.
 *
 * @param name shown in the test names.
 * @param makeStore returns a fresh store; it is closed after each test.
 * @param opts.runs number of random cases in the property test (default 25;
 *   `WEFT_PROPERTY_RUNS` overrides).
 * @param opts.tamper corrupts a node's stored record; without it the
 *   corruption tests are left out and the property never corrupts a record.
 */
export const storeConformance = (
  name: string,
  makeStore: StoreFactory,
  opts: { readonly runs?: number; readonly tamper?: Tamper } = {},
): void => {
  const open: Store[] = [];
  const fresh = async () => {
    const s = await makeStore();
    open.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  const withWorker = async <T>(
    fn: (client: ReturnType<typeof createClient>, store: Store) => Promise<T>,
  ) => {
    const store = await fresh();
    const worker = startWorker({
      store,
      handlers,
      logger: silent,
      concurrency: 4,
      leaseMs: 5_000,
      idleMs: 200,
    });
    try {
      return await fn(createClient(store), store);
    } finally {
      await worker.stop();
    }
  };

  describe(`${name}: canvases`, () => {
    it("runs a chain, each step receiving the previous output", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(
          chain(add.si({ a: 1, b: 1 }), inc.s(), inc.s(), tag.s({ label: "n=" })),
        );
        expect(await run.result({ timeout: 20_000 })).toBe("n=4");
      });
    });

    it("runs a group, outputs in declaration order", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(
          group(add.si({ a: 1, b: 0 }), add.si({ a: 2, b: 0 }), add.si({ a: 3, b: 0 })),
        );
        expect(await run.result({ timeout: 20_000 })).toEqual([1, 2, 3]);
      });
    });

    it("runs nested canvases: a chain of groups, a chord of chains, a group of chords", async () => {
      await withWorker(async (client) => {
        const canvas = group(
          chain(add.si({ a: 1, b: 2 }), group(inc.s(), chain(inc.s(), inc.s()))),
          chord([chain(add.si({ a: 10, b: 0 }), inc.s()), add.si({ a: 20, b: 0 })], sum.s()),
          chord([chord([add.si({ a: 1, b: 1 }), add.si({ a: 2, b: 2 })], sum.s())], sum.s()),
        );
        const run = await client.submit(canvas);
        expect(await run.result({ timeout: 20_000 })).toEqual([[4, 5], 31, 6]);
      });
    });

    it("fails a node for good: dependents skipped with the reason, run failed", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(chain(boom.si("no account"), inc.s(), inc.s()));
        const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunFailed);
        expect((err as RunFailed).error?.message).toBe("no account");
        // the skip cascade runs in the same transition as the failure: every node has ended
        const snap = await client.get(run.runId);
        expect(snap.nodes.map((n) => n.state)).toEqual(["failed", "skipped", "skipped"]);
        expect(snap.nodes[1]!.error?.message).toBe("upstream node 0 (boom) failed");
        expect(snap.nodes[2]!.error?.message).toBe("upstream node 1 (inc) skipped");
        expect(snap.run).toMatchObject({ status: "failed", failedNode: 0, ended: 3 });
      });
    });

    it("hands a settled chord body each member's { ok, value | error }", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(
          chord(group(add.si({ a: 1, b: 1 }), boom.si("bad member")).settled(), labels.s()),
        );
        expect(await run.result({ timeout: 20_000 })).toEqual([
          { ok: true, value: 2 },
          { ok: false, error: { tag: "NonRetryableError", message: "bad member" } },
        ]);
      });
    });
  });

  describe(`${name}: bad input never crashes a worker`, () => {
    const ghost = task({ name: "ghost", input: Schema.Int, output: Schema.Int });
    const throwsString = task({
      name: "throws-string",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 1 },
    });
    const badOutput = task({ name: "bad-output", input: Schema.Int, output: Schema.Int });
    const extra: ReadonlyArray<BoundHandler> = [
      ...handlers,
      handle(throwsString, async () => {
        throw "not an Error";
      }),
      handle(badOutput, async () => "forty-two" as unknown as number),
    ];
    const failsWith = async (canvas: Parameters<ReturnType<typeof createClient>["submit"]>[0]) => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: extra,
        logger: silent,
        concurrency: 2,
        idleMs: 200,
      });
      try {
        const client = createClient(store);
        const bad = await client.submit(canvas);
        const err = (await bad.result({ timeout: 20_000 }).catch((e: unknown) => e)) as RunFailed;
        // the same worker goes on serving other runs
        const good = await client.submit(chain(add.si({ a: 2, b: 3 }), inc.s()));
        expect(await good.result({ timeout: 20_000 })).toBe(6);
        const snap = await client.get(bad.runId);
        return { err, node: snap.nodes[0]! };
      } finally {
        await worker.stop();
      }
    };

    it("fails a node whose task has no handler, non-retryable, naming the task", async () => {
      const { err, node } = await failsWith(ghost.si(1));
      expect(err).toBeInstanceOf(RunFailed);
      expect(node).toMatchObject({ state: "failed", attempts: 1 });
      expect(node.error).toMatchObject({ tag: "UnknownTask", retryable: false });
      expect(node.error?.message).toMatch(/no handler for task "ghost"/);
    });

    it("fails a node whose handler throws a non-Error value, with a readable reason", async () => {
      const { node } = await failsWith(throwsString.si(1));
      expect(node.error).toMatchObject({
        tag: "NonErrorThrown",
        message: 'handler threw a non-Error value: "not an Error"',
      });
    });

    it("fails a node whose result does not match the output schema, non-retryable", async () => {
      const { node } = await failsWith(badOutput.si(1));
      expect(node).toMatchObject({ state: "failed", attempts: 1 });
      expect(node.error?.tag).toBe("InvalidOutput");
      expect(node.error?.message).toMatch(/Expected number \(got "forty-two"\)/);
    });
  });

  describe(`${name}: worker runtime`, () => {
    const hold = task({ name: "hold", input: Schema.Int, output: Schema.Int });

    it("keeps the lease of a long handler by heartbeat: no re-delivery, no stall", async () => {
      const store = await fresh();
      const work = (ms: number) => new Promise((r) => setTimeout(r, ms));
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      const busy = startWorker({
        store,
        logger: silent,
        leaseMs: 1_000,
        heartbeatMs: 100,
        handlers: [
          handle(hold, async (n) => {
            started();
            for (let i = 0; i < 6; i++) await work(500); // 3 s of work: three leases long
            return n;
          }),
        ],
      });
      const run = await createClient(store).submit(hold.si(7));
      await running;
      // a second worker reaps expired leases every 50 ms and would take the node over
      const rival = startWorker({
        store,
        logger: silent,
        leaseMs: 200,
        handlers: [handle(hold, async (n) => -n)],
      });
      expect(await run.result({ timeout: 20_000 })).toBe(7);
      const node = (await store.getRun(run.runId))!.nodes[0]!;
      expect(node).toMatchObject({ attempts: 1, stalls: 0, worker: busy.id, history: [] });
      await Promise.all([busy.stop(), rival.stop()]);
    });

    it("stops gracefully: a handler past the grace period is aborted and its node released, not counted", async () => {
      const store = await fresh();
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      const stuck = startWorker({
        store,
        logger: silent,
        handlers: [
          handle(hold, (_n, ctx) => {
            started();
            return new Promise<number>((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            );
          }),
        ],
      });
      const client = createClient(store);
      const run = await client.submit(hold.si(5));
      await running;
      await stuck.stop(10);
      expect((await store.getRun(run.runId))!.nodes[0]).toMatchObject({
        state: "queued",
        attempts: 0,
        stalls: 0,
      });
      const next = startWorker({
        store,
        logger: silent,
        handlers: [handle(hold, async (n) => n * 2)],
      });
      expect(await run.result({ timeout: 20_000 })).toBe(10);
      expect((await store.getRun(run.runId))!.nodes[0]).toMatchObject({
        attempts: 1,
        worker: next.id,
      });
      await next.stop();
    });
  });

  describe(`${name}: contract`, () => {
    const one = {
      node: { kind: "sig", task: anyTask, bind: { kind: "immutable" }, bound: null, options: {} },
    } as const;
    const plain = { outcomes: [], batch: 8, reverse: false, chainNext: false };

    it("delivers a chord body its header's results in declaration order, whatever the completion order", async () => {
      const store = await fresh();
      const header = Array.from({ length: 6 }, () => one);
      const r = await drive(store, chord(header, one), { ...plain, reverse: true });
      expect(r.snapshot.run.status).toBe("succeeded");
      expect(r.snapshot.nodes.map((n) => n.state)).toEqual(Array(7).fill("succeeded"));
    });

    it("rejects a second completion and a completion from an expired, re-delivered lease", async () => {
      const store = await fresh();
      const dag = { node: chain(one, one).node };
      const sub = await store.submit({
        runId: "fenced",
        dag: compile(dag),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
      });
      const [first] = await store.claim({
        workerId: "a",
        queues: ["default"],
        max: 1,
        leaseMs: 1_000,
        now: 0,
      });
      expect(first?.attempt).toBe(1);
      expect((await store.maintain({ now: 1_500, queues: ["default"] })).redelivered).toBe(1);
      const [second] = await store.claim({
        workerId: "b",
        queues: ["default"],
        max: 1,
        leaseMs: 1_000,
        now: 1_500,
      });
      expect(second!.token).toBeGreaterThan(first!.token);
      expect(second!.attempt).toBe(2);
      const opts = { now: 1_600, workerId: "a", queues: ["default"], nextMax: 0, leaseMs: 1_000 };
      expect(await store.complete(first!, encode("stale"), opts)).toEqual({
        ok: false,
        reason: "stale",
      });
      expect((await store.complete(second!, encode("fresh"), opts)).ok).toBe(true);
      // the same report again is a replay: nothing is recorded twice
      expect(await store.complete(second!, encode("twice"), opts)).toEqual({
        ok: true,
        next: [],
        replayed: true,
      });
      expect(await store.complete(first!, encode("stale again"), opts)).toEqual({
        ok: false,
        reason: "stale",
      });
      expect(decode((await store.getResult(sub.runId, 0))!)).toBe("fresh");
      const snap = await store.getRun(sub.runId);
      expect(snap!.nodes[0]).toMatchObject({
        state: "succeeded",
        attempts: 2,
        stalls: 1,
        worker: "b",
      });
      expect(attemptHistory(snap!.nodes[0]!)).toEqual([
        { attempt: 1, worker: "a", startedAt: 0, endedAt: 1_500, outcome: "stalled" },
        { attempt: 2, worker: "b", startedAt: 1_500, endedAt: 1_600, outcome: "succeeded" },
      ]);
    });

    it("fails a node that stalls more than maxStalls times, with a reason that says so", async () => {
      const store = await fresh();
      const r = await drive(store, chain(one, one), { ...plain, outcomes: [["crash", "crash"]] });
      expect(r.snapshot.nodes.map((n) => n.state)).toEqual(["failed", "skipped"]);
      expect(r.snapshot.nodes[0]!.error?.tag).toBe("Stalled");
      expect(r.snapshot.nodes[0]!.error?.message).toMatch(/lease expired 2 times \(maxStalls 1\)/);
    });

    it("retries: a retried node waits for its backoff, then runs again with its attempt count persisted", async () => {
      const store = await fresh();
      const r = await drive(store, one, { ...plain, outcomes: [["retry", "retry"]] });
      expect(r.snapshot.nodes[0]).toMatchObject({ state: "succeeded", attempts: 3, stalls: 0 });
      expect(
        r.snapshot.nodes[0]!.history.map((h) => [h.attempt, h.outcome, h.error?.message]),
      ).toEqual([
        [1, "failed", "planned retry of node 0"],
        [2, "failed", "planned retry of node 0"],
      ]);
    });

    it("releases a node on graceful shutdown without counting the attempt", async () => {
      const store = await fresh();
      const sub = await store.submit({
        runId: "rel",
        dag: compile(one),
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
        now: 0,
      });
      await store.release(c!, { now: 1 });
      const [again] = await store.claim({
        workerId: "b",
        queues: ["default"],
        max: 1,
        leaseMs: 1_000,
        now: 2,
      });
      expect(again).toMatchObject({ nodeId: 0, attempt: 1 });
      const node = (await store.getRun(sub.runId))!.nodes[0]!;
      expect(node.stalls).toBe(0);
      expect(node.history).toEqual([
        { attempt: 1, worker: "a", startedAt: 0, endedAt: 1, outcome: "released" },
      ]);
    });

    it("cancels a run: queued nodes cancelled, running handlers told by heartbeat", async () => {
      const store = await fresh();
      const sub = await store.submit({
        runId: "cancel-me",
        dag: compile(chord([one, one, one], one)),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
      });
      const [running] = await store.claim({
        workerId: "a",
        queues: ["default"],
        max: 1,
        leaseMs: 1_000,
        now: 0,
      });
      expect(await store.cancel(sub.runId, { now: 5 })).toBe(true);
      expect(await store.cancel(sub.runId, { now: 6 })).toBe(false);
      expect(await store.heartbeat([running!], { now: 7, leaseMs: 1_000 })).toEqual(["cancelled"]);
      expect(
        await store.claim({ workerId: "a", queues: ["default"], max: 5, leaseMs: 1_000, now: 8 }),
      ).toEqual([]);
      const r = await store.fail(
        running!,
        { tag: "Cancelled", message: "run cancelled", retryable: false },
        { now: 9, retryAt: 10 },
      );
      expect(r.ok).toBe(true);
      const snap = (await store.getRun(sub.runId))!;
      expect(snap.run.status).toBe("cancelled");
      expect(snap.run.finishedAt).toBe(9);
      expect(snap.nodes.map((n) => n.state)).toEqual([
        "cancelled",
        "cancelled",
        "cancelled",
        "cancelled",
      ]);
    });

    it("refuses a run id that already exists for another canvas, leaving the first run untouched", async () => {
      const store = await fresh();
      const base = {
        dag: compile(one),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
      };
      const first = await store.submit({ ...base, runId: "taken" });
      const other = { ...base, runId: "taken", dag: compile(chain(one, one)) };
      await expect(store.submit(other)).rejects.toBeInstanceOf(DuplicateRun);
      const snap = (await store.getRun(first.runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual(["queued"]);
    });

    it("returns the existing run for a repeated idempotency key", async () => {
      const store = await fresh();
      const base = {
        dag: compile(one),
        tags: [],
        idempotencyKey: "order-42",
        idempotencyWindowMs: 60_000,
        retentionMs: 60_000,
        now: 0,
      };
      const a = await store.submit({ ...base, runId: "first" });
      const b = await store.submit({ ...base, runId: "second" });
      expect(a.existing).toBe(false);
      expect(b).toEqual({ runId: a.runId, existing: true });
    });

    it("locks fence: a held lock refuses other owners until it expires; every acquisition gets a greater token", async () => {
      const store = await fresh();
      const a = await store.acquireLock("printer", "a", 1_000, 0);
      expect(a).toBeGreaterThan(0);
      expect(await store.acquireLock("printer", "b", 1_000, 500)).toBeUndefined();
      expect(await store.renewLock("printer", "a", a!, 1_000, 900)).toBe(true); // now held until 1 900
      expect(await store.acquireLock("printer", "b", 1_000, 1_500)).toBeUndefined();
      const b = await store.acquireLock("printer", "b", 1_000, 1_900); // expired: b takes it
      expect(b).toBeGreaterThan(a!);
      expect(await store.renewLock("printer", "a", a!, 1_000, 2_000)).toBe(false); // a lost it
      await store.releaseLock("printer", "a", a!); // a stale release does nothing
      expect(await store.acquireLock("printer", "c", 1_000, 2_000)).toBeUndefined();
      await store.releaseLock("printer", "b", b!);
      expect(await store.acquireLock("printer", "c", 1_000, 2_001)).toBeGreaterThan(b!);
      expect(await store.acquireLock("scanner", "a", 1_000, 2_001)).toBeGreaterThan(0);
    });

    test.prop(
      [
        fc.array(
          fc.record({
            op: fc.constantFrom("acquire", "renew", "release"),
            owner: fc.constantFrom("a", "b", "c"),
            ttl: fc.integer({ min: 1, max: 1_000 }),
            advance: fc.integer({ min: 0, max: 600 }),
          }),
          { maxLength: 40 },
        ),
      ],
      { numRuns: 20 },
    )(
      "locks: at most one unexpired holder at any time, tokens strictly increasing",
      async (ops) => {
        const store = await fresh();
        const name = `lock-${Math.random().toString(36).slice(2)}`;
        let now = 0;
        let last = 0;
        const mine = new Map<string, number>();
        let holder: { owner: string; token: number; until: number } | undefined;
        for (const o of ops) {
          now += o.advance;
          const live = holder && holder.until > now ? holder : undefined;
          if (o.op === "acquire") {
            const t = await store.acquireLock(name, o.owner, o.ttl, now);
            expect(t === undefined).toBe(live !== undefined && live.owner !== o.owner);
            if (t !== undefined) {
              expect(t).toBeGreaterThan(last);
              last = t;
              mine.set(o.owner, t);
              holder = { owner: o.owner, token: t, until: now + o.ttl };
            }
          } else if (o.op === "renew") {
            const t = mine.get(o.owner) ?? 0;
            const ok = await store.renewLock(name, o.owner, t, o.ttl, now);
            expect(ok).toBe(live !== undefined && live.owner === o.owner && live.token === t);
            if (ok) holder = { owner: o.owner, token: t, until: now + o.ttl };
          } else {
            const t = mine.get(o.owner) ?? 0;
            await store.releaseLock(name, o.owner, t);
            if (holder && holder.owner === o.owner && holder.token === t) holder = undefined;
          }
        }
      },
    );

    it("records a result under a task's idempotency key until it expires", async () => {
      const store = await fresh();
      expect(await store.getMemo("charge", "order-1", 0)).toBeUndefined();
      await store.putMemo("charge", "order-1", encode({ id: "ch_1" }), 1_000, 0);
      expect(decode((await store.getMemo("charge", "order-1", 999))!)).toEqual({ id: "ch_1" });
      expect(await store.getMemo("charge", "order-2", 999)).toBeUndefined();
      expect(await store.getMemo("refund", "order-1", 999)).toBeUndefined();
      expect(await store.getMemo("charge", "order-1", 1_000)).toBeUndefined();
    });

    const runs = Number(process.env.WEFT_PROPERTY_RUNS ?? opts.runs ?? 25);
    const tamper = opts.tamper;
    test.prop([arbCanvas({ queues: ["default", "other"] }), arbPlan()], { numRuns: runs })(
      "ends every random canvas under any fault plan (re-sent calls, a cancel, a corrupt record) in the same state as the in-memory model",
      async (canvas, plan) => {
        const store = await fresh();
        const model = new MemoryStore();
        const got = await drive(store, canvas, plan, "prop", {
          ...(tamper ? { tamper: (runId, nodeId) => tamper(store, runId, nodeId) } : {}),
        });
        const want = await drive(model, canvas, plan, "prop", {
          ...(tamper
            ? { tamper: async (runId, nodeId) => model.corruptNodeRecord(runId, nodeId) }
            : {}),
        });
        expect(normalize(got.snapshot)).toEqual(normalize(want.snapshot));
        await model.close();
      },
    );
  });
};
