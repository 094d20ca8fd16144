/**
 * The conformance suite's part on batch submission (`Store.submitMany`,
 * `Client.submitMany`): one entry per submission in order, each run written
 * and run as `submit` writes it, run ids, idempotency keys and re-sent
 * calls judged run by run, a refused run leaving the others written, runs
 * larger than a store's batch among small ones, and `[]` for no
 * submissions; on the client (`submitMany`, `submitManyByName`), a refused
 * canvas, item or option names its index
 * (and the field path) before anything is written. A property: any list
 * of submissions answers as the same submissions sent one by one with
 * `submit` to a fresh store. Registered by `storeConformance`.
 */
import { fc, test } from "@fast-check/vitest";
import {
  chain,
  createClient,
  group,
  handle,
  InvalidInput,
  InvalidSubmitOptions,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { compile, type Submission, type SubmitManyResult } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "./internal/properties.ts";

const T0 = Date.UTC(2026, 0, 1);

const double = task({
  name: "many.double",
  queue: "many",
  input: Schema.Struct({ n: Schema.Int }),
  output: Schema.Int,
});
const plus = task({ name: "many.plus", queue: "many", input: Schema.Int, output: Schema.Int });

const submission = (
  runId: string,
  n: number,
  more: Partial<Submission> = {},
  length = 1,
): Submission => ({
  runId,
  dag: compile(
    length === 1 ? double.si({ n }) : group(...Array.from({ length }, () => double.si({ n }))),
  ),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now: T0,
  ...more,
});

/** An entry as the tests compare it: ok with existing, or the error's tag (run ids aside). */
const outcome = (r: SubmitManyResult) =>
  r.ok ? { ok: true, existing: r.existing } : { ok: false, error: r.error._tag };

/** Leases every ready node of the `many` queue and completes it with `0`; their run ids. */
const runAll = async (store: Store): Promise<string[]> => {
  const done: string[] = [];
  for (;;) {
    const claims = await store.claim({
      workerId: "w",
      queues: ["many"],
      max: 100,
      leaseMs: 60_000,
      now: T0 + 1,
    });
    if (claims.length === 0) return done;
    for (const c of claims) {
      const r = await store.complete(c, new Uint8Array([0]), {
        now: T0 + 2,
        workerId: "w",
        queues: ["many"],
        nextMax: 0,
        leaseMs: 60_000,
      });
      expect(r.ok).toBe(true);
      done.push(c.runId);
    }
  }
};

/**
 * Registers the batch submission tests for a store; `fresh` makes a store
 * closed after the test. `opts.runs`: cases of the property (default 25).
 */
export const submitManyConformance = (
  name: string,
  fresh: () => Promise<Store>,
  opts: { readonly runs?: number } = {},
): void => {
  describe(`${name}: batch submission (submitMany)`, () => {
    it("answers [] for no submissions, and writes nothing", async () => {
      const store = await fresh();
      expect(await store.submitMany([])).toEqual([]);
      expect(await createClient(store, () => T0).submitMany([])).toEqual([]);
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
    });

    it("client: one handle per canvas, in order, each run runs to its own result", async () => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: [handle(double, ({ n }) => 2 * n), handle(plus, (n) => n + 1)],
        logger: pino({ level: "silent" }),
        concurrency: 8,
        queues: ["many"],
        idleMs: 100,
      });
      try {
        const client = createClient(store);
        const runs = await client.submitMany(
          Array.from({ length: 40 }, (_, n) =>
            n % 4 === 3 ? chain(double.si({ n }), plus.s()) : double.si({ n }),
          ),
        );
        expect(runs).toHaveLength(40);
        expect(new Set(runs.map((r) => r.runId)).size).toBe(40);
        expect(runs.every((r) => !r.existing)).toBe(true);
        const got = await Promise.all(runs.map((r) => r.result({ timeout: 20_000 })));
        expect(got).toEqual(Array.from({ length: 40 }, (_, n) => 2 * n + (n % 4 === 3 ? 1 : 0)));
      } finally {
        await worker.stop();
      }
    });

    it("judges run ids, idempotency keys and re-sent calls run by run: a refused run leaves the others written", async () => {
      const store = await fresh();
      const taken = await store.submit(submission("many-taken", 1));
      const subs = [
        submission("many-a", 1, { idempotencyKey: "k", idempotencyWindowMs: 60_000, nonce: "n1" }),
        // the same key and canvas within the call: the first run back
        submission("many-b", 1, { idempotencyKey: "k", idempotencyWindowMs: 60_000, nonce: "n2" }),
        // the same key, another input: a conflict naming the first run
        submission("many-c", 2, { idempotencyKey: "k", idempotencyWindowMs: 60_000, nonce: "n3" }),
        // a taken run id with another input, then with the same one
        submission("many-taken", 2, { nonce: "n4" }),
        submission("many-taken", 1, { nonce: "n5" }),
        submission("many-e", 5, { nonce: "n6" }),
      ];
      const first = await store.submitMany(subs);
      expect(first.map(outcome)).toEqual([
        { ok: true, existing: false },
        { ok: true, existing: true },
        { ok: false, error: "IdempotencyConflict" },
        { ok: false, error: "DuplicateRun" },
        { ok: true, existing: true },
        { ok: true, existing: false },
      ]);
      const [a, b, c, , same, e] = first;
      expect(b).toMatchObject({ runId: a!.ok ? a!.runId : "?" });
      expect(c).toMatchObject({ error: { key: "k", runId: a!.ok ? a!.runId : "?" } });
      expect(same).toMatchObject({ runId: taken.runId });
      // the very same call re-sent (same nonces): the same answers, nothing written twice
      expect(await store.submitMany(subs)).toEqual(first);
      // written runs: the taken one, a and e; each runs once
      expect((await runAll(store)).sort()).toEqual(
        [taken.runId, a!.ok ? a!.runId : "?", e!.ok ? e!.runId : "?"].sort(),
      );
      expect(await store.listRuns({ limit: 10 })).toHaveLength(3);
    });

    it("writes a run of more nodes than a batch holds among small ones", async () => {
      const store = await fresh();
      const subs = [
        submission("many-s1", 1),
        submission("many-big", 2, {}, 300),
        submission("many-s2", 3),
        submission("many-mid", 4, {}, 120),
        submission("many-mid2", 5, {}, 200),
      ];
      const got = await store.submitMany(subs);
      expect(got.map(outcome)).toEqual(subs.map(() => ({ ok: true, existing: false })));
      const totals = [];
      for (const r of got) totals.push(r.ok ? (await store.getRun(r.runId))?.run.total : -1);
      expect(totals).toEqual([1, 300, 1, 120, 200]);
      expect(await runAll(store)).toHaveLength(622);
    });

    it("client: a refused canvas or option names its index and path; nothing is written", async () => {
      const store = await fresh();
      const client = createClient(store, () => T0);
      const bad = [
        double.si({ n: 1 }),
        double.si({ n: 2 }),
        double.si({ n: "three" as unknown as number }),
      ];
      const err = await client.submitMany(bad).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(InvalidInput);
      expect((err as InvalidInput).message).toMatch(/canvases\[2\]: [\s\S]*\["n"\]/);
      await expect(
        client.submitMany([double.si({ n: 1 }), double.si({ n: 2 })], [{}, { delayMs: -1 }]),
      ).rejects.toThrow(/canvases\[1\]: option delayMs/);
      await expect(
        client.submitMany([double.si({ n: 1 }), double.si({ n: 2 })], { runId: "one" }),
      ).rejects.toBeInstanceOf(InvalidSubmitOptions);
      await expect(client.submitMany([double.si({ n: 1 })], [{}, {}])).rejects.toThrow(
        /2 options for 1 canvases/,
      );
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
    });

    it("client: per-canvas options apply to their own run; a refused run rejects after the others are written", async () => {
      const store = await fresh();
      const client = createClient(store, () => T0);
      const runs = await client.submitMany(
        [double.si({ n: 1 }), double.si({ n: 2 })],
        [{ tags: ["first"] }, { tags: ["second"], idempotencyKey: "two" }],
      );
      expect((await store.listRuns({ limit: 10, tag: "second" })).map((r) => r.id)).toEqual([
        runs[1]!.runId,
      ]);
      const again = client.submitMany(
        [double.si({ n: 3 }), double.si({ n: 4 })],
        [{ runId: "many-three" }, { idempotencyKey: "two" }],
      );
      await expect(again).rejects.toMatchObject({ _tag: "IdempotencyConflict", key: "two" });
      expect(await store.listRuns({ limit: 10 })).toHaveLength(3);
    });

    it("client: submitManyByName writes one run per item, in order, on its queue; a bad item names its index", async () => {
      const store = await fresh();
      const client = createClient(store, () => T0);
      await expect(
        client.submitManyByName([
          { task: "many.double", input: { n: 1 } },
          { task: "bad name!", input: 1 },
        ]),
      ).rejects.toThrow(/items\[1\]: /);
      await expect(
        client.submitManyByName([
          { task: "many.double", input: { n: 1 } },
          { task: "many.double", input: { n: 1 }, opts: { queue: "many" } },
          { task: "many.double", input: { n: () => 1 } },
        ]),
      ).rejects.toThrow(/items\[2\]: /);
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
      const runs = await client.submitManyByName(
        [1, 2, 3].map((n) => ({
          task: "many.double",
          input: { n },
          opts: { queue: "many", idempotencyKey: `by-name-${n}` },
        })),
      );
      expect(runs.map((r) => r.existing)).toEqual([false, false, false]);
      expect((await runAll(store)).sort()).toEqual(runs.map((r) => r.runId).sort());
      const again = await client.submitManyByName([
        {
          task: "many.double",
          input: { n: 2 },
          opts: { queue: "many", idempotencyKey: "by-name-2" },
        },
      ]);
      expect(again.map((r) => [r.runId, r.existing])).toEqual([[runs[1]!.runId, true]]);
    });

    const entry = fc.record({
      id: fc.constantFrom("p1", "p2", "p3"),
      n: fc.integer({ min: 0, max: 1 }),
      key: fc.option(fc.constantFrom("ka", "kb"), { nil: undefined }),
      length: fc.constantFrom(1, 1, 2, 260),
      reuse: fc.boolean(),
    });
    test.prop([fc.array(entry, { maxLength: 12 })], { numRuns: propertyRuns(opts.runs ?? 25) })(
      "any list of submissions answers as the same submissions sent one by one to a fresh store",
      async (list) => {
        const subs = list.map((x, i) =>
          submission(
            x.id,
            x.n,
            {
              nonce: `nonce-${i}`,
              ...(x.key === undefined
                ? {}
                : { idempotencyKey: x.key, idempotencyWindowMs: 60_000 }),
              ...(x.reuse ? { idempotencyReuse: "allow-if-failed" } : {}),
            },
            x.length,
          ),
        );
        const batch = await fresh();
        const one = await fresh();
        const got = await batch.submitMany(subs);
        const want: SubmitManyResult[] = [];
        for (const sub of subs) {
          try {
            want.push({ ok: true, ...(await one.submit(sub)) });
          } catch (error) {
            want.push({ ok: false, error: error as never });
          }
        }
        expect(got.map(outcome)).toEqual(want.map(outcome));
        expect(got.map((r) => (r.ok ? r.runId : r.error))).toEqual(
          want.map((r) => (r.ok ? r.runId : r.error)),
        );
        const runs = async (s: Store) =>
          (await s.listRuns({ limit: 100 })).map((r) => `${r.id}:${r.total}`).sort();
        expect(await runs(batch)).toEqual(await runs(one));
      },
    );
  });
};
