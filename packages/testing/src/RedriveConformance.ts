/**
 * The conformance suite's part on re-driving a run (docs/concepts.md,
 * "Re-driving a run"): a failed or cancelled run runs again, keeping every
 * succeeded node's result and every attempt; what a store refuses; an edited
 * input; and a property: for any failure pattern, re-driving ends with the
 * same results as a run where nothing failed. Registered by `storeConformance`.
 */
import { fc, test } from "@fast-check/vitest";
import {
  chain,
  chord,
  createClient,
  group,
  handle,
  InvalidInput,
  NonRetryableError,
  RedriveRefused,
  RunNotFound,
  replace,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { type CanvasNode, type Claim, compile, decode, encode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { arbCanvas } from "./Arbitraries.ts";
import { boom, completeOpts, lease, one, submission } from "./internal/conformanceSetup.ts";
import { propertyRuns, propertyTimeoutMs } from "./internal/properties.ts";

/** `inner` with `callback` attached (`.onSuccess` / `.onError`), as raw canvas nodes. */
const linked = (
  on: "success" | "error",
  inner: { readonly node: unknown },
  callback: { readonly node: unknown },
) => ({
  node: { kind: "link", on, inner: inner.node, callback: callback.node } as CanvasNode,
});

/** The same canvas with every settled group made a plain one (a tolerated failure does not fail its run). */
const unsettled = (n: CanvasNode): CanvasNode => {
  switch (n.kind) {
    case "sig":
      return n;
    case "chain":
      return { kind: "chain", steps: n.steps.map(unsettled) };
    case "group":
      return { kind: "group", members: n.members.map(unsettled), settled: false };
    case "chord":
      return {
        kind: "chord",
        header: { kind: "group", members: n.header.members.map(unsettled), settled: false },
        body: unsettled(n.body),
      };
    case "link":
      return { ...n, inner: unsettled(n.inner), callback: unsettled(n.callback) };
    default:
      return n;
  }
};

/**
 * Runs every node of run `runId` by hand until none is ready: a node's
 * result is its id plus the sum of its dependencies' results (a failure an
 * error callback receives counts 0); a node in
 * `failing` fails for good instead (each only once, then it is taken out).
 */
const driveByHand = async (store: Store, failing: Set<number>, now: number): Promise<number> => {
  let t = now;
  for (;;) {
    const claims: ReadonlyArray<Claim> = await store.claim(lease(t));
    if (claims.length === 0) return t;
    for (const c of claims) {
      t += 1;
      if (failing.delete(c.nodeId)) {
        expect((await store.fail(c, boom, { now: t, retryAt: null })).ok).toBe(true);
        continue;
      }
      let value = c.nodeId;
      for (const d of c.deps) {
        // an error callback receives the failure it reports on
        if (!d.ok && c.spec.path.some((p) => p.startsWith("onError"))) continue;
        if (!d.ok) throw new Error(`node ${c.nodeId} got a failed dependency`);
        value += decode(d.value) as number;
      }
      expect((await store.complete(c, encode(value), completeOpts(t))).ok).toBe(true);
    }
  }
};

/** Every node's result, decoded (`undefined`: none recorded). */
const results = async (store: Store, runId: string): Promise<unknown[]> => {
  const snap = (await store.getRun(runId))!;
  return Promise.all(
    snap.nodes.map(async (n) => {
      const bytes = await store.getResult(runId, n.id);
      return bytes === undefined ? undefined : decode(bytes);
    }),
  );
};

const positive = task({ name: "redrive-positive", input: Schema.Int, output: Schema.Int });
const plusOne = task({ name: "redrive-plus-one", input: Schema.Int, output: Schema.Int });
/** Fails for good on its run's first attempt of it, then gives n * 10. */
const failsOnce = task({
  name: "redrive-fails-once",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 1 },
});
/** Replaces itself with `[n + 1, failsOnce(n)]`. */
const swap = task({
  name: "redrive-swap",
  input: Schema.Int,
  output: Schema.Tuple([Schema.Int, Schema.Int]),
});
const echo = task({ name: "redrive-echo", input: Schema.Unknown, output: Schema.Unknown });
/** The runs where `failsOnce` has failed once. */
const failedOnce = new Set<string>();
const handlers = [
  handle(positive, async (n) => {
    if (n < 0) throw new NonRetryableError(`${n} is negative`);
    return n;
  }),
  handle(plusOne, async (n) => n + 1),
  handle(failsOnce, async (n, ctx) => {
    if (failedOnce.has(ctx.runId)) return n * 10;
    failedOnce.add(ctx.runId);
    throw new NonRetryableError(`first try of ${n}`);
  }),
  handle(swap, async (n) => replace(group(plusOne.si(n), failsOnce.si(n)))),
  handle(echo, async (x) => x),
];

/** A silent worker of these tests' handlers on `store`. */
const startTestWorker = (store: Store) =>
  startWorker({ store, handlers, logger: pino({ level: "silent" }), concurrency: 2, idleMs: 200 });

/** Registers the re-drive tests for the store `fresh` makes. */
export const redriveConformance = (
  name: string,
  fresh: () => Promise<Store>,
  opts: { readonly runs?: number } = {},
): void => {
  describe(`${name}: re-driving a run`, () => {
    it("re-drives a failed run: succeeded nodes keep their result, failed and skipped ones run again, history kept", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("rd-chain", chain(one, one, one)));
      const [a] = await store.claim(lease(1));
      expect((await store.complete(a!, encode("first"), completeOpts(2))).ok).toBe(true);
      const [b] = await store.claim(lease(3));
      expect((await store.fail(b!, boom, { now: 4, retryAt: null })).ok).toBe(true);
      let snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 1, finishedAt: 4 });
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "failed", "skipped"]);

      expect(await store.redrive(runId, { now: 5 })).toEqual({ ok: true, queued: 1 });
      snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("running");
      expect(snap.run.finishedAt).toBeUndefined();
      expect(snap.run.error).toBeUndefined();
      expect(snap.run.ended).toBe(1);
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "queued", "waiting"]);
      expect(snap.nodes[1]!.attempts).toBe(0);
      expect(snap.nodes[1]!.error).toBeUndefined();
      expect(snap.nodes[1]!.history.map((h) => [h.attempt, h.outcome])).toEqual([[1, "failed"]]);

      const [b2] = await store.claim(lease(6));
      expect(b2).toMatchObject({ nodeId: 1, attempt: 1 });
      expect(b2!.deps).toEqual([{ ok: true, value: encode("first") }]);
      expect((await store.complete(b2!, encode("second"), completeOpts(7))).ok).toBe(true);
      const [c] = await store.claim(lease(8));
      expect((await store.complete(c!, encode("third"), completeOpts(9))).ok).toBe(true);
      snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "succeeded", finishedAt: 9, ended: 3 });
      expect(snap.nodes[1]!.history.map((h) => [h.attempt, h.outcome])).toEqual([[1, "failed"]]);
      expect(await results(store, runId)).toEqual(["first", "second", "third"]);
      const events = await store.readEvents({ runId });
      expect(events.events.map((e) => (e.kind === "run" ? `run ${e.status}` : e.kind))).toContain(
        "run running",
      );
    });

    it("re-drives a cancelled run: its cancelled nodes run again", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("rd-cancel", chain(one, one)));
      expect(await store.cancel(runId, { now: 1 })).toBe(true);
      expect((await store.getRun(runId))!.run).toMatchObject({ status: "cancelled" });
      expect(await store.redrive(runId, { now: 2 })).toEqual({ ok: true, queued: 1 });
      const [a] = await store.claim(lease(3));
      expect(a).toMatchObject({ nodeId: 0, attempt: 1 });
      expect((await store.complete(a!, encode(1), completeOpts(4))).ok).toBe(true);
      const [b] = await store.claim(lease(5));
      expect((await store.complete(b!, encode(2), completeOpts(6))).ok).toBe(true);
      expect((await store.getRun(runId))!.run.status).toBe("succeeded");
    });

    it("re-drives error callbacks: one whose node succeeded stays skipped, one that ran keeps its result, one that failed waits on its node again", async () => {
      const store = await fresh();
      // nodes: 0 and 1 (the chain), 2 (0's error callback), 3 (1's)
      const canvas = linked("error", chain(one, one), one);
      const { runId } = await store.submit(submission("rd-errcb", canvas));
      const states = async () => (await store.getRun(runId))!.nodes.map((n) => n.state);
      const [a] = await store.claim(lease(1));
      expect((await store.complete(a!, encode(1), completeOpts(2))).ok).toBe(true);
      const [b] = await store.claim(lease(3));
      expect(b!.nodeId).toBe(1);
      expect((await store.fail(b!, boom, { now: 4, retryAt: null })).ok).toBe(true);
      const [cb] = await store.claim(lease(5));
      expect(cb!.nodeId).toBe(3);
      expect((await store.fail(cb!, boom, { now: 6, retryAt: null })).ok).toBe(true);
      expect(await states()).toEqual(["succeeded", "failed", "skipped", "failed"]);

      // the callback that failed waits on node 1 again; 0's stays skipped (0 succeeded)
      expect(await store.redrive(runId, { now: 7 })).toEqual({ ok: true, queued: 1 });
      expect(await states()).toEqual(["succeeded", "queued", "skipped", "waiting"]);
      const [b2] = await store.claim(lease(8));
      expect(b2!.nodeId).toBe(1);
      expect((await store.fail(b2!, boom, { now: 9, retryAt: null })).ok).toBe(true);
      // node 1 failed again: its callback fires again, and runs this time
      const [cb2] = await store.claim(lease(10));
      expect(cb2).toMatchObject({ nodeId: 3, attempt: 1 });
      expect((await store.complete(cb2!, encode("alerted"), completeOpts(11))).ok).toBe(true);
      expect(await states()).toEqual(["succeeded", "failed", "skipped", "succeeded"]);

      // a callback that ran keeps its result: it does not run again
      expect(await store.redrive(runId, { now: 12 })).toEqual({ ok: true, queued: 1 });
      expect(await states()).toEqual(["succeeded", "queued", "skipped", "succeeded"]);
      const [b3] = await store.claim(lease(13));
      expect(b3!.nodeId).toBe(1);
      expect((await store.complete(b3!, encode(2), completeOpts(14))).ok).toBe(true);
      expect(await store.claim(lease(15))).toEqual([]);
      const snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("succeeded");
      expect(snap.nodes.map((n) => n.state)).toEqual([
        "succeeded",
        "succeeded",
        "skipped",
        "succeeded",
      ]);
      expect(await results(store, runId)).toEqual([1, 2, undefined, "alerted"]);
    });

    it("re-drives an error callback that failed to skipped when its node then succeeds", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("rd-errcb-ok", linked("error", one, one)));
      const [a] = await store.claim(lease(1));
      expect((await store.fail(a!, boom, { now: 2, retryAt: null })).ok).toBe(true);
      const [cb] = await store.claim(lease(3));
      expect(cb!.nodeId).toBe(1);
      expect((await store.fail(cb!, boom, { now: 4, retryAt: null })).ok).toBe(true);
      expect(await store.redrive(runId, { now: 5 })).toEqual({ ok: true, queued: 1 });
      const [a2] = await store.claim(lease(6));
      expect(a2!.nodeId).toBe(0);
      expect((await store.complete(a2!, encode(1), completeOpts(7))).ok).toBe(true);
      expect(await store.claim(lease(8))).toEqual([]);
      const snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("succeeded");
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "skipped"]);
    });

    it("re-drives a success callback skipped because its run had failed: it runs once the re-drive succeeds", async () => {
      const store = await fresh();
      // nodes: 0 (with its success callback, 1), 2; 2 fails the run before 0 ends
      const canvas = group(linked("success", one, one), one);
      const { runId } = await store.submit(submission("rd-okcb", canvas));
      const claims = await store.claim(lease(1));
      const a = claims.find((c) => c.nodeId === 0)!;
      const b = claims.find((c) => c.nodeId === 2)!;
      expect((await store.fail(b, boom, { now: 2, retryAt: null })).ok).toBe(true);
      expect((await store.complete(a, encode(1), completeOpts(3))).ok).toBe(true);
      let snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("failed");
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "skipped", "failed"]);
      expect((await store.redrive(runId, { now: 4 })).ok).toBe(true);
      await driveByHand(store, new Set(), 5);
      snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("succeeded");
      expect(snap.nodes.map((n) => n.state)).toEqual(["succeeded", "succeeded", "succeeded"]);
    });

    it("re-drives a node with expiresInMs with a fresh deadline counted from the re-drive", async () => {
      const store = await fresh();
      const expiring = { node: { ...one.node, options: { expiresInMs: 10 } } };
      const { runId } = await store.submit(submission("rd-expin", expiring));
      expect((await store.getRun(runId))!.nodes[0]!.expiresAt).toBe(10);
      const [a] = await store.claim(lease(1));
      expect((await store.fail(a!, boom, { now: 2, retryAt: null })).ok).toBe(true);
      expect(await store.redrive(runId, { now: 100 })).toEqual({ ok: true, queued: 1 });
      expect((await store.getRun(runId))!.nodes[0]!.expiresAt).toBe(110);
      const [a2] = await store.claim(lease(105));
      expect(a2).toMatchObject({ nodeId: 0, attempt: 1 });
      expect((await store.complete(a2!, encode(1), completeOpts(106))).ok).toBe(true);
      expect((await store.getRun(runId))!.run.status).toBe("succeeded");
    });

    it("refuses, changing nothing: an unknown run, a running one, one with a node still running, a succeeded one, a bad node", async () => {
      const store = await fresh();
      expect(await store.redrive("rd-nobody", { now: 1 })).toEqual({
        ok: false,
        reason: "not-found",
      });
      const { runId } = await store.submit(submission("rd-busy", group(one, one)));
      expect(await store.redrive(runId, { now: 1 })).toEqual({ ok: false, reason: "not-ended" });
      const [a, b] = await store.claim(lease(1));
      expect((await store.fail(a!, boom, { now: 2, retryAt: null })).ok).toBe(true);
      expect(await store.redrive(runId, { now: 3 })).toEqual({ ok: false, reason: "not-quiet" });
      expect((await store.complete(b!, encode(7), completeOpts(4))).ok).toBe(true);
      const before = await store.getRun(runId);
      const spec = before!.nodes[1]!.spec;
      expect(await store.redrive(runId, { now: 5, edit: { node: 1, spec } })).toEqual({
        ok: false,
        reason: "bad-node",
      });
      expect(await store.redrive(runId, { now: 5, edit: { node: 9, spec } })).toEqual({
        ok: false,
        reason: "bad-node",
      });
      expect(await store.getRun(runId)).toEqual(before);
      const { runId: done } = await store.submit(submission("rd-done", one));
      const [c] = await store.claim(lease(6));
      expect((await store.complete(c!, encode(1), completeOpts(7))).ok).toBe(true);
      expect(await store.redrive(done, { now: 8 })).toEqual({ ok: false, reason: "succeeded" });
    });

    it("client.redrive runs the failed node with an edited input, validated by its task", async () => {
      const store = await fresh();
      const client = createClient(store);
      const worker = startTestWorker(store);
      try {
        const run = await client.submit(chain(positive.si(-3), plusOne.s()));
        await expect(run.result({ timeout: 20_000, waitForQuiet: true })).rejects.toThrow(
          "-3 is negative",
        );
        await expect(
          client.redrive(run.runId, { task: positive, input: "three" as unknown as number }),
        ).rejects.toBeInstanceOf(InvalidInput);
        await expect(client.redrive(run.runId, { task: plusOne, input: 3 })).rejects.toBeInstanceOf(
          InvalidInput,
        );
        await expect(client.redrive(run.runId, { node: 5, input: 3 })).rejects.toBeInstanceOf(
          RedriveRefused,
        );
        expect((await client.get(run.runId)).run.status).toBe("failed");
        await client.redrive(run.runId, { task: positive, input: 3 });
        expect(await run.result({ timeout: 20_000 })).toBe(4);
        const snap = await client.get(run.runId);
        expect(snap.nodes[0]!.history.map((h) => h.outcome)).toEqual(["failed"]);
        await expect(client.redrive(run.runId)).rejects.toBeInstanceOf(RedriveRefused);
        await expect(client.redrive("rd-missing")).rejects.toBeInstanceOf(RunNotFound);
      } finally {
        await worker.stop();
      }
    });

    it("re-drives a run whose replacement failed: only the failed node of the replacement runs again, then the replaced node gathers its output", async () => {
      const store = await fresh();
      // nodes: 0 (replaced by 2 and 3: its output is 3's), 1
      const { runId } = await store.submit(submission("rd-replaced", chain(one, one)));
      const states = async () => (await store.getRun(runId))!.nodes.map((n) => n.state);
      const [a] = await store.claim(lease(1));
      expect((await store.replace(a!, compile(chain(one, one)), completeOpts(2))).ok).toBe(true);
      const [c] = await store.claim(lease(3));
      expect(c!.nodeId).toBe(2);
      expect((await store.complete(c!, encode(2), completeOpts(4))).ok).toBe(true);
      const [d] = await store.claim(lease(5));
      expect(d!.nodeId).toBe(3);
      expect((await store.fail(d!, boom, { now: 6, retryAt: null })).ok).toBe(true);
      expect(await states()).toEqual(["skipped", "skipped", "succeeded", "failed"]);
      expect((await store.getRun(runId))!.run).toMatchObject({ status: "failed", failedNode: 3 });

      // node 0 waits on its replacement's output (node 3) again, not on its declared deps (none)
      expect(await store.redrive(runId, { now: 7 })).toEqual({ ok: true, queued: 1 });
      expect(await states()).toEqual(["waiting", "waiting", "succeeded", "queued"]);
      const [d2] = await store.claim(lease(8));
      expect(d2).toMatchObject({ nodeId: 3, attempt: 1 });
      expect((await store.complete(d2!, encode(5), completeOpts(9))).ok).toBe(true);
      const [a2] = await store.claim(lease(10));
      expect(a2).toMatchObject({ nodeId: 0 });
      expect(a2!.deps).toEqual([{ ok: true, value: encode(5) }]);
      expect((await store.complete(a2!, encode(5), completeOpts(11))).ok).toBe(true);
      const [b] = await store.claim(lease(12));
      expect(b!.nodeId).toBe(1);
      expect((await store.complete(b!, encode(6), completeOpts(13))).ok).toBe(true);
      const snap = (await store.getRun(runId))!;
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 4, total: 4 });
      expect(await results(store, runId)).toEqual([5, 6, 2, 5]);
    });

    it("re-drives a chord with an added member that succeeded: the body waits only on the declared member that failed", async () => {
      const store = await fresh();
      // nodes: 0, 1 (the header), 2 (the body, taking the header's list), then 3, added by node 0
      const takesList = { node: { ...one.node, bind: { kind: "whole" }, bound: undefined } };
      const { runId } = await store.submit(
        submission("rd-added", chord([one, one], takesList as never)),
      );
      const states = async () => (await store.getRun(runId))!.nodes.map((n) => n.state);
      const [a, b] = await store.claim(lease(1));
      expect(await store.addToChord(a!, compile(one), { now: 2 })).toBe("added");
      expect((await store.complete(a!, encode(0), completeOpts(3))).ok).toBe(true);
      const [c] = await store.claim(lease(4));
      expect(c!.nodeId).toBe(3);
      expect((await store.complete(c!, encode(3), completeOpts(5))).ok).toBe(true);
      expect((await store.fail(b!, boom, { now: 6, retryAt: null })).ok).toBe(true);
      expect(await states()).toEqual(["succeeded", "failed", "skipped", "succeeded"]);

      expect(await store.redrive(runId, { now: 7 })).toEqual({ ok: true, queued: 1 });
      expect(await states()).toEqual(["succeeded", "queued", "waiting", "succeeded"]);
      const [b2] = await store.claim(lease(8));
      expect(b2!.nodeId).toBe(1);
      expect((await store.complete(b2!, encode(1), completeOpts(9))).ok).toBe(true);
      const [body] = await store.claim(lease(10));
      expect(body!.nodeId).toBe(2);
      expect(body!.deps).toEqual([0, 1, 3].map((v) => ({ ok: true, value: encode(v) })));
      expect((await store.complete(body!, encode(4), completeOpts(11))).ok).toBe(true);
      expect((await store.getRun(runId))!.run).toMatchObject({ status: "succeeded", ended: 4 });
    });

    it("client.redrive re-runs a replacement's failed member: the replaced node then succeeds with the replacement's output", async () => {
      const store = await fresh();
      const client = createClient(store);
      const worker = startTestWorker(store);
      try {
        const run = await client.submit(chain(swap.si(2), echo.s()));
        await expect(run.result({ timeout: 20_000, waitForQuiet: true })).rejects.toThrow(
          "first try of 2",
        );
        const states = async () => (await client.get(run.runId)).nodes.map((n) => n.state);
        // nodes: swap (0), echo (1), then the replacement: plusOne (2), failsOnce (3)
        expect(await states()).toEqual(["skipped", "skipped", "succeeded", "failed"]);
        await client.redrive(run.runId);
        expect(await run.result({ timeout: 20_000 })).toEqual([3, 20]);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.nodes.map((n) => n.state)).toEqual([
          "succeeded",
          "succeeded",
          "succeeded",
          "succeeded",
        ]);
        // plusOne kept its result (it ran once); failsOnce ran again after its failure
        expect(snap.nodes[2]!).toMatchObject({ attempts: 1, history: [] });
        expect(snap.nodes[3]!.history.map((h) => h.outcome)).toEqual(["failed"]);
        expect(snap.run).toMatchObject({ status: "succeeded", total: 4, redrives: 1 });
      } finally {
        await worker.stop();
      }
    });

    const runs = propertyRuns(opts.runs ?? 25);
    test.prop(
      [
        arbCanvas({ links: true }).map((c) => ({ node: unsettled(c.node) })),
        fc.uniqueArray(fc.nat(40), { maxLength: 6 }),
      ],
      { numRuns: runs },
    )(
      "for any failure pattern, re-driving ends with the same results as a run where nothing failed (error callbacks aside)",
      async (canvas, pattern) => {
        const store = await fresh();
        const id = `rd-p-${Math.random().toString(36).slice(2, 10)}`;
        const dag = compile(canvas);
        const total = dag.nodes.length;
        // error callbacks run for failures; a run where nothing failed runs none of them
        const plain = (values: unknown[]) =>
          values.map((v, i) => (dag.nodes[i]!.callback === "error" ? "error callback" : v));
        const ok = (await store.submit(submission(`${id}-ok`, canvas))).runId;
        let t = await driveByHand(store, new Set(), 1);
        const want = plain(await results(store, ok));
        expect((await store.getRun(ok))!.run.status).toBe("succeeded");

        // a callback's failure is tolerated (its run succeeds): only the canvas's own nodes fail
        const failing = new Set(
          pattern.filter((n) => n < total && dag.nodes[n]!.callback === undefined),
        );
        const planned = new Set(failing);
        const { runId } = await store.submit(submission(id, canvas, t));
        let rounds = 0;
        for (;;) {
          t = await driveByHand(store, failing, t + 1);
          const status = (await store.getRun(runId))!.run.status;
          if (status === "succeeded") break;
          expect(status).toBe("failed");
          expect(await store.redrive(runId, { now: t + 1 })).toMatchObject({ ok: true });
          rounds += 1;
          expect(rounds).toBeLessThanOrEqual(pattern.length);
        }
        expect(plain(await results(store, runId))).toEqual(want);
        const snap = (await store.getRun(runId))!;
        // every attempt is kept: each planned failure of a node that ran once, nothing else
        expect(
          snap.nodes.map((n) => n.history.filter((h) => h.outcome === "failed").length),
        ).toEqual(snap.nodes.map((n) => (planned.has(n.id) && !failing.has(n.id) ? 1 : 0)));
        // an error callback ran only for a failure of the node it reports on
        for (const n of snap.nodes) {
          const on = dag.nodes[n.id]!.failure;
          if (on !== undefined && n.history.length + (n.state === "succeeded" ? 1 : 0) > 0)
            expect(planned.has(on.node)).toBe(true);
        }
      },
      propertyTimeoutMs(runs, 300),
    );
  });
};
