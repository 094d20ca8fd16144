/**
 * The rate-limit conformance suite (docs/schedules.md, "Rate limits"): a
 * queue's rate limit holds across every worker claiming from the store,
 * limited nodes wait in their queue, and the store says when the limit
 * frees (`nextDueAt`); a property checks that no window of random claims
 * by several workers holds more than the limit (docs/guarantees.md #14).
 */
import { fc, test } from "@fast-check/vitest";
import {
  chain,
  createClient,
  handle,
  InvalidWorkerOptions,
  type RateLimit,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import type { Claim } from "@weft/core/store";
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
};
