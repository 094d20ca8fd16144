/**
 * The conformance suite's part on paused queues (docs/operations.md,
 * "Pausing a queue"): a claim skips a paused queue's nodes (nothing leased,
 * nothing failed, due retries still made ready), a completion does not hand
 * its worker a dependent on a paused queue, `queueStats` says which queues
 * are paused, and a resume wakes the workers waiting on the queue.
 * Registered by `storeConformance`.
 */
import { chain, createClient, Schema, type Store, task } from "@weft/core";
import { describe, expect, it } from "vitest";

const T0 = Date.UTC(2026, 0, 1);

const step = task({ name: "pause.step", queue: "pq", input: Schema.Int, output: Schema.Int });
const other = task({ name: "pause.other", queue: "open", input: Schema.Int, output: Schema.Int });

const claimOf = (store: Store, queues: string[], now: number, max = 10) =>
  store.claim({ workerId: "w", queues, max, leaseMs: 60_000, now });

/** Registers the pause tests for a store; `fresh` makes a store closed after the test. */
export const pauseConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: paused queues`, () => {
    it("a claim leases none of a paused queue's nodes and fails none; a resume makes them claimable", async () => {
      const store = await fresh();
      const client = createClient(store, () => T0);
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push(await client.submit(step.si(i)));
      const free = await client.submit(other.si(9));
      // one node of the queue retries: its retry comes due while the queue is paused
      const [first] = await claimOf(store, ["pq"], T0, 1);
      await store.fail(
        first!,
        { tag: "Boom", message: "again", retryable: true },
        { now: T0 + 1, retryAt: T0 + 10 },
      );
      await store.pauseQueue("pq");
      await store.pauseQueue("pq"); // pausing twice is pausing once
      const got = await claimOf(store, ["pq", "open"], T0 + 100);
      expect(got.map((c) => c.runId)).toEqual([free.runId]);
      const [stats] = await store.queueStats(["pq"]);
      expect(stats).toMatchObject({ queue: "pq", ready: 3, delayed: 0, leased: 0, paused: true });
      for (const r of runs) {
        const snap = await store.getRun(r.runId);
        expect(snap?.nodes[0]?.state).toMatch(/^(queued|retrying)$/);
      }
      expect((await store.queueStats(["open"]))[0]?.paused).toBe(false);

      await store.resumeQueue("pq");
      expect((await store.queueStats(["pq"]))[0]?.paused).toBe(false);
      const after = await claimOf(store, ["pq"], T0 + 200);
      expect(after.map((c) => c.runId).sort()).toEqual(runs.map((r) => r.runId).sort());
    });

    it("a completion does not hand its worker the next chain step on a paused queue", async () => {
      const store = await fresh();
      const run = await createClient(store, () => T0).submit(chain(step.si(0), step.si(1)));
      const [c0] = await claimOf(store, ["pq"], T0, 1);
      await store.pauseQueue("pq");
      const done = await store.complete(c0!, new Uint8Array([0]), {
        now: T0 + 1,
        workerId: "w",
        queues: ["pq"],
        nextMax: 1,
        leaseMs: 60_000,
      });
      expect(done).toEqual({ ok: true, next: [] });
      const snap = await store.getRun(run.runId);
      expect(snap?.nodes.map((n) => n.state)).toEqual(["succeeded", "queued"]);
      expect(await claimOf(store, ["pq"], T0 + 2)).toEqual([]);
      await store.resumeQueue("pq");
      const [c1] = await claimOf(store, ["pq"], T0 + 3);
      expect([c1?.runId, c1?.nodeId]).toEqual([run.runId, 1]);
    });

    it("a resume wakes a worker waiting for work on the queue", async () => {
      const store = await fresh();
      await store.pauseQueue("pq");
      await createClient(store, () => T0).submit(step.si(0));
      // the submission's wake-up is kept for the next waiter: take it first
      await store.waitForWork(["pq"], 10);
      expect(await claimOf(store, ["pq"], T0)).toEqual([]);
      // the real condition: this wait ends because of the resume (it would last a minute)
      const woken = store.waitForWork(["pq"], 60_000).then(() => "woken");
      await store.resumeQueue("pq");
      expect(await woken).toBe("woken");
      expect(await claimOf(store, ["pq"], T0 + 1)).toHaveLength(1);
    });
  });
};
