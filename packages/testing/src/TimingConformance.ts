/**
 * The conformance tests of delayed and expiring work (docs/schedules.md,
 * "Delayed and expiring work"), part of the suite every store passes (see
 * `storeConformance`): a node held by a delay is held in the store, never
 * handed out before its time; a node not started by its deadline ends
 * `expired`, at its claim or by maintenance, its dependents are skipped and
 * its run fails with `Expired`, unless it sits in a settled group. Time is
 * the `now` each store call is given (virtual time, on every store); one test
 * runs a real worker on real time and waits on the run's end, not on a sleep.
 */
import { fc, test } from "@fast-check/vitest";
import {
  chain,
  chord,
  createClient,
  group,
  handle,
  InvalidCanvas,
  InvalidSubmitOptions,
  RunFailed,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { type Claim, compile, decode, encode, type Submission } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const echo = task({ name: "echo", input: Schema.Unknown, output: Schema.Unknown });

const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60_000 } as const;
const claimReq = (now: number, queues: ReadonlyArray<string> = ["default"], max = 8) => ({
  workerId: "w",
  queues,
  max,
  leaseMs: 10_000,
  now,
});
const done = (now: number, nextMax = 0) => ({
  now,
  workerId: "w",
  queues: ["default"],
  nextMax,
  leaseMs: 10_000,
});
const sub = (
  runId: string,
  canvas: Parameters<typeof compile>[0],
  more: Partial<Submission> = {},
): Submission => ({ ...base, runId, dag: compile(canvas), now: 0, ...more });

/** The events of run `runId`, each as its kind and what it names. */
const said = async (store: Store, runId: string): Promise<string[]> =>
  (await store.readEvents({ runId })).events.map((e) => {
    switch (e.kind) {
      case "run":
      case "run-ended":
        return `${e.kind} ${e.status}`;
      case "progress":
      case "lease-expired":
      case "added":
        return e.kind;
      default:
        return `${e.kind} ${e.nodeId}${e.errorTag ? ` ${e.errorTag}` : ""}`;
    }
  });

/**
 * Registers the delayed-and-expiring-work tests for a store.
 *
 * @param name shown in the test names.
 * @param fresh returns a fresh, empty store that the caller closes after the test.
 */
export const timingConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: delayed and expiring work`, () => {
    it("holds a run submitted with notBefore in the delayed set: no claim before its time, nextDueAt names it", async () => {
      const store = await fresh();
      const { runId } = await store.submit(sub("later", inc.si(1), { notBefore: 500 }));
      const snap = (await store.getRun(runId))!;
      expect(snap.run.notBefore).toBe(500);
      expect(snap.nodes[0]).toMatchObject({ state: "queued", dueAt: 500 });
      expect(await store.nextDueAt(["default"])).toBe(500);
      expect(await store.claim(claimReq(499))).toEqual([]);
      expect(await store.maintain({ now: 499, queues: ["default"] })).toMatchObject({
        promoted: 0,
        expired: 0,
      });
      const [c] = await store.claim(claimReq(500));
      expect(c).toMatchObject({ runId, nodeId: 0, attempt: 1 });
      expect((await store.getRun(runId))!.nodes[0]).toMatchObject({
        state: "running",
        startedAt: 500,
      });
    });

    it("applies a signature's delayMs when the node becomes ready: a completion does not hand it out, a claim before its time gets nothing", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub("step", chain(inc.si(1), inc.s().with({ delayMs: 100 }))),
      );
      const [first] = await store.claim(claimReq(0));
      const r = await store.complete(first!, encode(2), done(40, 8));
      expect(r).toEqual({ ok: true, next: [] });
      expect((await store.getRun(runId))!.nodes[1]).toMatchObject({ state: "queued", dueAt: 140 });
      expect(await store.claim(claimReq(139))).toEqual([]);
      const [second] = await store.claim(claimReq(140));
      expect(second).toMatchObject({ nodeId: 1, attempt: 1 });
      expect(second!.deps.map((d) => d.ok && decode(d.value))).toEqual([2]);
    });

    it("takes two nodes that expire in one claim batch in turn: the first one's cascade runs before the second one fails the run", async () => {
      const store = await fresh();
      // node 0: a settled member (tolerated), node 1: the chord body it makes ready, node 2: a plain member
      const { runId } = await store.submit(
        sub(
          "late-pair",
          group(
            chord(group(inc.si(1).with({ expiresInMs: 50 })).settled(), echo.s()),
            inc.si(2).with({ expiresInMs: 50 }),
          ),
        ),
      );
      // both past their deadline in this one batch, node 0 first: its cascade queues node 1
      // while the run is still running, then node 2 fails the run; the claim goes on and
      // hands out node 1 (a node queued before its run failed still runs)
      expect((await store.claim(claimReq(50))).map((c) => c.nodeId)).toEqual([1]);
      const snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 2 });
      expect(snap.nodes.map((n) => n.state)).toEqual(["expired", "running", "expired"]);
    });

    it("ends a node claimed at or past its deadline expired: the claim gets nothing, dependents skipped, the run fails with Expired", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub("late", chain(inc.si(1).with({ expiresInMs: 50 }), inc.s())),
      );
      expect(await store.claim(claimReq(50))).toEqual([]);
      const snap = (await store.getRun(runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual(["expired", "skipped"]);
      expect(snap.nodes[0]!.expiresAt).toBe(50);
      expect(snap.nodes[0]!.error).toEqual({
        tag: "Expired",
        message: "not started by its deadline, expiresAt 50 (epoch ms)",
        retryable: false,
      });
      expect(snap.nodes[1]!.error?.message).toBe("upstream node 0 (inc) expired");
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 0, finishedAt: 50 });
      expect(snap.run.error?.tag).toBe("Expired");
      // the stream tells it as it happened: an `expired` node event, then the run's
      expect(await said(store, runId)).toEqual([
        "queued 0",
        "expired 0 Expired",
        "run failed",
        "skipped 1",
        "run-ended failed",
      ]);
    });

    it("starts a node claimed just before its deadline", async () => {
      const store = await fresh();
      await store.submit(sub("just", inc.si(1).with({ expiresAt: 50 })));
      const [c] = await store.claim(claimReq(49));
      expect(c).toMatchObject({ nodeId: 0, attempt: 1 });
    });

    it("expires by maintenance a node nobody claims (a run with nothing claimable still ends)", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub("idle", group(inc.si(1).with({ queue: "nobody" }), inc.si(2)), { expiresAt: 100 }),
      );
      const [c] = await store.claim(claimReq(10));
      expect((await store.complete(c!, encode(2), done(20))).ok).toBe(true);
      expect(await store.maintain({ now: 99, queues: ["nobody"] })).toMatchObject({ expired: 0 });
      expect(await store.maintain({ now: 100, queues: ["nobody"] })).toMatchObject({ expired: 1 });
      expect(await store.maintain({ now: 200, queues: ["nobody"] })).toMatchObject({ expired: 0 });
      const snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 0, expiresAt: 100 });
      expect(snap.run.finishedAt).toBe(100);
      expect(snap.nodes.map((n) => n.state)).toEqual(["expired", "succeeded"]);
      expect(await store.claim(claimReq(300, ["nobody"]))).toEqual([]);
    });

    it("expires by maintenance a node delayed past its deadline, and never hands it out", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub("held", inc.si(1).with({ delayMs: 1_000, expiresInMs: 100 })),
      );
      expect(await store.nextDueAt(["default"])).toBe(100);
      expect(await store.maintain({ now: 100, queues: ["default"] })).toMatchObject({ expired: 1 });
      expect((await store.getRun(runId))!.nodes[0]!.state).toBe("expired");
      expect(await store.claim(claimReq(2_000))).toEqual([]);
    });

    it("expires at once a dependent made ready after the run's deadline", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub("after", chain(inc.si(1), inc.s(), inc.s()), { expiresAt: 100 }),
      );
      const [c] = await store.claim(claimReq(0));
      expect(await store.complete(c!, encode(2), done(150, 8))).toEqual({ ok: true, next: [] });
      const snap = (await store.getRun(runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "expired", "skipped"]);
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 1, finishedAt: 150 });
      // every node shows the deadline it had, the one never ready included
      expect(snap.nodes.map((n) => n.expiresAt)).toEqual([100, 100, 100]);
    });

    it("expires a retry due after the node's deadline, keeping its failed attempt in the history", async () => {
      const store = await fresh();
      const { runId } = await store.submit(sub("retry", inc.si(1).with({ expiresInMs: 100 })));
      const [c] = await store.claim(claimReq(0));
      const err = { tag: "Boom", message: "try again", retryable: true };
      expect((await store.fail(c!, err, { now: 10, retryAt: 200 })).ok).toBe(true);
      expect(await store.claim(claimReq(200))).toEqual([]);
      const node = (await store.getRun(runId))!.nodes[0]!;
      expect(node).toMatchObject({ state: "expired", attempts: 1 });
      expect(node.history.map((h) => h.outcome)).toEqual(["failed"]);
    });

    it("a settled group tolerates an expired member: the callback receives its Expired error and the run succeeds", async () => {
      const store = await fresh();
      const { runId } = await store.submit(
        sub(
          "settled",
          chord(
            group(inc.si(1).with({ queue: "other", expiresInMs: 10 }), inc.si(2)).settled(),
            echo.s(),
          ),
        ),
      );
      const [member] = await store.claim(claimReq(5));
      expect(member).toMatchObject({ nodeId: 1 });
      expect((await store.complete(member!, encode(3), done(6))).ok).toBe(true);
      expect(await store.maintain({ now: 10, queues: ["other"] })).toMatchObject({ expired: 1 });
      const [body] = await store.claim(claimReq(11));
      expect(body).toMatchObject({ nodeId: 2 });
      expect(body!.deps[0]).toMatchObject({ ok: false, error: { tag: "Expired" } });
      expect(body!.deps[1]!.ok).toBe(true);
      expect((await store.complete(body!, encode(null), done(12))).ok).toBe(true);
      const snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("succeeded");
      expect(snap.nodes.map((n) => n.state)).toEqual(["expired", "succeeded", "succeeded"]);
    });

    it("an expired node is a failure for its error callbacks: at its claim and by maintenance, the callback receives the Expired error", async () => {
      const store = await fresh();
      /** The error callbacks of a run, each as the node it watches and its state. */
      const callbacks = async (runId: string) =>
        (await store.getRun(runId))!.nodes
          .filter((n) => n.spec.callback === "error")
          .map((n) => [n.spec.failure?.node, n.state]);
      // expired at its claim (start.lua / Machine.startNode)
      const claimed = await store.submit(
        sub("cb-claim", chain(inc.si(1).with({ expiresInMs: 50 }), inc.s()).onError(echo.s())),
      );
      const first = [...(await store.claim(claimReq(50))), ...(await store.claim(claimReq(51)))];
      expect(first.map((c) => c.nodeId)).toHaveLength(1);
      const cb = first[0]!;
      expect(cb.deps).toEqual([
        {
          ok: false,
          error: {
            tag: "Expired",
            message: "not started by its deadline, expiresAt 50 (epoch ms)",
            retryable: false,
          },
        },
      ]);
      expect(await callbacks(claimed.runId)).toEqual([
        [0, "running"],
        [1, "skipped"],
      ]);
      expect((await store.complete(cb, encode(null), done(52))).ok).toBe(true);
      let snap = (await store.getRun(claimed.runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 0 });
      expect(snap.run.error?.tag).toBe("Expired");
      expect(snap.nodes.find((n) => n.id === cb.nodeId)!.state).toBe("succeeded");
      // expired by maintenance (expire.lua / Machine.expire): a node nobody claims
      const idle = await store.submit(
        sub("cb-idle", inc.si(1).with({ queue: "nobody", expiresInMs: 10 }).onError(echo.s())),
      );
      expect(await store.maintain({ now: 10, queues: ["nobody"] })).toMatchObject({ expired: 1 });
      const [late] = await store.claim(claimReq(11));
      expect(late).toMatchObject({ runId: idle.runId, nodeId: 1 });
      expect(late!.deps[0]).toMatchObject({ ok: false, error: { tag: "Expired" } });
      expect((await store.complete(late!, encode(null), done(12))).ok).toBe(true);
      snap = (await store.getRun(idle.runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual(["expired", "succeeded"]);
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 0 });
    });

    it("a cancelled run's delayed nodes leave the delayed set", async () => {
      const store = await fresh();
      const { runId } = await store.submit(sub("cancel", inc.si(1), { notBefore: 100 }));
      expect(await store.cancel(runId, { now: 10 })).toBe(true);
      expect((await store.getRun(runId))!.nodes[0]!.state).toBe("cancelled");
      expect(await store.claim(claimReq(200))).toEqual([]);
      expect(await store.nextDueAt(["default"])).toBeUndefined();
    });

    test.prop(
      [
        fc.array(
          fc.record({
            delayMs: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
            expiresInMs: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(fc.record({ step: fc.integer({ min: 0, max: 80 }), maintain: fc.boolean() }), {
          minLength: 1,
          maxLength: 12,
        }),
      ],
      { numRuns: 15 },
    )(
      "a delayed node never starts before its time, an expired node never starts after its deadline, and a node claimed in its window starts",
      async (limits, ops) => {
        const store = await fresh();
        const canvas = group(
          ...limits.map((l, i) =>
            inc.si(i).with({
              ...(l.delayMs === undefined ? {} : { delayMs: l.delayMs }),
              ...(l.expiresInMs === undefined ? {} : { expiresInMs: l.expiresInMs }),
            }),
          ),
        );
        const { runId } = await store.submit(sub(`prop-${Math.random()}`, canvas));
        const started = new Map<number, number>();
        let now = 0;
        for (const op of ops) {
          now += op.step;
          if (op.maintain) await store.maintain({ now, queues: ["default"] });
          const before = new Set(started.keys());
          const claims: Claim[] = [...(await store.claim(claimReq(now)))];
          for (const c of claims) started.set(c.nodeId, now);
          const snap = (await store.getRun(runId))!;
          limits.forEach((l, id) => {
            const from = l.delayMs ?? 0;
            const until = l.expiresInMs ?? Number.POSITIVE_INFINITY;
            const at = started.get(id);
            if (at !== undefined) {
              expect(at).toBeGreaterThanOrEqual(from);
              expect(at).toBeLessThan(until);
            }
            const state = snap.nodes[id]!.state;
            if (state === "expired") expect(now).toBeGreaterThanOrEqual(until);
            if (before.has(id)) return;
            // claimed within its window, it started; claimed past its deadline, it expired
            if (now >= from && now < until) expect(state).toBe("running");
            if (now >= until) expect(state).toBe("expired");
          });
          for (const c of claims) await store.complete(c, encode(0), done(now));
        }
      },
    );
  });

  describe(`${name}: delayed and expiring work, options and a worker`, () => {
    it("refuses bad time options with an error naming the option, writing nothing", async () => {
      const store = await fresh();
      const client = createClient(store);
      const refused = async (opts: Parameters<typeof client.submit>[1], option: RegExp) => {
        const e = await client.submit(inc.si(1), opts).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(InvalidSubmitOptions);
        expect((e as Error).message).toMatch(option);
      };
      await refused({ delayMs: -1 }, /option delayMs must be a finite number of ms ≥ 0, got -1/);
      await refused({ delayMs: Number.NaN }, /option delayMs/);
      await refused({ expiresInMs: 0 }, /option expiresInMs must be a finite number of ms ≥ 1/);
      await refused({ at: new Date("not a date") }, /option at must be .* got an invalid Date/);
      await refused({ expiresAt: -5 }, /option expiresAt/);
      await refused({ delayMs: 10, at: 5 }, /one of delayMs and at/);
      expect(() => inc.si(1).with({ delayMs: -5 })).toThrow(InvalidCanvas);
      expect(() => inc.si(1).with({ delayMs: -5 })).toThrow(/option delayMs must be/);
      expect(() => inc.si(1).with({ expiresInMs: 0 })).toThrow(/option expiresInMs must be/);
      expect(() => inc.si(1).with({ notBefore: Number.POSITIVE_INFINITY })).toThrow(
        /option notBefore must be/,
      );
      expect(await store.listRuns({ limit: 10 })).toEqual([]);
      // by task name, the time options are the run's
      const e = await client.submitByName("inc", 1, { expiresInMs: -1 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidSubmitOptions);
      const later = await client.submitByName("inc", 1, { delayMs: 60_000, expiresInMs: 120_000 });
      const snap = await client.get(later.runId);
      expect(snap.run.notBefore).toBe(snap.run.createdAt + 60_000);
      expect(snap.nodes[0]).toMatchObject({
        state: "queued",
        dueAt: snap.run.createdAt + 60_000,
        expiresAt: snap.run.createdAt + 120_000,
      });
    });

    it("a worker runs a run submitted with delayMs no sooner than its time, and a node delayed past its deadline ends the run Expired", async () => {
      const store = await fresh();
      const worker = startWorker({
        store,
        handlers: [handle(inc, (n) => n + 1)],
        logger: pino({ level: "silent" }),
        idleMs: 5_000,
      });
      try {
        const client = createClient(store);
        const submitted = Date.now();
        const run = await client.submit(chain(inc.si(1), inc.s().with({ delayMs: 30 })), {
          delayMs: 40,
        });
        expect(await run.result({ timeout: 20_000 })).toBe(3);
        const snap = await client.get(run.runId);
        expect(snap.nodes[0]!.startedAt).toBeGreaterThanOrEqual(submitted + 40);
        expect(snap.nodes[1]!.startedAt).toBeGreaterThanOrEqual(snap.nodes[0]!.finishedAt! + 30);
        const late = await client.submit(inc.si(1).with({ delayMs: 60_000, expiresInMs: 30 }));
        const err = await late.result({ timeout: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunFailed);
        expect((err as RunFailed).error?.tag).toBe("Expired");
        expect((await client.get(late.runId)).nodes[0]!.state).toBe("expired");
      } finally {
        await worker.stop();
      }
    });
  });
};
