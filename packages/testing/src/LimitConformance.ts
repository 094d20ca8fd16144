/**
 * The rate-limit conformance suite (docs/schedules.md, "Rate limits"): a
 * queue's rate limit holds across every worker claiming from the store,
 * limited nodes wait in their queue, and the store says when the limit
 * frees (`nextDueAt`); a property checks that no window of random claims
 * by several workers holds more than the limit (docs/guarantees.md #14).
 * The same for a task's own rate limit (`task({ rateLimit })`), across
 * queues and through a completion's hand-off.
 */
import { fc, test } from "@fast-check/vitest";
import {
  chain,
  createClient,
  handle,
  InvalidCanvas,
  InvalidWorkerOptions,
  type RateLimit,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { type Claim, encode } from "@weft/core/store";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { propertyRuns, propertyTimeoutMs } from "./internal/properties.ts";

/** Makes a fresh, empty store for one test. */
export type LimitStoreFactory = () => Promise<Store>;

const T0 = Date.UTC(2026, 0, 1);

const submitMany = async (store: Store, queue: string, n: number, now = T0) => {
  const client = createClient(store, () => now);
  for (let i = 0; i < n; i++) await client.submitByName("lim.work", { i }, { queue });
};

const claimOf = (
  store: Store,
  workerId: string,
  queues: string[],
  max: number,
  now: number,
  rateLimits: Record<string, RateLimit>,
) => store.claim({ workerId, queues, max, leaseMs: 60_000, now, rateLimits });

/** Runs the rate-limit conformance suite against stores made by `makeStore`. */
export const limitConformance = (
  name: string,
  makeStore: LimitStoreFactory,
  opts: { readonly runs?: number } = {},
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

  describe(`${name}: rate limits`, () => {
    const limits = { lim: { limit: 3, intervalMs: 1_000 } };

    it("claims at most the limit per window; limited nodes wait queued; nextDueAt says when it frees", async () => {
      const store = await fresh();
      await submitMany(store, "lim", 10);
      await submitMany(store, "free", 4);
      const first = await claimOf(store, "w1", ["lim", "free"], 20, T0, limits);
      expect(first.filter((c) => c.spec.queue === "lim")).toHaveLength(3);
      expect(first.filter((c) => c.spec.queue === "free")).toHaveLength(4);
      expect(await claimOf(store, "w2", ["lim"], 10, T0 + 500, limits)).toEqual([]);
      expect(await store.nextDueAt(["lim"])).toBe(T0 + 1_000);
      const waiting = (await store.listRuns({ limit: 100 })).filter(
        (r) => r.status !== "succeeded",
      );
      expect(waiting).toHaveLength(14);
      // the held-back nodes are queued, not failed
      let queued = 0;
      for (const r of waiting) {
        const snap = await store.getRun(r.id);
        if (snap?.nodes[0]?.state === "queued") queued += 1;
        expect(snap?.nodes[0]?.state).not.toBe("failed");
      }
      expect(queued).toBe(7);
      const later = await claimOf(store, "w2", ["lim"], 10, T0 + 1_000, limits);
      expect(later).toHaveLength(3);
    });

    it("holds across workers claiming at the same instant", async () => {
      const store = await fresh();
      await submitMany(store, "lim", 12);
      const all = await Promise.all(
        ["a", "b", "c", "d"].map((w) => claimOf(store, w, ["lim"], 5, T0, limits)),
      );
      expect(all.flat()).toHaveLength(3);
      // claimed nodes are distinct
      expect(new Set(all.flat().map((c) => `${c.runId}#${c.nodeId}`)).size).toBe(3);
    });

    it("a worker's completion never hands it a dependent on a limited queue past the limit", async () => {
      const store = await fresh();
      const step = task({ name: "lim.step", queue: "lim", input: Schema.Int, output: Schema.Int });
      const run = await createClient(store).submit(chain(step.si(0), step.si(1), step.si(2)));
      const worker = startWorker({
        store,
        handlers: [handle(step, async (n) => n)],
        queues: ["lim"],
        logger: pino({ level: "silent" }),
        rateLimits: { lim: { limit: 2, intervalMs: 3_600_000 } },
      });
      try {
        // the real condition: the second step succeeded (its completion is where a hand-off would be)
        for (;;) {
          const snap = await store.getRun(run.runId);
          if (snap?.nodes[1]?.state === "succeeded") break;
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        await worker.stop();
      }
      const snap = await store.getRun(run.runId);
      expect(snap?.nodes.map((n) => n.state)).toEqual(["succeeded", "succeeded", "queued"]);
    });

    it("a worker refuses a rate limit that is not two integers >= 1, naming the queue", async () => {
      const store = await fresh();
      expect(() =>
        startWorker({
          store,
          handlers: [],
          logger: pino({ level: "silent" }),
          rateLimits: { email: { limit: 0, intervalMs: 1_000 } },
        }),
      ).toThrow(InvalidWorkerOptions);
      expect(() =>
        startWorker({
          store,
          handlers: [],
          logger: pino({ level: "silent" }),
          rateLimits: { email: { limit: 2, intervalMs: 1.5 } },
        }),
      ).toThrow(/rateLimits\.email/);
    });

    const runs = propertyRuns(opts.runs ?? 15);
    test.prop(
      [
        fc.constantFrom(1, 2, 5),
        fc.constantFrom(300, 1_000),
        fc.array(
          fc.record({
            workers: fc.subarray(["w0", "w1", "w2"], { minLength: 1 }),
            advance: fc.integer({ min: 0, max: 700 }),
            max: fc.integer({ min: 1, max: 4 }),
            // how far each worker's clock reading lags (claims arrive out of order)
            lags: fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 3, maxLength: 3 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
      ],
      { numRuns: runs },
    )(
      "no window of intervalMs holds more than the limit of claims, whatever workers claim when and in whatever order their clock readings arrive (guarantee 14)",
      async (limit, intervalMs, steps) => {
        const store = await makeStore();
        try {
          await submitMany(store, "lim", 30);
          const rl = { lim: { limit, intervalMs } };
          const claimed: Array<{ at: number; claim: Claim }> = [];
          let now = T0;
          let held = false;
          for (const s of steps) {
            now += s.advance;
            const got = await Promise.all(
              s.workers.map(async (w, i) => {
                const at = now - s.lags[i]!;
                const cs = await claimOf(store, w, ["lim"], s.max, at, rl);
                for (const c of cs) claimed.push({ at, claim: c });
                return cs;
              }),
            );
            if (got.flat().length < s.workers.length * s.max) held = true;
          }
          const times = claimed.map((c) => c.at);
          for (const t of times) {
            expect(times.filter((u) => u > t - intervalMs && u <= t).length).toBeLessThanOrEqual(
              limit,
            );
          }
          // the limit is reached, not just respected: a claim after a quiet window gets nodes
          if (held && claimed.length < 30) {
            const after = await claimOf(store, "w9", ["lim"], limit, now + 2 * intervalMs, rl);
            expect(after.length).toBe(Math.min(limit, 30 - claimed.length));
          }
          expect(new Set(claimed.map((c) => `${c.claim.runId}#${c.claim.nodeId}`)).size).toBe(
            claimed.length,
          );
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(runs, 500),
    );
  });

  describe(`${name}: rate limits per task`, () => {
    // a limited task on two queues (its limit spans them), and a free task beside it
    const limited = task({
      name: "lim.task",
      input: Schema.Int,
      output: Schema.Int,
      rateLimit: { limit: 3, intervalMs: 1_000 },
    });
    const other = task({ name: "lim.other", input: Schema.Int, output: Schema.Int });
    const isLimited = (c: Claim) => c.spec.task === "lim.task";

    it("claims at most the limit per window across queues; held nodes wait queued, attempt not counted; nextDueAt says when it frees", async () => {
      const store = await fresh();
      const client = createClient(store, () => T0);
      for (let i = 0; i < 5; i++) await client.submit(limited.si(i).with({ queue: "a" }));
      for (let i = 0; i < 5; i++) await client.submit(limited.si(i).with({ queue: "b" }));
      for (let i = 0; i < 3; i++) await client.submit(other.si(i).with({ queue: "a" }));
      const first = await claimOf(store, "w1", ["a", "b"], 20, T0, {});
      expect(first.filter(isLimited)).toHaveLength(3);
      expect(first.filter((c) => !isLimited(c))).toHaveLength(3);
      expect(await claimOf(store, "w2", ["a", "b"], 10, T0 + 500, {})).toEqual([]);
      expect(await store.nextDueAt(["a", "b"])).toBe(T0 + 1_000);
      let queued = 0;
      for (const r of await store.listRuns({ limit: 100 })) {
        const node = (await store.getRun(r.id))?.nodes[0];
        expect(node?.state).not.toBe("failed");
        if (node?.state === "queued") {
          queued += 1;
          expect(node.attempts).toBe(0);
        }
      }
      expect(queued).toBe(7);
      const later = await claimOf(store, "w2", ["a", "b"], 10, T0 + 1_000, {});
      expect(later.filter(isLimited)).toHaveLength(3);
      expect(later.every((c) => c.attempt === 1)).toBe(true);
    });

    it("a completion never hands the worker a dependent past its task's limit", async () => {
      const store = await fresh();
      const step = task({
        name: "lim.step",
        queue: "q",
        input: Schema.Int,
        output: Schema.Int,
        rateLimit: { limit: 2, intervalMs: 3_600_000 },
      });
      const run = await createClient(store).submit(chain(step.si(0), step.si(1), step.si(2)));
      const worker = startWorker({
        store,
        handlers: [handle(step, async (n) => n)],
        queues: ["q"],
        logger: pino({ level: "silent" }),
      });
      try {
        // the real condition: the second step succeeded (its completion is where a hand-off would be)
        for (;;) {
          const snap = await store.getRun(run.runId);
          if (snap?.nodes[1]?.state === "succeeded") break;
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        await worker.stop();
      }
      const snap = await store.getRun(run.runId);
      expect(snap?.nodes.map((n) => n.state)).toEqual(["succeeded", "succeeded", "queued"]);
    });

    it("refuses a rate limit that is not two integers >= 1, naming the option", () => {
      const bad = [{ limit: 0, intervalMs: 1_000 }, { limit: 2, intervalMs: 1.5 }, { limit: 2 }];
      for (const rateLimit of bad) {
        expect(() =>
          task({ name: "lim.bad", input: Schema.Int, output: Schema.Int, rateLimit } as never),
        ).toThrow(/option rateLimit/);
        expect(() => other.si(1).with({ rateLimit } as never)).toThrow(InvalidCanvas);
      }
    });

    const taskRuns = propertyRuns(opts.runs ?? 15);
    test.prop(
      [
        fc.constantFrom(1, 2, 5),
        fc.constantFrom(300, 1_000),
        fc.array(
          fc.record({
            workers: fc.subarray(["w0", "w1", "w2"], { minLength: 1 }),
            advance: fc.integer({ min: 0, max: 700 }),
            max: fc.integer({ min: 1, max: 4 }),
            lags: fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 3, maxLength: 3 }),
            // whether each worker completes what it holds, taking a hand-off
            complete: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
      ],
      { numRuns: taskRuns },
    )(
      "no window of intervalMs holds more than a task's limit of claims, hand-offs included, whatever workers claim and complete when (guarantee 14)",
      async (limit, intervalMs, steps) => {
        const store = await makeStore();
        try {
          const lim = task({
            name: "lim.p",
            input: Schema.Int,
            output: Schema.Int,
            rateLimit: { limit, intervalMs },
          });
          const client = createClient(store, () => T0);
          // chains free -> limited -> limited, on two queues: completions hand limited nodes out
          for (let i = 0; i < 8; i++) {
            const q = i % 2 === 0 ? "a" : "b";
            await client.submit(
              chain(other.si(i).with({ queue: q }), lim.s().with({ queue: q }), lim.s()),
            );
          }
          const claimed: Array<{ at: number; claim: Claim }> = [];
          const held = new Map<string, Claim[]>();
          let now = T0;
          for (const s of steps) {
            now += s.advance;
            await Promise.all(
              s.workers.map(async (w, i) => {
                const at = now - s.lags[i]!;
                const mine = held.get(w) ?? [];
                if (s.complete[i]) {
                  const done = mine.splice(0);
                  for (const c of done) {
                    const r = await store.complete(c, encode(1), {
                      now: at,
                      workerId: w,
                      queues: ["a", "b", "default"],
                      nextMax: 1,
                      leaseMs: 60_000,
                    });
                    for (const n of r.ok ? r.next : []) {
                      claimed.push({ at, claim: n });
                      mine.push(n);
                    }
                  }
                }
                const cs = await claimOf(store, w, ["a", "b", "default"], s.max, at, {});
                for (const c of cs) claimed.push({ at, claim: c });
                mine.push(...cs);
                held.set(w, mine);
              }),
            );
          }
          const times = claimed.filter((c) => c.claim.spec.task === "lim.p").map((c) => c.at);
          for (const t of times) {
            expect(times.filter((u) => u > t - intervalMs && u <= t).length).toBeLessThanOrEqual(
              limit,
            );
          }
          // nothing held back is lost: every limited node is queued, running or succeeded
          for (const r of await store.listRuns({ limit: 100 })) {
            for (const n of (await store.getRun(r.id))?.nodes ?? []) {
              expect(["waiting", "queued", "running", "succeeded"]).toContain(n.state);
            }
          }
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(taskRuns, 500),
    );
  });
};
