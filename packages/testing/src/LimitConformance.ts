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
import { type Claim, CONCURRENCY_RETRY_MS, encode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { freshStores } from "./internal/conformanceSetup.ts";
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

/** Waits until node `nodeId` of run `runId` has succeeded, then stops `worker` (also on a throw). */
const stopWhenSucceeded = async (
  store: Store,
  runId: string,
  nodeId: number,
  worker: ReturnType<typeof startWorker>,
): Promise<void> => {
  try {
    for (;;) {
      const snap = await store.getRun(runId);
      if (snap?.nodes[nodeId]?.state === "succeeded") return;
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await worker.stop();
  }
};

/** Runs the rate-limit conformance suite against stores made by `makeStore`. */
export const limitConformance = (
  name: string,
  makeStore: LimitStoreFactory,
  opts: { readonly runs?: number } = {},
): void => {
  const fresh = freshStores(makeStore);

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
      // the real condition: the second step succeeded (its completion is where a hand-off would be)
      await stopWhenSucceeded(store, run.runId, 1, worker);
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
      // the real condition: the second step succeeded (its completion is where a hand-off would be)
      await stopWhenSucceeded(store, run.runId, 1, worker);
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
  describe(`${name}: concurrency keys`, () => {
    const Tenant = Schema.Struct({ tenant: Schema.String, n: Schema.Int });
    // at most 2 running per tenant, whichever queue and worker
    const conc = task({
      name: "conc.t",
      input: Tenant,
      output: Schema.Int,
      concurrency: { key: (i: { tenant: string }) => `tenant:${i.tenant}`, max: 2 },
    });
    const keyOf = (c: Claim) => c.spec.options.concurrency?.key;
    const submitTenants = async (store: Store, tenants: string[]) => {
      const client = createClient(store, () => T0);
      for (const [n, tenant] of tenants.entries()) await client.submit(conc.si({ tenant, n }));
    };
    const claimConc = (store: Store, w: string, max: number, now: number, leaseMs = 60_000) =>
      store.claim({ workerId: w, queues: ["default"], max, leaseMs, now });

    it("persists the key computed from the bound input, never the function", async () => {
      const store = await fresh();
      await submitTenants(store, ["acme"]);
      const [c] = await claimConc(store, "w1", 1, T0);
      expect(c?.spec.options.concurrency).toEqual({ key: "tenant:acme", max: 2 });
      // a node whose whole input comes from upstream: the key function gets undefined
      const seen: unknown[] = [];
      const up = task({
        name: "conc.up",
        input: Schema.Int,
        output: Schema.Int,
        concurrency: {
          key: (i: unknown) => {
            seen.push(i);
            return "up";
          },
          max: 1,
        },
      });
      const first = task({ name: "conc.first", input: Schema.Int, output: Schema.Int });
      await createClient(store, () => T0).submit(chain(first.si(1), up.s()));
      expect(seen).toEqual([undefined]);
    });

    it("runs at most max per key across workers; a refused node waits queued, attempt not counted, due again shortly", async () => {
      const store = await fresh();
      await submitTenants(store, ["a", "a", "a", "a", "b", "b", "b"]);
      const w1 = await claimConc(store, "w1", 3, T0);
      const w2 = await claimConc(store, "w2", 10, T0);
      const all = [...w1, ...w2];
      expect(all.filter((c) => keyOf(c) === "tenant:a")).toHaveLength(2);
      expect(all.filter((c) => keyOf(c) === "tenant:b")).toHaveLength(2);
      expect(await claimConc(store, "w3", 10, T0 + 1)).toEqual([]);
      const due = await store.nextDueAt(["default"]);
      expect(due).toBeDefined();
      expect(due!).toBeLessThanOrEqual(T0 + 1 + CONCURRENCY_RETRY_MS);
      for (const r of await store.listRuns({ limit: 100 })) {
        const node = (await store.getRun(r.id))?.nodes[0];
        expect(["queued", "running"]).toContain(node?.state);
        if (node?.state === "queued") expect(node.attempts).toBe(0);
      }
    });

    it("frees the slot when the attempt completes, fails, is released or parked", async () => {
      const store = await fresh();
      await submitTenants(store, ["a", "a", "a", "a", "a", "a"]);
      let now = T0;
      const held = [...(await claimConc(store, "w1", 10, now))];
      expect(held).toHaveLength(2);
      const ends: Array<(c: Claim) => Promise<unknown>> = [
        (c) =>
          store.complete(c, encode(1), {
            now,
            workerId: "w1",
            queues: ["default"],
            nextMax: 0,
            leaseMs: 60_000,
          }),
        (c) =>
          store.fail(c, { tag: "Boom", message: "boom", retryable: false }, { now, retryAt: null }),
        (c) => store.release(c, { now }),
        (c) => store.park(c, { now }),
      ];
      for (const end of ends) {
        now += 1_000;
        expect(await claimConc(store, "w2", 10, now)).toEqual([]);
        await end(held.shift()!);
        // the refused nodes are due again after the retry delay at the latest
        now += CONCURRENCY_RETRY_MS;
        const got = await claimConc(store, "w2", 10, now);
        expect(got, `after end ${ends.indexOf(end)}`).toHaveLength(1);
        held.push(...got);
      }
    });

    it("a crashed holder's slot lapses with its lease; a heartbeat keeps it", async () => {
      const store = await fresh();
      await submitTenants(store, ["a", "a", "a", "a", "a"]);
      const [kept, crashed] = await claimConc(store, "w1", 10, T0, 1_000);
      expect(crashed).toBeDefined();
      expect(await store.heartbeat([kept!], { now: T0 + 900, leaseMs: 1_000 })).toEqual(["held"]);
      // past the crashed holder's lease, its slot is free; the renewed one is still held
      expect(await claimConc(store, "w2", 10, T0 + 1_000)).toHaveLength(1);
      // past the renewed lease too, its slot lapses
      expect(await claimConc(store, "w2", 10, T0 + 1_900)).toHaveLength(1);
    });

    it("refuses a concurrency option that is not { key: function, max: integer >= 1 }, naming the option", () => {
      const key = (i: { tenant: string }) => i.tenant;
      const bad = [
        [{ key, max: 0 }, /concurrency\.max/],
        [{ key, max: 1.5 }, /concurrency\.max/],
        [{ key: "a", max: 1 }, /concurrency\.key/],
        [{ key, max: 1, other: 1 }, /option concurrency/],
      ] as const;
      for (const [concurrency, named] of bad) {
        expect(() =>
          task({ name: "conc.bad", input: Tenant, output: Schema.Int, concurrency } as never),
        ).toThrow(named);
        expect(() => conc.si({ tenant: "a", n: 1 }).with({ concurrency } as never)).toThrow(
          InvalidCanvas,
        );
      }
    });

    it("refuses a key function that does not return a key, at submit, naming the option", async () => {
      const store = await fresh();
      const empty = task({
        name: "conc.empty",
        input: Tenant,
        output: Schema.Int,
        concurrency: { key: () => "", max: 1 },
      });
      const client = createClient(store, () => T0);
      await expect((async () => client.submit(empty.si({ tenant: "a", n: 1 })))()).rejects.toThrow(
        /concurrency\.key/,
      );
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
    });

    const concRuns = propertyRuns(opts.runs ?? 15);
    test.prop(
      [
        fc.constantFrom(1, 2, 3),
        fc.array(
          fc.record({
            worker: fc.constantFrom("w0", "w1", "w2"),
            advance: fc.integer({ min: 0, max: 400 }),
            max: fc.integer({ min: 1, max: 4 }),
            // what the worker does with the oldest attempt it holds before it claims
            end: fc.constantFrom("none", "complete", "fail", "release", "park", "crash"),
            heartbeat: fc.boolean(),
          }),
          { minLength: 1, maxLength: 25 },
        ),
      ],
      { numRuns: concRuns },
    )(
      "the number of running nodes per key never exceeds max, whatever workers claim, end, crash and hand off (guarantee 14)",
      async (max, steps) => {
        const store = await makeStore();
        try {
          const p = task({
            name: "conc.p",
            input: Tenant,
            output: Schema.Int,
            concurrency: { key: (i: { tenant: string }) => i.tenant, max },
          });
          const client = createClient(store, () => T0);
          // chains of two nodes of one tenant: completions hand the second one out
          for (let i = 0; i < 9; i++) {
            const tenant = ["x", "y", "z"][i % 3]!;
            await client.submit(chain(p.si({ tenant, n: i }), p.s({ tenant })));
          }
          const leaseMs = 1_000;
          const held = new Map<string, Claim[]>();
          let now = T0;
          // every attempt the store handed out, with its lease expiry as renewed
          const live = new Map<string, { key: string; until: number }>();
          const id = (c: Claim) => `${c.runId}#${c.nodeId}#${c.token}`;
          const take = (cs: ReadonlyArray<Claim>, w: string) => {
            for (const c of cs) {
              live.set(id(c), {
                key: String(c.spec.options.concurrency?.key),
                until: now + leaseMs,
              });
              (held.get(w) ?? held.set(w, []).get(w)!).push(c);
            }
            // at no time do more than max attempts of a key hold an unexpired lease
            const count = new Map<string, number>();
            for (const a of live.values())
              if (a.until > now) count.set(a.key, (count.get(a.key) ?? 0) + 1);
            for (const n of count.values()) expect(n).toBeLessThanOrEqual(max);
          };
          for (const s of steps) {
            now += s.advance;
            const mine = held.get(s.worker) ?? [];
            if (s.heartbeat && mine.length > 0) {
              const states = await store.heartbeat(mine, { now, leaseMs });
              mine.forEach((c, i) => {
                const a = live.get(id(c));
                if (a && states[i] === "held" && a.until > now) a.until = now + leaseMs;
              });
            }
            const c = mine.shift();
            if (c !== undefined) {
              if (s.end === "none") mine.unshift(c);
              else {
                // a crashed attempt keeps its lease (and slot) until it expires
                if (s.end !== "crash") live.delete(id(c));
                if (s.end === "complete") {
                  const r = await store.complete(c, encode(1), {
                    now,
                    workerId: s.worker,
                    queues: ["default"],
                    nextMax: 1,
                    leaseMs,
                  });
                  take(r.ok ? r.next : [], s.worker);
                }
                if (s.end === "fail")
                  await store.fail(
                    c,
                    { tag: "Boom", message: "boom", retryable: false },
                    { now, retryAt: null },
                  );
                if (s.end === "release") await store.release(c, { now });
                if (s.end === "park") await store.park(c, { now });
              }
            }
            take(await claimConc(store, s.worker, s.max, now, leaseMs), s.worker);
          }
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(concRuns, 500),
    );
  });
};
