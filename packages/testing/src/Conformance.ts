/**
 * The conformance suite every store must pass (docs/testing.md: one suite, every
 * store). Call it from a vitest file with a factory that returns a fresh,
 * empty store; the suite covers chains, groups, chords, nested canvases,
 * empty groups and chord headers, failures and skipped dependents, typed
 * errors (declared error schemas, structured data), the task context (run
 * headers, parents, queue, priority, attempts left), chord result order, fenced completions,
 * lease expiry and re-delivery, retries, settled groups, cancellation,
 * idempotent submission, batch submission (see `SubmitManyConformance`),
 * submission by task name and reattaching by id,
 * the worker runtime on the store (heartbeats,
 * parking of unknown tasks, cancellation signals, wake-ups, the worker
 * registry, re-sent claims), waits for work ended by their signal (see
 * `WakeConformance`), delayed and expiring work (see
 * `TimingConformance`), and a model-based property: any random canvas
 * under any random fault plan ends in the same state on this store as on
 * the in-memory model.
 */
import { fc, test } from "@fast-check/vitest";
import {
  attemptHistory,
  type BoundHandler,
  type Canvas,
  chain,
  chord,
  chunks,
  createClient,
  DuplicateRun,
  FailureRecord,
  failureOf,
  group,
  handle,
  IdempotencyConflict,
  InvalidCanvas,
  InvalidInput,
  InvalidProgress,
  InvalidSubmitOptions,
  NonRetryableError,
  type Progress,
  ResultTimeout,
  ResultUndecodable,
  RunFailed,
  RunNotFound,
  Schema,
  type Store,
  StoreUnavailable,
  type SubmitByNameOptions,
  startWorker,
  TaskFailure,
  task,
} from "@weft/core";
import {
  type Claim,
  compile,
  decode,
  deferred,
  encode,
  fingerprint,
  MAX_PROGRESS_MESSAGE,
  type StoreSignal,
  type Submission,
  type WorkerInfo,
} from "@weft/core/store";
import { Effect } from "effect";
import { pino } from "pino";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { anyTask, arbCanvas, arbDrivePlan } from "./Arbitraries.ts";
import { drive, normalize } from "./Drive.ts";
import { dynamicConformance } from "./DynamicConformance.ts";
import { eventsConformance } from "./EventsConformance.ts";
import { propertyRuns, propertyTimeoutMs } from "./internal/properties.ts";
import { wrapStore } from "./internal/wrapStore.ts";
import { listingConformance } from "./ListingConformance.ts";
import { MemoryStore } from "./MemoryStore.ts";
import { pauseConformance } from "./PauseConformance.ts";
import { redriveConformance } from "./RedriveConformance.ts";
import { submitManyConformance } from "./SubmitManyConformance.ts";
import { timingConformance } from "./TimingConformance.ts";
import { wakeConformance } from "./WakeConformance.ts";

export { type LimitStoreFactory, limitConformance } from "./LimitConformance.ts";
export { type BeatStoreFactory, scheduleConformance } from "./ScheduleConformance.ts";

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
const reject = task({
  name: "reject",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 1 },
});
/** An error callback: hands back the failure record it received. */
const report = task({ name: "report", input: FailureRecord, output: Schema.Unknown });

const handlers: ReadonlyArray<BoundHandler> = [
  handle(add, async ({ a, b }) => a + b),
  handle(sum, async (xs) => xs.reduce((x, y) => x + y, 0)),
  handle(inc, (n) => n + 1),
  handle(boom, async (why) => {
    throw new NonRetryableError(why);
  }),
  handle(tag, async ({ label, n }) => `${label}${n}`),
  handle(labels, async (x) => x),
  handle(reject, async (n) => {
    throw new NonRetryableError(`rejected ${n}`);
  }),
  handle(report, async (f) => f),
];

const silent = pino({ level: "silent" });

/** A one-node canvas of the `any` task; the driver and these tests play the worker's part. */
const one = {
  node: { kind: "sig", task: anyTask, bind: { kind: "immutable" }, bound: null, options: {} },
} as const;
const plain = { faults: [], batch: 8, reverse: false, chainNext: false };
const lease = (now: number, max = 8) => ({
  workerId: "a",
  queues: ["default"],
  max,
  leaseMs: 10_000,
  now,
});
const completeOpts = (now: number, nextMax = 0) => ({
  now,
  workerId: "a",
  queues: ["default"],
  nextMax,
  leaseMs: 10_000,
});
const submission = (
  runId: string,
  canvas: { readonly node: unknown },
  more: Partial<Submission> = {},
): Submission => ({
  runId,
  dag: compile(canvas as Canvas<unknown, unknown>),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now: 0,
  ...more,
});
const planned = { tag: "Boom", message: "planned", retryable: false };

/** Run, node and fencing token of each claim: what identifies an attempt. */
const ids = (claims: ReadonlyArray<Claim>) =>
  claims.map((c) => ({ runId: c.runId, nodeId: c.nodeId, token: c.token }));

/**
 * Registers the conformance suite for a store.
 *
 * @param name shown in the test names.
 * @param makeStore returns a fresh store; it is closed after each test.
 * @param opts.runs number of random cases in the property test (default 25;
 *   `WEFT_PROPERTY_RUNS` overrides).
 * @param opts.tamper corrupts a node's stored record; without it the
 *   corruption tests are left out and the property never corrupts a record.
 * @param opts.model makes the in-memory model the property compares with
 *   (default `new MemoryStore()`); give it the store's batch size when the
 *   store promotes and re-delivers in smaller batches.
 */
export const storeConformance = (
  name: string,
  makeStore: StoreFactory,
  opts: {
    readonly runs?: number;
    readonly tamper?: Tamper;
    readonly model?: () => MemoryStore;
  } = {},
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

  timingConformance(name, fresh);
  dynamicConformance(name, fresh);

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

    it("runs chunks of n items, one node per chunk in parallel, outputs in order", async () => {
      await withWorker(async (client, store) => {
        const run = await client.submit(chord(chunks(sum, [1, 2, 3, 4, 5, 6, 7], 3), sum.s()));
        expect(await run.result({ timeout: 20_000 })).toBe(28);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.nodes.map((n) => n.spec.bound)).toEqual([[1, 2, 3], [4, 5, 6], [7], undefined]);
        expect(decode((await store.getResult(run.runId, 2))!)).toBe(7);
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

    it("gives [] for an empty group; a chord with an empty header calls its body with [] (Celery's rule)", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(
          group(
            add.si({ a: 1, b: 1 }),
            group(),
            chord([], sum.s()),
            chord(group().settled(), labels.s()),
            chain(add.si({ a: 2, b: 2 }), group(), labels.s()),
          ),
        );
        const out = await run.result({ timeout: 20_000 });
        expectTypeOf(out).toEqualTypeOf<[number, [], number, unknown, unknown]>();
        expect(out).toEqual([2, [], 0, [], []]);
      });
    });

    it("runs what follows an empty group only after the group's upstream succeeded; a canvas of only empty groups is refused", async () => {
      await withWorker(async (client) => {
        const run = await client.submit(chain(boom.si("first"), group(), labels.s()));
        const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunFailed);
        const snap = await client.get(run.runId);
        expect(snap.nodes.map((n) => n.state)).toEqual(["failed", "skipped"]);
        expect(snap.nodes[1]!.error?.message).toBe("upstream node 0 (boom) failed");
        await expect(client.submit(group())).rejects.toThrow(InvalidCanvas);
        await expect(client.submit(chord([], group()))).rejects.toThrow(/no task to run/);
      });
    });

    it("runs what follows an empty group after a settled group even when a member failed (the settled value is a success)", async () => {
      await withWorker(async (client) => {
        const bad = group(add.si({ a: 1, b: 1 }), boom.si("bad member")).settled();
        const run = await client.submit(
          group(chain(bad, group(), labels.s()), chord(bad, chain(group(), labels.s()))),
        );
        expect(await run.result({ timeout: 20_000 })).toEqual([[], []]);
        const snap = await client.get(run.runId);
        expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
          ["add", "succeeded"],
          ["boom", "failed"],
          ["labels", "succeeded"],
          ["add", "succeeded"],
          ["boom", "failed"],
          ["labels", "succeeded"],
        ]);
        expect(snap.run).toMatchObject({ status: "succeeded", ended: 6 });
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
    it("a run ending in an empty group ends only after the steps before it; what follows the group gets [] after them", async () => {
      const store = await fresh();
      const client = createClient(store);
      // nodes: 0; its output is [] once node 0 succeeded
      const run = await client.submit(chain(inc.si(1), group()));
      expect((await store.getRun(run.runId))!.run.status).toBe("running");
      const [a] = await store.claim(lease(1));
      expect(a!.nodeId).toBe(0);
      expect((await store.getRun(run.runId))!.run).toMatchObject({ status: "running", ended: 0 });
      expect((await store.complete(a!, encode(2), completeOpts(2))).ok).toBe(true);
      expect((await store.getRun(run.runId))!.run).toMatchObject({ status: "succeeded", ended: 1 });
      expect(await run.result({ timeout: 20_000 })).toEqual([]);

      // nodes: 0, then 1 (after the empty group): 1 is queued once 0 succeeded, and receives []
      const next = await client.submit(chain(inc.si(1), group(), labels.s()));
      const [b] = await store.claim(lease(3));
      expect(b!.nodeId).toBe(0);
      expect(await store.claim(lease(4))).toEqual([]);
      expect((await store.complete(b!, encode(2), completeOpts(5))).ok).toBe(true);
      const [c] = await store.claim(lease(6));
      expect(c).toMatchObject({ nodeId: 1, deps: [{ ok: true, value: encode(2) }] });
      expect(c!.spec.arg).toEqual({ list: [] });
      expect((await store.complete(c!, encode([]), completeOpts(7))).ok).toBe(true);
      expect(await next.result({ timeout: 20_000 })).toEqual([]);
    });
  });

  describe(`${name}: callbacks`, () => {
    /** The decoded result of each node of a run that succeeded, by node id. */
    const results = async (store: Store, runId: string) => {
      const snap = (await store.getRun(runId))!;
      const out = new Map<number, unknown>();
      for (const n of snap.nodes) {
        if (n.state !== "succeeded") continue;
        out.set(n.id, decode((await store.getResult(runId, n.id))!));
      }
      return { snap, out };
    };

    it("runs a success callback with the canvas's output; the run's output stays the canvas's", async () => {
      await withWorker(async (client, store) => {
        const run = await client.submit(
          chain(add.si({ a: 1, b: 2 }), inc.s()).onSuccess(tag.s({ label: "done=" })),
        );
        expect(await run.result({ timeout: 20_000, waitForQuiet: true })).toBe(4);
        const { snap, out } = await results(store, run.runId);
        expect(snap.nodes.map((n) => [n.spec.task, n.state, n.spec.callback])).toEqual([
          ["add", "succeeded", undefined],
          ["inc", "succeeded", undefined],
          ["tag", "succeeded", "success"],
        ]);
        expect(snap.nodes[2]!.spec.path).toEqual(["onSuccess"]);
        expect(out.get(2)).toBe("done=4");
      });
    });

    it("runs an error callback once, for the node that failed, with its failure record; the others are skipped", async () => {
      await withWorker(async (client, store) => {
        const run = await client.submit(
          chain(add.si({ a: 1, b: 2 }), inc.s(), reject.s(), inc.s()).onError(report.s()),
        );
        const err = await run.result({ timeout: 20_000, waitForQuiet: true }).catch((e) => e);
        expect(err).toBeInstanceOf(RunFailed);
        // the run's error is the original failure, not anything a callback did
        expect((err as RunFailed).error?.message).toBe("rejected 4");
        const { snap, out } = await results(store, run.runId);
        const callbacks = snap.nodes.filter((n) => n.spec.callback === "error");
        expect(callbacks.map((n) => [n.spec.failure?.node, n.state])).toEqual([
          [0, "skipped"],
          [1, "skipped"],
          [2, "succeeded"],
          [3, "skipped"],
        ]);
        const fired = callbacks.find((n) => n.state === "succeeded")!;
        expect(fired.spec.path).toEqual(["onError:2"]);
        expect(out.get(fired.id)).toMatchObject({
          runId: run.runId,
          nodeId: 2,
          task: "reject",
          input: 4,
          error: { tag: "NonRetryableError", message: "rejected 4", retryable: false },
        });
        expect(snap.run).toMatchObject({ status: "failed", failedNode: 2 });
      });
    });

    it("a failing callback never hides the original error: the run keeps it", async () => {
      await withWorker(async (client, store) => {
        const run = await client.submit(boom.si("first").onError(boom.si("callback fails")));
        const err = await run.result({ timeout: 20_000, waitForQuiet: true }).catch((e) => e);
        expect((err as RunFailed).error?.message).toBe("first");
        const snap = (await store.getRun(run.runId))!;
        expect(snap.run).toMatchObject({ status: "failed", failedNode: 0 });
        expect(snap.run.error?.message).toBe("first");
        expect(snap.nodes.map((n) => [n.state, n.error?.message])).toEqual([
          ["failed", "first"],
          ["failed", "callback fails"],
        ]);
      });
    });

    it("runs the error callbacks of nodes that fail after their run failed, each once, the run's error kept; success callbacks stop with the run", async () => {
      const store = await fresh();
      const sub = await store.submit(
        submission(
          "cb-late",
          group(
            add.si({ a: 1, b: 1 }).onError(report.s()),
            add.si({ a: 2, b: 2 }).onError(report.s()),
            add.si({ a: 3, b: 3 }).onSuccess(inc.s()),
          ),
        ),
      );
      const roots = await store.claim(lease(1));
      expect(roots.map((c) => c.nodeId)).toEqual([0, 2, 4]);
      const other = { ...planned, message: "second" };
      await store.fail(roots[0]!, planned, { now: 2, retryAt: null });
      expect((await store.getRun(sub.runId))!.run.status).toBe("failed");
      // these end after the run failed: the error callback still runs, the success one does not
      await store.fail(roots[1]!, other, { now: 3, retryAt: null });
      await store.complete(roots[2]!, encode(6), completeOpts(4));
      const callbacks = await store.claim(lease(5));
      expect(callbacks.map((c) => c.nodeId).sort()).toEqual([1, 3]);
      const byId = new Map(callbacks.map((c) => [c.nodeId, c]));
      expect(byId.get(1)!.deps).toEqual([{ ok: false, error: planned }]);
      expect(byId.get(3)!.deps).toEqual([{ ok: false, error: other }]);
      // a callback that fails leaves the run's error and failed node alone
      await store.fail(
        byId.get(1)!,
        { ...planned, message: "callback" },
        { now: 6, retryAt: null },
      );
      await store.complete(byId.get(3)!, encode(null), completeOpts(6));
      expect(await store.claim(lease(7))).toEqual([]);
      const snap = (await store.getRun(sub.runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 0, ended: 6 });
      expect(snap.run.error?.message).toBe("planned");
      expect(snap.run.finishedAt).toBe(6);
      expect(snap.nodes.map((n) => n.state)).toEqual([
        "failed",
        "failed",
        "failed",
        "succeeded",
        "succeeded",
        "skipped",
      ]);
      expect(snap.nodes[5]!.error?.message).toMatch(/^run failed before this node could start/);
    });

    it("does not run callbacks of a cancelled run", async () => {
      const store = await fresh();
      const sub = await store.submit(
        submission(
          "cb-cancel",
          chain(add.si({ a: 1, b: 1 }), inc.s())
            .onError(report.s())
            .onSuccess(labels.s()),
        ),
      );
      const claims = await store.claim(lease(1));
      expect(claims.map((c) => c.nodeId)).toEqual([0]);
      await store.cancel(sub.runId, { now: 2 });
      await store.fail(claims[0]!, planned, { now: 3, retryAt: null });
      const snap = (await store.getRun(sub.runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual([
        "cancelled",
        "cancelled",
        "cancelled",
        "cancelled",
        "cancelled",
      ]);
      expect(await store.claim(lease(4))).toEqual([]);
    });

    it("an immutable error callback ignores the failure; a callback canvas may be a chain", async () => {
      await withWorker(async (client, store) => {
        const run = await client.submit(
          boom.si("x").onError(chain(add.si({ a: 40, b: 2 }), inc.s())),
        );
        await run.result({ timeout: 20_000, waitForQuiet: true }).catch(() => undefined);
        const { snap, out } = await results(store, run.runId);
        expect(snap.nodes.map((n) => [n.spec.task, n.state, n.spec.callback])).toEqual([
          ["boom", "failed", undefined],
          ["add", "succeeded", "error"],
          ["inc", "succeeded", "error"],
        ]);
        expect(out.get(2)).toBe(43);
      });
    });
  });

  describe(`${name}: bad input never crashes a worker`, () => {
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
      const running = deferred();
      const busy = startWorker({
        store,
        logger: silent,
        leaseMs: 1_000,
        heartbeatMs: 100,
        handlers: [
          handle(hold, async (n) => {
            running.resolve();
            for (let i = 0; i < 6; i++) await work(500); // 3 s of work: three leases long
            return n;
          }),
        ],
      });
      const run = await createClient(store).submit(hold.si(7));
      await running.promise;
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
      const running = deferred();
      const stuck = startWorker({
        store,
        logger: silent,
        handlers: [
          handle(hold, (_n, ctx) => {
            running.resolve();
            return new Promise<number>((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            );
          }),
        ],
      });
      const client = createClient(store);
      const run = await client.submit(hold.si(5));
      await running.promise;
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

    it("applies a heartbeat answer to the claim it asked about, never to the chain step its slot took since", async () => {
      const inner = await fresh();
      const step = task({
        name: "hb-step",
        input: Schema.Int,
        output: Schema.Int,
        retry: { maxAttempts: 1 },
      });
      const asked = deferred();
      const nextStarted = deferred();
      const answered = deferred();
      let held = false;
      // the first heartbeat asking about node 0 is answered only once node 0 completed
      // and its slot runs node 1 (handed by complete): the answer for node 0 is "lost"
      const store = wrapStore(inner, {
        heartbeat: async (claims, o) => {
          if (held || !claims.some((c) => c.nodeId === 0 && c.spec.task === "hb-step"))
            return inner.heartbeat(claims, o);
          held = true;
          asked.resolve();
          await nextStarted.promise;
          const states = await inner.heartbeat(claims, o);
          setImmediate(answered.resolve);
          return states;
        },
      });
      const worker = startWorker({
        store,
        logger: silent,
        concurrency: 1,
        heartbeatMs: 5,
        handlers: [
          handle(step, async (n, ctx) => {
            if (ctx.nodeId === 0) await asked.promise;
            else {
              nextStarted.resolve();
              await answered.promise;
            }
            return n + 1;
          }),
        ],
      });
      try {
        const run = await createClient(inner).submit(chain(step.si(1), step.s()));
        expect(await run.result({ timeout: 20_000 })).toBe(3);
        for (const n of (await inner.getRun(run.runId))!.nodes) {
          expect(n).toMatchObject({ state: "succeeded", attempts: 1, stalls: 0, history: [] });
        }
      } finally {
        await worker.stop();
      }
    });

    it("runs chains with a heartbeat every 5 ms and no retries: every node succeeds at its first attempt", async () => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers,
        logger: silent,
        concurrency: 2,
        heartbeatMs: 5,
        retryDefaults: { maxAttempts: 1 },
      });
      try {
        const client = createClient(store);
        const runs = await Promise.all(
          Array.from({ length: 4 }, (_, i) =>
            client.submit(chain(inc.si(i), ...Array.from({ length: 39 }, () => inc.s()))),
          ),
        );
        const out = await Promise.all(runs.map((r) => r.result({ timeout: 30_000 })));
        expect(out).toEqual([40, 41, 42, 43]);
        for (const r of runs) {
          const snap = (await store.getRun(r.runId))!;
          expect(snap.nodes.filter((n) => n.attempts !== 1 || n.history.length > 0)).toEqual([]);
        }
      } finally {
        await worker.stop();
      }
    });

    const rare = task({
      name: "rare",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 1 },
    });

    it("leaves a node whose task it lacks to a worker on the same queue that has it: attempt 1, no failed history", async () => {
      const store = await fresh();
      const lacking = startWorker({
        store,
        handlers,
        logger: silent,
        workerId: "lacks-rare",
        idleMs: 200,
      });
      const having = startWorker({
        store,
        handlers: [handle(rare, async (n) => n * 2)],
        logger: silent,
        workerId: "has-rare",
        idleMs: 200,
      });
      try {
        const client = createClient(store);
        const runs = await Promise.all(
          Array.from({ length: 10 }, (_, i) => client.submit(rare.si(i))),
        );
        expect(await Promise.all(runs.map((r) => r.result({ timeout: 20_000 })))).toEqual(
          Array.from({ length: 10 }, (_, i) => i * 2),
        );
        for (const r of runs) {
          expect((await store.getRun(r.runId))!.nodes[0]).toMatchObject({
            state: "succeeded",
            attempts: 1,
            stalls: 0,
            worker: "has-rare",
            history: [],
          });
        }
      } finally {
        await Promise.all([lacking.stop(), having.stop()]);
      }
    });

    it("parks a node no live worker can run: the run waits (no failure, no busy loop) until a worker with its task starts", async () => {
      const store = await fresh();
      let rareClaims = 0;
      const parked = deferred();
      const counted = wrapStore(store, {
        claim: async (req) => {
          const got = await store.claim(req);
          rareClaims += got.filter((c) => c.spec.task === "rare").length;
          return got;
        },
        park: async (c, o) => {
          await store.park(c, o);
          parked.resolve();
        },
      });
      const lacking = startWorker({
        store: counted,
        handlers,
        logger: silent,
        workerId: "lacks-rare",
        idleMs: 200,
      });
      let having: ReturnType<typeof startWorker> | undefined;
      try {
        const client = createClient(store);
        const run = await client.submit(rare.si(21));
        await parked.promise;
        // the lacking worker goes on serving; runs later, it has still claimed the rare node once
        for (let i = 0; i < 5; i++) {
          expect(await (await client.submit(inc.si(i))).result({ timeout: 20_000 })).toBe(i + 1);
        }
        expect(rareClaims).toBe(1);
        let snap = (await store.getRun(run.runId))!;
        expect(snap.run.status).toBe("running");
        expect(snap.nodes[0]).toMatchObject({ state: "queued", attempts: 0, history: [] });
        expect(snap.nodes[0]!.worker).toBeUndefined();
        const workers = await store.listWorkers({ now: Date.now() });
        expect(workers.filter((w) => w.alive && w.tasks.includes("rare"))).toEqual([]);
        expect(workers.find((w) => w.id === "lacks-rare")).toMatchObject({
          alive: true,
          queues: ["default"],
          tasks: handlers.map((h) => h.task.name),
        });
        having = startWorker({
          store,
          handlers: [handle(rare, async (n) => n * 2)],
          logger: silent,
          workerId: "has-rare",
          idleMs: 200,
        });
        expect(await run.result({ timeout: 20_000 })).toBe(42);
        snap = (await store.getRun(run.runId))!;
        expect(snap.nodes[0]).toMatchObject({
          state: "succeeded",
          attempts: 1,
          worker: "has-rare",
          history: [],
        });
        expect(rareClaims).toBe(1);
      } finally {
        await Promise.all([lacking.stop(), having?.stop()]);
      }
      // stopped workers leave the registry
      expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
    });

    const waiting = task({ name: "waits-for-cancel", input: Schema.Int, output: Schema.Int });

    it("aborts a running handler as soon as its run is cancelled, without waiting for a heartbeat", async () => {
      const inner = await fresh();
      const reported = deferred();
      const store = wrapStore(inner, {
        fail: async (...a) => {
          const r = await inner.fail(...a);
          reported.resolve();
          return r;
        },
      });
      const started = deferred();
      let why: unknown;
      const worker = startWorker({
        store,
        logger: silent,
        heartbeatMs: 3_600_000,
        leaseMs: 10_800_000,
        handlers: [
          handle(waiting, (_n, ctx) => {
            started.resolve();
            return new Promise<number>((_, reject) =>
              ctx.signal.addEventListener("abort", () => {
                why = ctx.signal.reason;
                reject(ctx.signal.reason);
              }),
            );
          }),
        ],
      });
      try {
        const client = createClient(store);
        const run = await client.submit(waiting.si(1));
        await started.promise;
        expect(await client.cancel(run.runId)).toBe(true);
        await reported.promise; // the handler was aborted and the worker reported the attempt
        expect(why).toMatchObject({ name: "Cancelled", message: "run cancelled" });
        const snap = (await store.getRun(run.runId))!;
        expect(snap.run).toMatchObject({ status: "cancelled", ended: 1 });
        expect(snap.nodes[0]!.state).toBe("cancelled");
      } finally {
        await worker.stop();
      }
    });

    it("answers ctx.progress() with the lease state: cancelled after the run was cancelled, and aborts the attempt", async () => {
      const inner = await fresh();
      const reported = deferred();
      // no signals: only the progress answer can tell the handler
      const store = wrapStore(inner, {
        subscribe: async () => async () => undefined,
        fail: async (...a) => {
          const r = await inner.fail(...a);
          reported.resolve();
          return r;
        },
      });
      const started = deferred();
      const proceed = deferred();
      const seen: Array<{ state: string; aborted: boolean }> = [];
      const worker = startWorker({
        store,
        logger: silent,
        heartbeatMs: 3_600_000,
        leaseMs: 10_800_000,
        handlers: [
          handle(waiting, async (n, ctx) => {
            seen.push({ state: await ctx.progress({ current: 0 }), aborted: ctx.signal.aborted });
            started.resolve();
            await proceed.promise;
            seen.push({ state: await ctx.progress({ current: 1 }), aborted: ctx.signal.aborted });
            return n;
          }),
        ],
      });
      try {
        const client = createClient(inner);
        const run = await client.submit(waiting.si(1));
        await started.promise;
        expect(await client.cancel(run.runId)).toBe(true);
        proceed.resolve();
        await reported.promise;
        expect((await inner.getRun(run.runId))!.run).toMatchObject({
          status: "cancelled",
          ended: 1,
        });
        expect(seen).toEqual([
          { state: "held", aborted: false },
          { state: "cancelled", aborted: true },
        ]);
      } finally {
        await worker.stop();
      }
    });

    it("rejects a handler's ctx.progress() with bad progress with a clear error; the handler goes on", async () => {
      const store = await fresh();
      const reporter = task({ name: "reporter", input: Schema.Int, output: Schema.String });
      const worker = startWorker({
        store,
        logger: silent,
        handlers: [
          handle(reporter, async (n, ctx) => {
            const refused = await ctx
              .progress({ current: Number.NaN, total: n })
              .then(String, (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`);
            return `${refused} / ${await ctx.progress({ current: 1, total: n })}`;
          }),
        ],
      });
      try {
        const run = await createClient(store).submit(reporter.si(3));
        expect(await run.result({ timeout: 30_000 })).toBe(
          "InvalidProgress: invalid progress: progress.current must be a finite number, got NaN / held",
        );
      } finally {
        await worker.stop();
      }
    });

    it("claims rapid back-to-back submissions at once on an idle worker: idleMs only bounds a missed wake-up", async () => {
      const store = await fresh();
      const worker = startWorker({ store, handlers, logger: silent, idleMs: 3_600_000 });
      try {
        const client = createClient(store);
        for (let i = 0; i < 8; i++) {
          const run = await client.submit(chain(inc.si(i), inc.s()));
          expect(await run.result({ timeout: 30_000 })).toBe(i + 2);
        }
      } finally {
        await worker.stop();
      }
    });

    it("runs a retry when its backoff ends, on an idle worker with a huge idleMs", async () => {
      const store = await fresh();
      const flaky = task({
        name: "flaky",
        input: Schema.Int,
        output: Schema.Int,
        retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 50 }, jitter: "none" },
      });
      let calls = 0;
      const worker = startWorker({
        store,
        logger: silent,
        idleMs: 3_600_000,
        handlers: [
          handle(flaky, async (n) => {
            calls += 1;
            if (calls < 3) throw new Error(`not yet (${calls})`);
            return n;
          }),
        ],
      });
      try {
        const run = await createClient(store).submit(flaky.si(7));
        expect(await run.result({ timeout: 30_000 })).toBe(7);
        const node = (await store.getRun(run.runId))!.nodes[0]!;
        expect(node).toMatchObject({ state: "succeeded", attempts: 3 });
        expect(node.history.map((h) => h.error?.message)).toEqual(["not yet (1)", "not yet (2)"]);
      } finally {
        await worker.stop();
      }
    });
  });

  describe(`${name}: claims, parking, signals and the worker registry`, () => {
    const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60_000 } as const;
    const claimReq = { queues: ["default"], leaseMs: 1_000 } as const;
    const done = { workerId: "w", queues: ["default"], nextMax: 0, leaseMs: 1_000 } as const;

    it("parks a node whose task the claiming worker lacks: attempt undone, no history, handed only to a claim naming its task", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "park",
        dag: compile(group(add.si({ a: 1, b: 1 }), inc.si(1))),
        now: 0,
      });
      const [first] = await store.claim({
        ...claimReq,
        workerId: "a",
        tasks: ["inc"],
        max: 1,
        now: 0,
      });
      expect(first).toMatchObject({ nodeId: 0, attempt: 1 }); // a ready node goes out whatever its task
      await store.park(first!, { now: 1 });
      expect((await store.getRun(sub.runId))!.nodes[0]).toEqual(
        expect.objectContaining({ state: "queued", attempts: 0, stalls: 0, history: [] }),
      );
      const node0 = (await store.getRun(sub.runId))!.nodes[0]!;
      expect([node0.worker, node0.startedAt]).toEqual([undefined, undefined]);
      // the same worker, and a claim naming no task, never get it back
      const mine = await store.claim({
        ...claimReq,
        workerId: "a",
        tasks: ["inc"],
        max: 5,
        now: 2,
      });
      expect(mine.map((c) => c.nodeId)).toEqual([1]);
      expect(
        await store.claim({ ...claimReq, workerId: "a", tasks: ["inc"], max: 5, now: 3 }),
      ).toEqual([]);
      expect(await store.claim({ ...claimReq, workerId: "b", max: 5, now: 3 })).toEqual([]);
      const [taken] = await store.claim({
        ...claimReq,
        workerId: "b",
        tasks: ["add"],
        max: 5,
        now: 4,
      });
      expect(taken).toMatchObject({ nodeId: 0, attempt: 1, stalls: 0 });
      // a re-sent park of the first claim changes nothing: its lease is gone
      await store.park(first!, { now: 5 });
      expect(await store.heartbeat([taken!], { now: 6, leaseMs: 1_000 })).toEqual(["held"]);
      expect((await store.complete(taken!, encode(2), { ...done, now: 7 })).ok).toBe(true);
      expect((await store.complete(mine[0]!, encode(2), { ...done, now: 8 })).ok).toBe(true);
      const snap = (await store.getRun(sub.runId))!;
      expect(snap.run.status).toBe("succeeded");
      expect(snap.nodes[0]).toMatchObject({ attempts: 1, worker: "b", startedAt: 4, history: [] });
    });

    it("hands out a parked node by priority, then arrival (its parking), among ready nodes", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "prio",
        dag: compile(
          group(
            add.si({ a: 1, b: 1 }).with({ priority: 7 }),
            inc.si(1).with({ priority: 7 }),
            inc.si(2).with({ priority: 3 }),
            inc.si(3).with({ priority: 9 }),
          ),
        ),
        now: 0,
      });
      const got = await store.claim({ ...claimReq, workerId: "a", tasks: ["inc"], max: 2, now: 0 });
      expect(got.map((c) => c.nodeId)).toEqual([3, 0]);
      await store.park(got[1]!, { now: 1 });
      expect((await store.complete(got[0]!, encode(4), { ...done, now: 2 })).ok).toBe(true);
      const rest = await store.claim({
        ...claimReq,
        workerId: "b",
        tasks: ["add", "inc"],
        max: 10,
        now: 3,
      });
      // priority 7: node 1 arrived at submission, node 0 when it was parked; then priority 3
      expect(rest.map((c) => c.nodeId)).toEqual([1, 0, 2]);
      expect(rest.every((c) => c.runId === sub.runId && c.attempt === 1)).toBe(true);
    });

    it("removes a cancelled run's parked nodes", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "pc",
        dag: compile(add.si({ a: 1, b: 1 })),
        now: 0,
      });
      const [c] = await store.claim({ ...claimReq, workerId: "a", tasks: ["inc"], max: 1, now: 0 });
      await store.park(c!, { now: 1 });
      expect(await store.cancel(sub.runId, { now: 2 })).toBe(true);
      expect(
        await store.claim({ ...claimReq, workerId: "b", tasks: ["add"], max: 5, now: 3 }),
      ).toEqual([]);
      const snap = (await store.getRun(sub.runId))!;
      expect(snap.run.status).toBe("cancelled");
      expect(snap.nodes[0]!.state).toBe("cancelled");
    });

    it("answers a claim re-sent with the same request id with the first claim's nodes, leasing nothing more", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "resent",
        dag: compile(group(add.si({ a: 1, b: 0 }), add.si({ a: 2, b: 0 }), add.si({ a: 3, b: 0 }))),
        now: 0,
      });
      const req = { ...claimReq, workerId: "w", tasks: ["add"], max: 2 };
      const first = await store.claim({ ...req, requestId: "r1", now: 0 });
      expect(first).toHaveLength(2);
      const again = await store.claim({ ...req, requestId: "r1", now: 1 });
      expect(ids(again)).toEqual(ids(first));
      // the re-sent claim starts nothing again: the same attempt, no stall counted
      expect(again.map((c) => [c.attempt, c.stalls])).toEqual([
        [1, 0],
        [1, 0],
      ]);
      const during = (await store.getRun(sub.runId))!.nodes;
      for (const c of first) {
        expect(during[c.nodeId]).toMatchObject({ state: "running", attempts: 1, stalls: 0 });
      }
      // another request id leases the one node left, and only it
      const next = await store.claim({ ...req, max: 5, requestId: "r2", now: 2 });
      expect(next.map((c) => c.nodeId)).toEqual([2]);
      expect(ids(await store.claim({ ...req, max: 5, requestId: "r2", now: 3 }))).toEqual(
        ids(next),
      );
      expect(await store.claim({ ...req, max: 5, requestId: "r3", now: 4 })).toEqual([]);
      for (const c of [...first, ...next]) {
        expect((await store.complete(c, encode(c.nodeId), { ...done, now: 5 })).ok).toBe(true);
      }
      // a completed claim is not handed out again by a late re-send
      expect(await store.claim({ ...req, max: 5, requestId: "r2", now: 6 })).toEqual([]);
      const after = await store.getRun(sub.runId);
      expect(after!.run.status).toBe("succeeded");
      expect(after!.nodes.map((n) => [n.attempts, n.stalls, n.history])).toEqual([
        [1, 0, []],
        [1, 0, []],
        [1, 0, []],
      ]);
    });

    it("claim makes due retries ready itself (no maintenance); nextDueAt names the earliest", async () => {
      const store = await fresh();
      const sub = await store.submit({ ...base, runId: "due", dag: compile(inc.si(1)), now: 0 });
      expect(await store.nextDueAt(["default"])).toBeUndefined();
      const [c] = await store.claim({ ...claimReq, workerId: "w", max: 1, now: 0 });
      const err = { tag: "Boom", message: "try again", retryable: true };
      expect((await store.fail(c!, err, { now: 10, retryAt: 100 })).ok).toBe(true);
      expect(await store.nextDueAt(["default"])).toBe(100);
      expect(await store.nextDueAt(["other"])).toBeUndefined();
      expect(await store.claim({ ...claimReq, workerId: "w", max: 1, now: 99 })).toEqual([]);
      const [again] = await store.claim({ ...claimReq, workerId: "w", max: 1, now: 100 });
      expect(again).toMatchObject({ runId: sub.runId, nodeId: 0, attempt: 2 });
      expect(await store.nextDueAt(["default"])).toBeUndefined();
    });

    it("answers progress with the lease state: held, cancelled once the run is cancelled, lost for a stale claim", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "prog",
        dag: compile(group(inc.si(1), inc.si(2))),
        now: 0,
      });
      const [a, b] = await store.claim({ ...claimReq, workerId: "w", max: 2, now: 0 });
      expect(await store.progress(a!, { current: 1, total: 2 })).toBe("held");
      expect((await store.complete(b!, encode(3), { ...done, now: 1 })).ok).toBe(true);
      expect(await store.progress(b!, { current: 2 })).toBe("lost");
      expect(await store.cancel(sub.runId, { now: 2 })).toBe(true);
      expect(await store.progress(a!, { current: 2, total: 2 })).toBe("cancelled");
    });

    it("refuses progress that is not { current, total?, message? } with InvalidProgress, recording nothing", async () => {
      const store = await fresh();
      const sub = await store.submit({
        ...base,
        runId: "badprog",
        dag: compile(inc.si(1)),
        now: 0,
      });
      const [c] = await store.claim({ ...claimReq, workerId: "w", max: 1, now: 0 });
      const good = { current: 1, total: 2, message: "m".repeat(MAX_PROGRESS_MESSAGE) };
      expect(await store.progress(c!, good)).toBe("held");
      const bad: ReadonlyArray<[unknown, RegExp]> = [
        [{ current: Number.NaN }, /progress\.current must be a finite number, got NaN$/],
        [{ current: Number.POSITIVE_INFINITY }, /progress\.current .* got Infinity$/],
        [{ current: "1" }, /progress\.current must be a finite number, got "1"$/],
        [{ total: 3 }, /progress\.current must be a finite number, got undefined$/],
        [
          { current: 1, total: -1 },
          /progress\.total must be a finite number ≥ 0 or absent, got -1$/,
        ],
        [{ current: 1, total: Number.NaN }, /progress\.total .* got NaN$/],
        [{ current: 1, message: 5 }, /progress\.message must be a string or absent, got 5$/],
        [{ current: 1, message: new Date(0) }, /progress\.message .* got an instance of Date$/],
        [
          { current: 1, message: "m".repeat(MAX_PROGRESS_MESSAGE + 1) },
          /progress\.message must be at most 1000 characters, got 1001$/,
        ],
        [{ current: 1, eta: 3 }, /progress has unknown field "eta"/],
        [null, /progress must be an object .*, got null$/],
        [[1], /progress must be an object .*, got an array$/],
      ];
      for (const [value, why] of bad) {
        const e = await store.progress(c!, value as Progress).then(
          (v) => new Error(`accepted ${JSON.stringify(value)}: ${v}`),
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(InvalidProgress);
        expect((e as InvalidProgress).message).toMatch(/^invalid progress: /);
        expect((e as InvalidProgress).message).toMatch(why);
      }
      // nothing was recorded: the last good progress stands; undefined fields are left out
      expect((await store.getRun(sub.runId))!.nodes[0]!.progress).toEqual(good);
      // as untyped code may pass it
      const unset = { current: 2, total: undefined, message: undefined } as unknown as Progress;
      expect(await store.progress(c!, unset)).toBe("held");
      expect((await store.getRun(sub.runId))!.nodes[0]!.progress).toEqual({ current: 2 });
    });

    it("pushes a cancelled run's id to every subscriber until it unsubscribes", async () => {
      const store = await fresh();
      const seen1: StoreSignal[] = [];
      const seen2: StoreSignal[] = [];
      let got = deferred();
      const off1 = await store.subscribe((s) => seen1.push(s));
      await store.subscribe((s) => {
        seen2.push(s);
        got.resolve();
      });
      const one = await store.submit({ ...base, runId: "sig1", dag: compile(inc.si(1)), now: 0 });
      const two = await store.submit({ ...base, runId: "sig2", dag: compile(inc.si(1)), now: 0 });
      await store.cancel(one.runId, { now: 1 });
      await got.promise;
      got = deferred();
      await off1();
      await store.cancel(two.runId, { now: 2 });
      await got.promise;
      expect(seen1).toEqual([{ kind: "cancelled", runId: one.runId }]);
      expect(seen2).toEqual([
        { kind: "cancelled", runId: one.runId },
        { kind: "cancelled", runId: two.runId },
      ]);
    });

    it("registers workers: alive until their ttl, refreshed, removed on stop, pruned a day after death", async () => {
      const store = await fresh();
      const info = (id: string, startedAt: number): WorkerInfo => ({
        id,
        host: "host-1",
        pid: 42,
        queues: ["default", "io"],
        tasks: ["add", "inc"],
        concurrency: 4,
        startedAt,
      });
      await store.registerWorker(info("w1", 0), { now: 0, ttlMs: 1_000 });
      await store.registerWorker(info("w2", 10), { now: 10, ttlMs: 1_000 });
      expect(await store.listWorkers({ now: 500 })).toEqual([
        { ...info("w1", 0), lastSeenAt: 0, alive: true },
        { ...info("w2", 10), lastSeenAt: 10, alive: true },
      ]);
      await store.registerWorker(info("w2", 10), { now: 900, ttlMs: 1_000 });
      expect(
        (await store.listWorkers({ now: 1_500 })).map((w) => [w.id, w.alive, w.lastSeenAt]),
      ).toEqual([
        ["w1", false, 0],
        ["w2", true, 900],
      ]);
      await store.unregisterWorker("w2");
      expect((await store.listWorkers({ now: 1_500 })).map((w) => w.id)).toEqual(["w1"]);
      await store.maintain({ now: 1_000 + 86_400_000, queues: ["default"] });
      expect(await store.listWorkers({ now: 1_000 + 86_400_000 })).toEqual([]);
    });

    it("keeps the finished counts a worker registers with, per queue, each registration replacing the last", async () => {
      const store = await fresh();
      const info: WorkerInfo = {
        id: "w1",
        host: "host-1",
        pid: 42,
        queues: ["default", "io"],
        tasks: ["add"],
        concurrency: 4,
        startedAt: 0,
      };
      const finished = { default: { succeeded: 7, failed: 2 }, io: { succeeded: 0, failed: 1 } };
      await store.registerWorker({ ...info, finished }, { now: 0, ttlMs: 1_000 });
      expect(await store.listWorkers({ now: 10 })).toEqual([
        { ...info, finished, lastSeenAt: 0, alive: true },
      ]);
      await store.registerWorker({ ...info, finished: {} }, { now: 500, ttlMs: 1_000 });
      expect((await store.listWorkers({ now: 510 }))[0]?.finished).toEqual({});
      // a worker that does not count registers without them
      await store.registerWorker(info, { now: 600, ttlMs: 1_000 });
      expect(await store.listWorkers({ now: 610 })).toEqual([
        { ...info, lastSeenAt: 600, alive: true },
      ]);
      expect("finished" in (await store.listWorkers({ now: 610 }))[0]!).toBe(false);
    });
  });

  describe(`${name}: contract`, () => {
    it("keeps the span id a completion records and hands it to its dependents' claims; none without one", async () => {
      const store = await fresh();
      const span = "00f067aa0ba902b7";
      // a chain: the next step handed by the completion carries the first step's span id
      await store.submit(submission("spans-chain", chain(one, one)));
      const [first] = await store.claim(lease(0));
      const done = await store.complete(first!, encode(1), { ...completeOpts(1, 1), span });
      expect(done.ok && done.next.map((c) => [c.nodeId, c.depSpans])).toEqual([[1, [span]]]);
      // a chord body claimed later: "" for the member that recorded none, an invalid id is not kept
      await store.submit(submission("spans-chord", chord([one, one, one], one)));
      const members = await store.claim(lease(2));
      expect(members.map((c) => c.nodeId)).toEqual([0, 1, 2]);
      await store.complete(members[0]!, encode(1), completeOpts(3));
      await store.complete(members[1]!, encode(2), { ...completeOpts(3), span });
      await store.complete(members[2]!, encode(3), { ...completeOpts(3), span: "not,a span" });
      const [body] = await store.claim(lease(4));
      expect([body?.nodeId, body?.depSpans]).toEqual([3, ["", span, ""]]);
      // no dependency recorded one: no depSpans at all
      await store.submit(submission("spans-none", chain(one, one)));
      const [plainFirst] = await store.claim(lease(5));
      const plainDone = await store.complete(plainFirst!, encode(1), completeOpts(6, 1));
      expect(plainDone.ok && plainDone.next.map((c) => "depSpans" in c)).toEqual([false]);
    });

    it("hands a chord body over 256 members their span ids too", async () => {
      const store = await fresh();
      const span = "b7ad6b7169203331";
      await store.submit(submission("spans-wide", chord(Array(300).fill(one), one)));
      const members = await store.claim(lease(0, 300));
      expect(members).toHaveLength(300);
      for (const m of members)
        await store.complete(
          m,
          encode(m.nodeId),
          m.nodeId === 299 ? { ...completeOpts(1), span } : completeOpts(1),
        );
      const [body] = await store.claim(lease(2));
      expect(body?.nodeId).toBe(300);
      expect(body?.deps).toHaveLength(300);
      expect(body?.depSpans).toEqual([...Array(299).fill(""), span]);
    });

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
      const r = await drive(store, chain(one, one), { ...plain, faults: [["crash", "crash"]] });
      expect(r.snapshot.nodes.map((n) => n.state)).toEqual(["failed", "skipped"]);
      expect(r.snapshot.nodes[0]!.error?.tag).toBe("Stalled");
      expect(r.snapshot.nodes[0]!.error?.message).toMatch(/lease expired 2 times \(maxStalls 1\)/);
    });

    it("two nodes that stall out in one claim batch take effect in turn: the first one's cascade runs before the second one fails the run", async () => {
      const store = await fresh();
      // node 0: a settled member (tolerated), node 1: the chord body it makes ready, node 2: a plain member
      const sub = submission("stall-pair", group(chord(group(one).settled(), one), one));
      const { runId } = await store.submit(sub);
      const claimIds = async (now: number) =>
        (await store.claim({ ...lease(now), leaseMs: 1_000 })).map((c) => c.nodeId);
      expect(await claimIds(0)).toEqual([0, 2]);
      expect((await store.maintain({ now: 1_500, queues: ["default"] })).redelivered).toBe(2);
      expect(await claimIds(1_500)).toEqual([0, 2]);
      expect((await store.maintain({ now: 3_000, queues: ["default"] })).redelivered).toBe(2);
      // both over maxStalls (1) in this one batch, node 0 first: its cascade queues node 1
      // while the run is still running, then node 2 fails the run; the claim goes on and
      // hands out node 1 (a node queued before its run failed still runs)
      expect(await claimIds(3_000)).toEqual([1]);
      const snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 2 });
      expect(snap.nodes.map((n) => n.state)).toEqual(["failed", "running", "failed"]);
      expect(snap.nodes.map((n) => n.error?.tag)).toEqual(["Stalled", undefined, "Stalled"]);
    });

    it("a run whose last two nodes stall out in one claim batch, one tolerated and one not, fails (it does not end succeeded before the second one's turn)", async () => {
      const store = await fresh();
      // node 0: a settled member (tolerated), node 1: a plain member; nothing after them
      const sub = submission("stall-last", group(group(one).settled(), one));
      const { runId } = await store.submit(sub);
      const claimIds = async (now: number) =>
        (await store.claim({ ...lease(now), leaseMs: 1_000 })).map((c) => c.nodeId);
      expect(await claimIds(0)).toEqual([0, 1]);
      expect((await store.maintain({ now: 1_500, queues: ["default"] })).redelivered).toBe(2);
      expect(await claimIds(1_500)).toEqual([0, 1]);
      expect((await store.maintain({ now: 3_000, queues: ["default"] })).redelivered).toBe(2);
      // both over maxStalls (1) in this one batch: every node has ended, node 1 fails the run
      expect(await claimIds(3_000)).toEqual([]);
      await store.maintain({ now: 3_000, queues: ["default"] });
      const snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 1, finishedAt: 3_000 });
      expect(snap.nodes.map((n) => n.state)).toEqual(["failed", "failed"]);
    });

    it("retries: a retried node waits for its backoff, then runs again with its attempt count persisted", async () => {
      const store = await fresh();
      const r = await drive(store, one, { ...plain, faults: [["retry", "retry"]] });
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

    it("refuses a run id met again without a fingerprint (an id made at random, no key), even for the same canvas", async () => {
      const store = await fresh();
      const base = {
        dag: compile(one),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
        fingerprint: "",
      };
      const first = await store.submit({ ...base, runId: "random", nonce: "first" });
      // the same call re-sent (its nonce) is still answered as the first was
      expect(await store.submit({ ...base, runId: "random", nonce: "first" })).toEqual(first);
      await expect(
        store.submit({ ...base, runId: "random", nonce: "second" }),
      ).rejects.toBeInstanceOf(DuplicateRun);
      // with its fingerprint, the same canvas under that id is still not this run
      const { fingerprint: _none, ...computed } = base;
      await expect(
        store.submit({ ...computed, runId: "random", nonce: "third" }),
      ).rejects.toBeInstanceOf(DuplicateRun);
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
      const a = await store.acquireLock({ name: "printer", owner: "a", ttlMs: 1_000, now: 0 });
      expect(a).toBeGreaterThan(0);
      expect(
        await store.acquireLock({ name: "printer", owner: "b", ttlMs: 1_000, now: 500 }),
      ).toBeUndefined();
      expect(
        await store.renewLock({ name: "printer", owner: "a", token: a!, ttlMs: 1_000, now: 900 }),
      ).toBe(true); // now held until 1 900
      expect(
        await store.acquireLock({ name: "printer", owner: "b", ttlMs: 1_000, now: 1_500 }),
      ).toBeUndefined();
      const b = await store.acquireLock({ name: "printer", owner: "b", ttlMs: 1_000, now: 1_900 }); // expired: b takes it
      expect(b).toBeGreaterThan(a!);
      expect(
        await store.renewLock({ name: "printer", owner: "a", token: a!, ttlMs: 1_000, now: 2_000 }),
      ).toBe(false); // a lost it
      await store.releaseLock({ name: "printer", owner: "a", token: a! }); // a stale unlock does nothing
      expect(
        await store.acquireLock({ name: "printer", owner: "c", ttlMs: 1_000, now: 2_000 }),
      ).toBeUndefined();
      await store.releaseLock({ name: "printer", owner: "b", token: b! });
      expect(
        await store.acquireLock({ name: "printer", owner: "c", ttlMs: 1_000, now: 2_001 }),
      ).toBeGreaterThan(b!);
      expect(
        await store.acquireLock({ name: "scanner", owner: "a", ttlMs: 1_000, now: 2_001 }),
      ).toBeGreaterThan(0);
    });

    test.prop(
      [
        fc.array(
          fc.record({
            op: fc.constantFrom("acquire", "renew", "unlock"),
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
            const t = await store.acquireLock({ name, owner: o.owner, ttlMs: o.ttl, now });
            expect(t === undefined).toBe(live !== undefined && live.owner !== o.owner);
            if (t !== undefined) {
              expect(t).toBeGreaterThan(last);
              last = t;
              mine.set(o.owner, t);
              holder = { owner: o.owner, token: t, until: now + o.ttl };
            }
          } else if (o.op === "renew") {
            const t = mine.get(o.owner) ?? 0;
            const ok = await store.renewLock({ name, owner: o.owner, token: t, ttlMs: o.ttl, now });
            expect(ok).toBe(live !== undefined && live.owner === o.owner && live.token === t);
            if (ok) holder = { owner: o.owner, token: t, until: now + o.ttl };
          } else {
            const t = mine.get(o.owner) ?? 0;
            await store.releaseLock({ name, owner: o.owner, token: t });
            if (holder && holder.owner === o.owner && holder.token === t) holder = undefined;
          }
        }
      },
    );

    it("records a result under a task's result key (a memo) until it expires", async () => {
      const store = await fresh();
      expect(await store.getMemo({ task: "charge", key: "order-1", now: 0 })).toBeUndefined();
      await store.putMemo({
        task: "charge",
        key: "order-1",
        result: encode({ id: "ch_1" }),
        ttlMs: 1_000,
        now: 0,
      });
      expect(decode((await store.getMemo({ task: "charge", key: "order-1", now: 999 }))!)).toEqual({
        id: "ch_1",
      });
      expect(await store.getMemo({ task: "charge", key: "order-2", now: 999 })).toBeUndefined();
      expect(await store.getMemo({ task: "refund", key: "order-1", now: 999 })).toBeUndefined();
      expect(await store.getMemo({ task: "charge", key: "order-1", now: 1_000 })).toBeUndefined();
    });

    const runs = propertyRuns(opts.runs ?? 25);
    const tamper = opts.tamper;
    test.prop([arbCanvas({ queues: ["default", "other"], links: true }), arbDrivePlan()], {
      numRuns: runs,
    })(
      "ends every random canvas under any fault plan (re-sent calls, a cancel, a corrupt record) in the same state as the in-memory model",
      async (canvas, plan) => {
        const store = await fresh();
        const model = opts.model?.() ?? new MemoryStore();
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
      propertyTimeoutMs(runs, 500),
    );
  });

  describe(`${name}: re-sent commands are no-ops that answer the same`, () => {
    it("a repeated submission of the same call answers the same; another call with the same run id and canvas gets the run back", async () => {
      const store = await fresh();
      const sub = submission("again", chain(one, one), {
        nonce: "call-1",
        fingerprint: fingerprint(compile(chain(one, one))),
      });
      const first = await store.submit(sub);
      expect(first.existing).toBe(false);
      expect(await store.submit(sub)).toEqual(first);
      expect(await store.submit({ ...sub, nonce: "call-2" })).toEqual({
        runId: first.runId,
        existing: true,
      });
      // written once: one root, queued once
      expect((await store.claim(lease(1))).map((c) => c.nodeId)).toEqual([0]);
      expect((await store.getRun(first.runId))!.nodes.map((n) => n.state)).toEqual([
        "running",
        "waiting",
      ]);
    });

    it("a repeated completion is a replay: the same next claims, the result recorded once, nothing changed", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("replay", chain(one, one, one)));
      const [c0] = await store.claim(lease(1));
      const first = await store.complete(c0!, encode("first"), completeOpts(2, 1));
      expect(first.ok && first.next.map((c) => c.nodeId)).toEqual([1]);
      const before = await store.getRun(runId);
      const again = await store.complete(c0!, encode("second"), completeOpts(2, 1));
      expect(again).toEqual({ ...first, replayed: true });
      expect(await store.getRun(runId)).toEqual(before);
      expect(decode((await store.getResult(runId, 0))!)).toBe("first");
      // once the handed-out node has ended, a replay hands nothing out
      const c1 = first.ok ? first.next[0]! : undefined;
      expect((await store.complete(c1!, encode("one"), completeOpts(3))).ok).toBe(true);
      expect(await store.complete(c0!, encode("third"), completeOpts(4, 1))).toEqual({
        ok: true,
        next: [],
        replayed: true,
      });
      expect((await store.getRun(runId))!.nodes.map((n) => n.state)).toEqual([
        "succeeded",
        "succeeded",
        "queued",
      ]);
    });

    it("completeMany completes each item as complete does, in order, a stale one refused alone; re-sent, it replays", async () => {
      const store = await fresh();
      if (!store.completeMany) return expect(store.completeMany).toBeUndefined();
      const a = await store.submit(submission("many-a", chain(one, one)));
      const b = await store.submit(submission("many-b", one));
      const c = await store.submit(submission("many-c", one));
      const claims = await store.claim(lease(1));
      const byRun = (id: string) => claims.find((x) => x.runId === id)!;
      // c's lease expires and c is re-delivered (a's and b's are extended): its first claim is stale
      await store.heartbeat([byRun(a.runId), byRun(b.runId)], { now: 9_000, leaseMs: 10_000 });
      await store.maintain({ now: 15_000, queues: ["default"] });
      const [c2] = await store.claim(lease(15_001));
      expect(c2!.runId).toBe(c.runId);
      const items = [
        { claim: byRun(a.runId), result: encode("a0"), nextMax: 1 },
        { claim: byRun(c.runId), result: encode("stale"), nextMax: 1 },
        { claim: byRun(b.runId), result: encode("b0"), nextMax: 1 },
      ];
      const opts = { now: 15_002, workerId: "a", queues: ["default"], leaseMs: 10_000 };
      const first = await store.completeMany(items, opts);
      expect(first.map((r) => r.ok)).toEqual([true, false, true]);
      expect(first[0]!.ok && first[0]!.next.map((x) => [x.runId, x.nodeId])).toEqual([
        [a.runId, 1],
      ]);
      expect(first[1]).toEqual({ ok: false, reason: "stale" });
      expect(first[2]).toEqual({ ok: true, next: [] });
      expect(decode((await store.getResult(a.runId, 0))!)).toBe("a0");
      expect(decode((await store.getResult(b.runId, 0))!)).toBe("b0");
      expect(await store.getResult(c.runId, 0)).toBeUndefined();
      const again = await store.completeMany(
        items.map((it) => ({ ...it, result: encode("again") })),
        opts,
      );
      expect(again).toEqual([
        { ...first[0]!, replayed: true },
        first[1],
        { ...first[2]!, replayed: true },
      ]);
      expect(decode((await store.getResult(a.runId, 0))!)).toBe("a0");
      expect(await store.completeMany([], opts)).toEqual([]);
      expect((await store.getRun(b.runId))!.run.status).toBe("succeeded");
    });

    it("a repeated failure report is a replay, for a retry and for a final failure", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("refail", group(one, one)));
      const [a, b] = await store.claim(lease(1));
      expect(await store.fail(a!, planned, { now: 2, retryAt: 100 })).toEqual({
        ok: true,
        next: [],
      });
      const retrying = await store.getRun(runId);
      expect(await store.fail(a!, planned, { now: 3, retryAt: 200 })).toEqual({
        ok: true,
        next: [],
        replayed: true,
      });
      expect(await store.getRun(runId)).toEqual(retrying);
      expect(retrying!.nodes[0]).toMatchObject({ state: "retrying", dueAt: 100 });
      expect((await store.fail(b!, planned, { now: 4, retryAt: null })).ok).toBe(true);
      const failed = await store.getRun(runId);
      expect(await store.fail(b!, planned, { now: 5, retryAt: null })).toEqual({
        ok: true,
        next: [],
        replayed: true,
      });
      expect(await store.getRun(runId)).toEqual(failed);
      expect(failed!.nodes[1]!.history).toHaveLength(1);
    });
  });

  describe(`${name}: retention`, () => {
    it("keeps a finished run its retention from its end and loses it at the first maintenance after, the default retention (7 days) as another", async () => {
      const store = await fresh();
      const t = 1_800_000_000_000;
      const [hour, week] = [3_600_000, 7 * 86_400_000];
      // (a store of several shards names the run by its own id: what submit answers)
      const ids = [
        (await store.submit(submission("hour", one, { retentionMs: hour, now: t }))).runId,
        (await store.submit(submission("week", one, { retentionMs: week, now: t }))).runId,
      ];
      for (const c of await store.claim(lease(t + 1, 2)))
        expect((await store.complete(c, encode(1), completeOpts(t + 2))).ok).toBe(true);
      const kept = async (now: number) => {
        await store.maintain({ now, queues: ["default"] });
        return Promise.all(ids.map(async (id) => (await store.getRun(id)) !== undefined));
      };
      expect(await kept(t + 2 + hour - 1)).toEqual([true, true]);
      expect(await kept(t + 2 + hour)).toEqual([false, true]);
      expect(await kept(t + 2 + week - 1)).toEqual([false, true]);
      expect(await kept(t + 2 + week)).toEqual([false, false]);
    });
  });

  describe(`${name}: idempotency keys`, () => {
    const keyed = (runId: string, canvas: { readonly node: unknown }, more = {}) =>
      submission(runId, canvas, {
        idempotencyKey: "order-7",
        idempotencyWindowMs: 3_600_000,
        ...more,
      });

    it("refuses the same key with another canvas: IdempotencyConflict names the existing run, nothing is written", async () => {
      const store = await fresh();
      const first = await store.submit(keyed("k1", one));
      const err = await store.submit(keyed("k2", chain(one, one))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IdempotencyConflict);
      expect(err).toMatchObject({ key: "order-7", runId: first.runId });
      expect((err as Error).message).toContain(first.runId);
      expect((await store.listRuns({ limit: 10 })).map((r) => r.id)).toEqual([first.runId]);
      // the same canvas still gets the first run back
      expect(await store.submit(keyed("k3", one))).toEqual({ runId: first.runId, existing: true });
    });

    it("frees a key whose run no longer exists: the resubmit starts a new run", async () => {
      const store = await fresh();
      const first = await store.submit(keyed("short", one, { retentionMs: 0 }));
      const [c] = await store.claim(lease(1));
      expect((await store.complete(c!, encode(1), completeOpts(2))).ok).toBe(true);
      await store.maintain({ now: 3, queues: ["default"] });
      expect(await store.getRun(first.runId)).toBeUndefined();
      const again = await store.submit(keyed("long", one, { now: 4 }));
      expect(again.existing).toBe(false);
      expect(again.runId).not.toBe(first.runId);
      expect((await store.getRun(again.runId))!.nodes[0]!.state).toBe("queued");
    });

    it("reuse policy: return-existing returns a failed run, allow-if-failed starts a new one and moves the key", async () => {
      const store = await fresh();
      const first = await store.submit(keyed("r1", one));
      const [c] = await store.claim(lease(1));
      await store.fail(c!, planned, { now: 2, retryAt: null });
      expect((await store.getRun(first.runId))!.run.status).toBe("failed");
      expect(await store.submit(keyed("r2", one))).toEqual({ runId: first.runId, existing: true });
      const fresh2 = await store.submit(keyed("r3", one, { idempotencyReuse: "allow-if-failed" }));
      expect(fresh2.existing).toBe(false);
      expect(fresh2.runId).not.toBe(first.runId);
      // the key now names the new run, which is running: it is returned whatever the policy
      expect(await store.submit(keyed("r4", one, { idempotencyReuse: "allow-if-failed" }))).toEqual(
        { runId: fresh2.runId, existing: true },
      );
      expect(await store.cancel(fresh2.runId, { now: 3 })).toBe(true);
      const third = await store.submit(keyed("r5", one, { idempotencyReuse: "allow-if-failed" }));
      expect(third.existing).toBe(false);
    });

    it("result() and status() of a run that does not exist fail at once with RunNotFound", async () => {
      const store = await fresh();
      await expect(store.waitForRun("no-such-run", 60_000)).rejects.toBeInstanceOf(RunNotFound);
      let now = 0;
      const client = createClient(store, () => now);
      const run = await client.submit(one as Canvas<unknown, unknown>, { retentionMs: 0 });
      const [c] = await store.claim(lease(1));
      expect((await store.complete(c!, encode(1), completeOpts(2))).ok).toBe(true);
      now = 3;
      await store.maintain({ now, queues: ["default"] });
      await expect(run.result({ timeout: 60_000 })).rejects.toBeInstanceOf(RunNotFound);
      await expect(run.status()).rejects.toBeInstanceOf(RunNotFound);
    });

    it("result() fails with StoreUnavailable, not ResultTimeout, when its store is closed while it waits", async () => {
      const store = await fresh();
      const client = createClient(store);
      const run = await client.submit(one as Canvas<unknown, unknown>);
      const waiting = run.result({ timeout: 60_000 }).catch((e: unknown) => e);
      await store.close();
      const e = await waiting;
      expect(e).toBeInstanceOf(StoreUnavailable);
      expect((e as Error).message).toMatch(/closed/);
    });

    it("decodes a run's result with the run's own stored DAG, never the handle's canvas", async () => {
      const store = await fresh();
      const num = task({ name: "num", input: Schema.Unknown, output: Schema.Int });
      const word = task({ name: "word", input: Schema.Unknown, output: Schema.String });
      const stored = group(num.si(1), word.si("x"));
      const other = group(word.si("y"), num.si(2));
      // a run whose stored fingerprint matches another canvas (written by an older client, say)
      const { runId } = await store.submit(
        submission("decode", stored, { fingerprint: fingerprint(compile(other)) }),
      );
      const client = createClient(store);
      const handle = await client.submit(other, { runId: "decode" });
      expect(handle).toMatchObject({ runId, existing: true });
      const claims = await store.claim(lease(1));
      for (const c of claims)
        await store.complete(c, encode(c.nodeId === 0 ? 7 : "seven"), completeOpts(2));
      // decoded by the stored node's task: the handle's canvas would read node 0 as a string
      expect(await handle.result({ timeout: 20_000 })).toEqual([7, "seven"]);
      const missing = await client.submit(group(word.si("z")), { runId: "decode" }).catch((e) => e);
      expect(missing).toBeInstanceOf(DuplicateRun);
      const lying = await store.submit(
        submission("decode-2", stored, { fingerprint: fingerprint(compile(group(word.si("z")))) }),
      );
      const partial = await client.submit(group(word.si("z")), { runId: "decode-2" });
      for (const c of await store.claim(lease(3)))
        await store.complete(c, encode(c.nodeId === 0 ? 7 : "seven"), completeOpts(4));
      const err = await partial.result({ timeout: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResultUndecodable);
      expect((err as Error).message).toMatch(/node 0 of run .*task "num", which this canvas/);
      expect(lying.runId).toBe(partial.runId);
    });
  });

  describe(`${name}: typed errors`, () => {
    class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
      id: Schema.Int,
      // stored encoded (a string), decoded on read (a Date)
      since: Schema.DateFromString,
    }) {}
    const RateLimited = Schema.TaggedStruct("RateLimited", {
      retryAfterMs: Schema.FiniteFromString,
    });
    const lookup = task({
      name: "lookup",
      input: Schema.String,
      output: Schema.Int,
      errors: [NotFound, RateLimited],
      retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 0 }, nonRetryable: ["NotFound"] },
    });
    const since = new Date(Date.UTC(2026, 0, 2));
    /** An error callback that decodes the failure it reports on as lookup's declared error. */
    const triage = task({ name: "triage", input: FailureRecord, output: Schema.Unknown });
    const triaged: unknown[] = [];
    const typed = async () => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: [
          ...handlers,
          handle(lookup, (what) => {
            if (what === "missing") throw new NotFound({ id: 7, since });
            if (what === "limited") return Effect.fail(RateLimited.make({ retryAfterMs: 250 }));
            if (what === "declined")
              throw new TaskFailure("card declined", { tag: "CardDeclined", data: { code: 51 } });
            if (what === "fielded")
              throw Object.assign(new Error("bad row"), { row: 3, fn: () => 1 });
            return what.length;
          }),
          handle(triage, (f) => {
            triaged.push(failureOf(lookup, f.error));
            return f.error.data ?? null;
          }),
        ],
        logger: silent,
        concurrency: 4,
        leaseMs: 5_000,
        idleMs: 200,
      });
      open.push({ close: () => worker.stop() } as unknown as Store);
      return createClient(store);
    };
    const failed = async (client: ReturnType<typeof createClient>, what: string) => {
      const run = await client.submit(lookup.si(what));
      const e = await run.result({ timeout: 20_000 }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(RunFailed);
      return { e: e as RunFailed, snap: await client.get(run.runId) };
    };

    it("records a declared error encoded by its schema and decodes it on read: RunFailed.failure, failureOf; nonRetryable works by tag", async () => {
      const client = await typed();
      const { e, snap } = await failed(client, "missing");
      expect(snap.nodes[0]!.attempts).toBe(1); // NotFound is nonRetryable by tag
      expect(snap.nodes[0]!.error).toMatchObject({
        tag: "NotFound",
        data: { _tag: "NotFound", id: 7, since: since.toISOString() },
      });
      expect(e.nodeId).toBe(0);
      expect(e.failure).toBeInstanceOf(NotFound);
      const nf = failureOf(lookup, e);
      expectTypeOf(nf).toEqualTypeOf<
        NotFound | { readonly _tag: "RateLimited"; readonly retryAfterMs: number } | undefined
      >();
      expect(nf).toBeInstanceOf(NotFound);
      if (nf?._tag !== "NotFound") throw new Error("not a NotFound");
      expect(nf.id).toBe(7);
      expect(nf.since).toEqual(since);
    });

    it("retries a declared error the policy allows by tag; an Effect failure is recorded like a thrown one", async () => {
      const client = await typed();
      const { e, snap } = await failed(client, "limited");
      expect(snap.nodes[0]!.attempts).toBe(2);
      expect(snap.nodes[0]!.error?.data).toEqual({ _tag: "RateLimited", retryAfterMs: "250" });
      expect(e.failure).toEqual({ _tag: "RateLimited", retryAfterMs: 250 });
      expect(failureOf(lookup, e)).toEqual({ _tag: "RateLimited", retryAfterMs: 250 });
      // another task declares no RateLimited: nothing to decode with
      expect(failureOf(inc, e)).toBeUndefined();
    });

    it("keeps structured data of undeclared errors: a TaskFailure's data, an Error's plain-data fields", async () => {
      const client = await typed();
      const declined = await failed(client, "declined");
      expect(declined.snap.nodes[0]!.error).toMatchObject({
        tag: "CardDeclined",
        data: { code: 51 },
      });
      expect(declined.e.failure).toBeUndefined();
      const fielded = await failed(client, "fielded");
      expect(fielded.snap.nodes[0]!.error).toMatchObject({ tag: "Error", data: { row: 3 } });
    });

    it("hands an error callback the failing node's structured data: failureOf decodes its FailureRecord's error", async () => {
      const client = await typed();
      triaged.length = 0;
      const run = await client.submit(lookup.si("missing").onError(triage.s()));
      const e = await run
        .result({ timeout: 20_000, waitForQuiet: true })
        .catch((err: unknown) => err);
      expect(e).toBeInstanceOf(RunFailed);
      const snap = await client.get(run.runId);
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["lookup", "failed"],
        ["triage", "succeeded"],
      ]);
      expect(triaged).toHaveLength(1);
      const nf = triaged[0];
      expect(nf).toBeInstanceOf(NotFound);
      expect((nf as NotFound).id).toBe(7);
      expect((nf as NotFound).since).toEqual(since);
    });

    it("hands a settled group's next step each failed member's data, decodable with failureOf", async () => {
      const client = await typed();
      const run = await client.submit(
        chord(group(lookup.si("missing"), lookup.si("four")).settled(), labels.s()),
      );
      const out = (await run.result({ timeout: 20_000 })) as ReadonlyArray<{
        ok: boolean;
        error?: unknown;
      }>;
      expect(out[1]).toEqual({ ok: true, value: 4 });
      expect(out[0]!.ok).toBe(false);
      const member = failureOf(lookup, out[0]!.error);
      expect(member).toBeInstanceOf(NotFound);
      expect((member as NotFound).since).toEqual(since);
    });
  });

  describe(`${name}: the task context`, () => {
    const probe = task({
      name: "probe",
      input: Schema.Unknown,
      output: Schema.Unknown,
      queue: "ctx",
      priority: 9,
      retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 0 } },
    });
    interface Seen {
      readonly nodeId: number;
      readonly attempt: number;
      readonly ctx: Record<string, unknown>;
    }
    const probing = async (seen: Seen[]) => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: [
          handle(probe, async (x, ctx) => {
            seen.push({
              nodeId: ctx.nodeId,
              attempt: ctx.attempt,
              ctx: {
                runId: ctx.runId,
                rootRunId: ctx.rootRunId,
                parentNodeIds: ctx.parentNodeIds,
                queue: ctx.queue,
                priority: ctx.priority,
                attemptsLeft: ctx.attemptsLeft,
                headers: ctx.headers,
              },
            });
            if (x === "flaky" && ctx.attempt === 1) throw new Error("first attempt fails");
            return ctx.nodeId;
          }),
        ],
        logger: silent,
        queues: ["ctx"],
        concurrency: 2,
        leaseMs: 5_000,
        idleMs: 200,
      });
      open.push({ close: () => worker.stop() } as unknown as Store);
      return createClient(store);
    };

    it("hands every node the run's headers, its root run id, parent node ids, queue, priority and attempts left", async () => {
      const seen: Seen[] = [];
      const client = await probing(seen);
      const headers = { tenant: "acme", trace: { id: "t-1", sampled: true }, n: [1, 2] };
      const run = await client.submit(
        chain(probe.si("a"), group(probe.s(), probe.si("flaky").with({ priority: 2 })), probe.s()),
        { headers },
      );
      expect(await run.result({ timeout: 20_000 })).toBe(3);
      const last = (id: number) => seen.filter((s) => s.nodeId === id).at(-1)!.ctx;
      for (const s of seen) {
        expect(s.ctx).toMatchObject({ runId: run.runId, rootRunId: run.runId, headers });
        expect(s.ctx.queue).toBe("ctx");
      }
      expect(last(0)).toMatchObject({ parentNodeIds: [], priority: 9, attemptsLeft: 2 });
      expect(last(1)).toMatchObject({ parentNodeIds: [0], priority: 9 });
      expect(last(3)).toMatchObject({ parentNodeIds: [1, 2], priority: 9 });
      // the flaky node: attempts left count down across its retry
      const flaky = seen.filter((s) => s.nodeId === 2);
      expect(flaky.map((s) => [s.attempt, s.ctx.attemptsLeft, s.ctx.priority])).toEqual([
        [1, 2, 2],
        [2, 1, 2],
      ]);
    });

    it("gives {} as headers when the run has none; refuses headers that are not a small plain object, naming the option", async () => {
      const seen: Seen[] = [];
      const client = await probing(seen);
      const run = await client.submit(probe.si("x"));
      await run.result({ timeout: 20_000 });
      expect(seen[0]!.ctx.headers).toEqual({});
      for (const bad of [[1, 2], "x", { at: new Date(0) }, { big: "x".repeat(9_000) }]) {
        const e = await client
          .submit(probe.si("x"), { runId: "bad-headers", headers: bad as never })
          .catch((err: unknown) => err);
        expect(e).toBeInstanceOf(InvalidSubmitOptions);
        expect((e as Error).message).toMatch(/option headers/);
      }
      // nothing was written
      await expect(client.get("bad-headers")).rejects.toThrow(RunNotFound);
    });
  });

  describe(`${name}: submit by name, reattach by id`, () => {
    // declared only on the worker's side: the producer names them
    const slow = task({
      name: "slow",
      input: Schema.Struct({ ms: Schema.Int }),
      output: Schema.Int,
      timeoutMs: 100,
      retry: { maxAttempts: 1 },
    });
    const byNameHandlers: ReadonlyArray<BoundHandler> = [
      ...handlers,
      handle(
        slow,
        (_, ctx) =>
          new Promise<number>((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
          }),
      ),
    ];
    const withByNameWorker = async <T>(
      fn: (client: ReturnType<typeof createClient>, store: Store) => Promise<T>,
    ) => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: byNameHandlers,
        logger: silent,
        concurrency: 2,
        leaseMs: 5_000,
        idleMs: 200,
      });
      try {
        return await fn(createClient(store), store);
      } finally {
        await worker.stop();
      }
    };

    it("runs a task submitted by name; the same idempotency key returns the same run; handle(runId, task) types the result", async () => {
      await withByNameWorker(async (client, store) => {
        const opts = { idempotencyKey: "sum-of-2-3", priority: 9, tags: ["by-name"] };
        const run = await client.submitByName("add", { a: 2, b: 3 }, opts);
        expect(run.existing).toBe(false);
        expect(await run.result({ timeout: 20_000 })).toBe(5);
        const again = await client.submitByName("add", { a: 2, b: 3 }, opts);
        expect(again).toMatchObject({ runId: run.runId, existing: true });
        const snap = await client.get(run.runId);
        expect(snap.run.tags).toEqual(["by-name"]);
        expect(snap.nodes.map((n) => [n.spec.task, n.spec.queue, n.spec.priority])).toEqual([
          ["add", "default", 9],
        ]);
        // another process reattaches by id with the declaration: a typed result
        const other = createClient(store);
        const typed = await other.handle(run.runId, add);
        expectTypeOf(typed.result).returns.resolves.toEqualTypeOf<number>();
        expect(typed.existing).toBe(true);
        expect(await typed.result({ timeout: 20_000 })).toBe(5);
        expect(await typed.progress()).toEqual({
          runId: run.runId,
          status: "succeeded",
          total: 1,
          ended: 1,
          nodes: [{ id: 0, task: "add", state: "succeeded", attempts: 1 }],
        });
      });
    });

    it("fails a node whose input the worker's schema refuses: InvalidInput with the field's path, not retried; the worker goes on", async () => {
      await withByNameWorker(async (client) => {
        const bad = await client.submitByName("add", { a: "two", b: 3 });
        const err = await bad.result({ timeout: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunFailed);
        const node = (await client.get(bad.runId)).nodes[0]!;
        expect(node).toMatchObject({ state: "failed", attempts: 1 });
        expect(node.error).toMatchObject({ tag: "InvalidInput", retryable: false });
        expect(node.error?.message).toBe(
          'input of task "add" is invalid: Expected number\n  at ["a"]',
        );
        const good = await client.submitByName("inc", 41);
        expect(await good.result({ timeout: 20_000 })).toBe(42);
      });
    });

    it("runs a node submitted by name under the worker's declaration: its timeout and retry policy", async () => {
      await withByNameWorker(async (client) => {
        const run = await client.submitByName("slow", { ms: 1 });
        await expect(run.result({ timeout: 20_000 })).rejects.toBeInstanceOf(RunFailed);
        const node = (await client.get(run.runId)).nodes[0]!;
        // timeoutMs 100 and maxAttempts 1 come from the worker's declaration of "slow"
        expect(node).toMatchObject({ state: "failed", attempts: 1 });
        expect(node.error?.tag).toBe("Timeout");
        expect(node.spec.options).toEqual({});
      });
    });

    it("refuses a bad task name, an unknown or bad option, and input that is not plain data, writing nothing", async () => {
      const store = await fresh();
      const client = createClient(store);
      const refusal = (p: Promise<unknown>) =>
        p.then(
          () => undefined,
          (e: unknown) => e,
        );
      const name = await refusal(client.submitByName("no spaces", 1));
      expect(name).toBeInstanceOf(InvalidCanvas);
      expect((name as Error).message).toContain('task name "no spaces" must match');
      const typo = await refusal(
        client.submitByName("add", 1, { queues: "x" } as unknown as SubmitByNameOptions),
      );
      expect(typo).toBeInstanceOf(InvalidCanvas);
      expect((typo as Error).message).toContain('unknown option "queues"');
      const queue = await refusal(client.submitByName("add", 1, { queue: "a b" }));
      expect((queue as Error).message).toContain("option queue must be");
      const input = await refusal(client.submitByName("add", { a: 1, b: () => 2 }));
      expect(input).toBeInstanceOf(InvalidInput);
      expect((input as Error).message).toContain('["b"]');
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
    });

    it("reattaches by id with the canvas: typed result, progress and cancel; RunNotFound for an unknown id", async () => {
      const store = await fresh();
      const producer = createClient(store);
      const submitted = await producer.submit(
        group(add.si({ a: 1, b: 2 }), tag.si({ label: "x", n: 1 })),
      );
      const reader = createClient(store);
      // any input will do: the canvas only supplies output schemas
      const canvas = group(add.si({ a: 0, b: 0 }), tag.si({ label: "", n: 0 }));
      const run = await reader.handle(submitted.runId, canvas);
      expectTypeOf(run.result).returns.resolves.toEqualTypeOf<[number, string]>();
      expect((await run.progress()).nodes.map((n) => n.state)).toEqual(["queued", "queued"]);
      expect(await run.cancel()).toBe(true);
      expect((await run.status()).status).toBe("cancelled");
      expect(await run.cancel()).toBe(false);
      await expect(reader.handle("no-such-run", add)).rejects.toBeInstanceOf(RunNotFound);

      await withByNameWorker(async (client) => {
        const done = await client.submit(
          group(add.si({ a: 1, b: 2 }), tag.si({ label: "x", n: 1 })),
        );
        expect(await (await client.handle(done.runId, canvas)).result({ timeout: 20_000 })).toEqual(
          [3, "x1"],
        );
        // a task handle needs an output of one node
        const err = await (await client.handle(done.runId, add))
          .result({ timeout: 20_000 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ResultUndecodable);
        expect((err as Error).message).toContain("not one task's; reattach with the run's canvas");
      });
    });
  });

  describe(`${name}: cancelled runs`, () => {
    it("refuses a completion in a cancelled run: the node ends cancelled, no result is recorded; repeated, the same answer", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("late-ok", group(one, one)));
      const [a, b] = await store.claim(lease(1));
      expect(await store.cancel(runId, { now: 2 })).toBe(true);
      expect(await store.complete(a!, encode("too late"), completeOpts(3))).toEqual({
        ok: false,
        reason: "cancelled",
      });
      expect(await store.complete(a!, encode("too late"), completeOpts(4))).toEqual({
        ok: false,
        reason: "cancelled",
      });
      expect(await store.getResult(runId, 0)).toBeUndefined();
      const snap = (await store.getRun(runId))!;
      expect(snap.nodes[0]).toMatchObject({ state: "cancelled", finishedAt: 3 });
      expect(snap.nodes[0]!.error?.tag).toBe("Cancelled");
      expect(snap.nodes[0]!.history.map((h) => h.outcome)).toEqual(["cancelled"]);
      expect(snap.run).toMatchObject({ status: "cancelled", ended: 1 });
      expect(snap.run.finishedAt).toBeUndefined();
      expect((await store.fail(b!, planned, { now: 5, retryAt: null })).ok).toBe(true);
      expect((await store.getRun(runId))!.run).toMatchObject({ ended: 2, finishedAt: 5 });
    });

    it("result() rejects as soon as the run failed; with waitForQuiet it waits until every node has ended", async () => {
      const store = await fresh();
      const client = createClient(store, () => 0);
      const run = await client.submit(group(one, one) as Canvas<unknown, unknown>);
      const [a, b] = await store.claim(lease(1));
      expect((await store.fail(a!, planned, { now: 2, retryAt: null })).ok).toBe(true);
      // failed, with node 1 still running
      await expect(run.result({ timeout: 0 })).rejects.toBeInstanceOf(RunFailed);
      await expect(run.result({ timeout: 0, waitForQuiet: true })).rejects.toBeInstanceOf(
        ResultTimeout,
      );
      expect(await store.waitForRun(run.runId, 0, { quiet: true })).toBeUndefined();
      const quiet = run.result({ timeout: 20_000, waitForQuiet: true });
      const settled = quiet.catch((e: unknown) => e);
      expect((await store.complete(b!, encode(2), completeOpts(3))).ok).toBe(true);
      expect(await settled).toBeInstanceOf(RunFailed);
      const record = await store.waitForRun(run.runId, 0, { quiet: true });
      expect(record).toMatchObject({ status: "failed", finishedAt: 3, ended: 2 });
    });
  });

  eventsConformance(name, fresh);
  listingConformance(name, fresh);
  pauseConformance(name, fresh);
  redriveConformance(name, fresh, opts.runs === undefined ? {} : { runs: opts.runs });
  submitManyConformance(name, fresh, opts.runs === undefined ? {} : { runs: opts.runs });
  wakeConformance(name, fresh);

  const tamper = opts.tamper;
  if (tamper) {
    describe(`${name}: corrupt records`, () => {
      it("a corrupt node record fails only its own node and run: the rest of its claim batch and ten healthy runs on the same queue succeed", async () => {
        const store = await fresh();
        const client = createClient(store);
        // written and corrupted before any worker runs: nothing reads the records first
        const queued = await client.submit(
          group(add.si({ a: 1, b: 0 }), add.si({ a: 2, b: 0 }), add.si({ a: 3, b: 0 })),
        );
        const waiting = await client.submit(chain(add.si({ a: 1, b: 1 }), inc.s(), inc.s()));
        await tamper(store, queued.runId, 1);
        await tamper(store, waiting.runId, 1);
        const healthy = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            client.submit(chain(add.si({ a: i, b: 1 }), inc.s())),
          ),
        );
        // one claim takes every ready node: the corrupt one is in the batch with the others
        const worker = startWorker({
          store,
          handlers,
          logger: silent,
          concurrency: 16,
          idleMs: 200,
        });
        try {
          expect(await Promise.all(healthy.map((h) => h.result({ timeout: 20_000 })))).toEqual(
            Array.from({ length: 10 }, (_, i) => i + 2),
          );
          for (const bad of [queued, waiting]) {
            const err = (await bad
              .result({ timeout: 20_000, waitForQuiet: true })
              .catch((e: unknown) => e)) as RunFailed;
            expect(err).toBeInstanceOf(RunFailed);
            expect(err.error?.tag).toBe("CorruptRecord");
            expect(err.error?.message).toMatch(/^corrupt record: key \S+ field n1: /);
          }
          const q = await client.get(queued.runId);
          expect(q.run).toMatchObject({ status: "failed", failedNode: 1 });
          expect(q.nodes.map((n) => n.state)).toEqual(["succeeded", "failed", "succeeded"]);
          const w = await client.get(waiting.runId);
          expect(w.run).toMatchObject({ status: "failed", failedNode: 1 });
          expect(w.nodes.map((n) => n.state)).toEqual(["succeeded", "failed", "skipped"]);
          expect(w.nodes[1]!.error?.message).toMatch(/ field n1: /);
          expect(w.nodes[2]!.error?.message).toBe(
            "a corrupt record (field n1) stopped the run before this node could start",
          );
        } finally {
          await worker.stop();
        }
      });

      it("sweeps a run whose corrupt record the first of two nodes stalled out in one claim meets before the second's cascade runs, as the model", async () => {
        // chain(0, chord([1, chain(2, 3)], 4), 5): 1 and 2 stall out in the same claim, 4's
        // record is corrupt (planted before the first claim: the fifth of the six fresh nodes).
        // 1's cascade meets 4 and the sweep skips 3 (the model sweeps at the end of 1's
        // transition) before 2's cascade would skip it as the dependent of a failed node
        const canvas = chain(one, chord([one, chain(one, one)], one), one);
        const plan = {
          faults: [[], ["crash", "crash"], ["crash", "crash"]] as const,
          batch: 2,
          reverse: false,
          chainNext: false,
          tamper: { step: 1, pick: 4 },
        };
        const store = await fresh();
        const got = await drive(store, canvas, plan, "swept", {
          tamper: (runId, nodeId) => tamper(store, runId, nodeId),
        });
        const model = new MemoryStore();
        const want = await drive(model, canvas, plan, "swept", {
          tamper: async (runId, nodeId) => model.corruptNodeRecord(runId, nodeId),
        });
        expect(normalize(got.snapshot)).toEqual(normalize(want.snapshot));
        expect(got.snapshot.nodes.map((n) => n.state)).toEqual([
          "succeeded",
          "failed",
          "failed",
          "skipped",
          "failed",
          "skipped",
        ]);
        expect(got.snapshot.nodes[3]!.error?.message).toBe(
          "a corrupt record (field n4) stopped the run before this node could start",
        );
      });

      it("shows a planted corrupt record in getRun at once, before any script reads it", async () => {
        const store = await fresh();
        const { runId } = await store.submit(submission("shown", chain(one, one)));
        await tamper(store, runId, 1);
        const snap = (await store.getRun(runId))!;
        expect(snap.nodes[1]).toMatchObject({ state: "failed", id: 1 });
        expect(snap.nodes[1]!.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
        expect(snap.nodes[1]!.error!.message).toMatch(/ field n1: /);
        expect(snap.run.status).toBe("running");
      });
    });
  }
};
