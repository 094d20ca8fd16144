/**
 * The conformance suite's part on what operators list (`weft runs`,
 * `weft queues`, `weft locks`, a running node's lease): runs filtered by
 * status, first task and tag; node counts per queue; locks with their
 * holder, fencing token and expiry; a lease's expiry while its token holds.
 * Registered by `storeConformance`.
 */
import { type Canvas, group, type Store } from "@weft/core";
import { compile, encode } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { anyTask } from "./Arbitraries.ts";

const sig = (queue?: string) =>
  ({
    node: {
      kind: "sig",
      task: anyTask,
      bind: { kind: "immutable" },
      bound: null,
      options: queue === undefined ? {} : { queue },
    },
  }) as const;

const submission = (runId: string, canvas: unknown, tags: string[] = [], now = 0) => ({
  runId,
  dag: compile(canvas as Canvas<unknown, unknown>),
  tags,
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now,
});

/** Registers the listing tests for a store; `fresh` makes a store closed after the test. */
export const listingConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: listing runs, queues and locks`, () => {
    it("lists runs newest first with their first task and queues, filtered by status, task and tag", async () => {
      const store = await fresh();
      const a = await store.submit(submission("list-a", sig(), ["nightly"], 1));
      const [claim] = await store.claim({
        workerId: "w",
        queues: ["default"],
        max: 1,
        leaseMs: 10_000,
        now: 4,
      });
      expect(claim?.runId).toBe(a.runId);
      await store.fail(
        claim!,
        { tag: "Boom", message: "x", retryable: false },
        {
          now: 5,
          retryAt: null,
        },
      );
      const b = await store.submit(submission("list-b", group(sig("slow"), sig()), [], 2));
      const c = await store.submit(submission("list-c", sig(), ["nightly", "eu"], 3));
      const all = await store.listRuns({ limit: 10 });
      expect(all.map((r) => [r.id, r.task, r.status])).toEqual([
        [c.runId, "any", "running"],
        [b.runId, "any", "running"],
        [a.runId, "any", "failed"],
      ]);
      expect([...all[1]!.queues].sort()).toEqual(["default", "slow"]);
      const ids = async (opts: Parameters<Store["listRuns"]>[0]) =>
        (await store.listRuns(opts)).map((r) => r.id);
      expect(await ids({ limit: 10, status: "failed" })).toEqual([a.runId]);
      expect(await ids({ limit: 10, tag: "nightly" })).toEqual([c.runId, a.runId]);
      expect(await ids({ limit: 1, tag: "nightly" })).toEqual([c.runId]);
      expect(await ids({ limit: 10, tag: "nightly", status: "running" })).toEqual([c.runId]);
      expect(await ids({ limit: 10, task: "any" })).toHaveLength(3);
      expect(await ids({ limit: 10, task: "other" })).toEqual([]);
    });

    it("counts each queue's ready, delayed, leased and parked nodes, and the parked nodes' tasks", async () => {
      const store = await fresh();
      await store.submit(submission("q-1", group(sig(), sig(), sig(), sig())));
      expect(await store.queueStats(["default", "empty"])).toEqual([
        {
          queue: "default",
          ready: 4,
          delayed: 0,
          leased: 0,
          parked: 0,
          parkedTasks: [],
          paused: false,
        },
        {
          queue: "empty",
          ready: 0,
          delayed: 0,
          leased: 0,
          parked: 0,
          parkedTasks: [],
          paused: false,
        },
      ]);
      const [x, y, z] = await store.claim({
        workerId: "w",
        queues: ["default"],
        max: 3,
        leaseMs: 10_000,
        now: 1,
      });
      await store.fail(
        x!,
        { tag: "Boom", message: "x", retryable: true },
        {
          now: 2,
          retryAt: 1_000,
        },
      );
      await store.park(y!, { now: 2 });
      expect(
        (
          await store.complete(z!, encode(1), {
            now: 3,
            workerId: "w",
            queues: ["default"],
            nextMax: 0,
            leaseMs: 10_000,
          })
        ).ok,
      ).toBe(true);
      expect(await store.queueStats(["default"])).toEqual([
        {
          queue: "default",
          ready: 1,
          delayed: 1,
          leased: 0,
          parked: 1,
          parkedTasks: [{ task: "any", count: 1 }],
          paused: false,
        },
      ]);
      await store.claim({ workerId: "w", queues: ["default"], max: 1, leaseMs: 10_000, now: 4 });
      expect((await store.queueStats(["default"]))[0]).toMatchObject({ ready: 0, leased: 1 });
    });

    it("lists locks with their holder, fencing token and expiry", async () => {
      const store = await fresh();
      expect(await store.listLocks()).toEqual([]);
      const t1 = await store.acquireLock({ name: "inventory", owner: "o1", ttlMs: 1_000, now: 10 });
      const t2 = await store.acquireLock({ name: "billing:eu", owner: "o2", ttlMs: 500, now: 20 });
      expect(await store.listLocks()).toEqual([
        { name: "billing:eu", owner: "o2", token: t2, expiresAt: 520 },
        { name: "inventory", owner: "o1", token: t1, expiresAt: 1_010 },
      ]);
      await store.releaseLock({ name: "inventory", owner: "o1", token: t1! });
      expect((await store.listLocks()).map((l) => l.name)).toEqual(["billing:eu"]);
    });
    it("answers a running node's lease expiry, only while that token holds the lease", async () => {
      const store = await fresh();
      await store.submit(submission("lease-a", group(sig(), sig("slow")), [], 1));
      const claims = await store.claim({
        workerId: "w",
        queues: ["default", "slow"],
        max: 2,
        leaseMs: 10_000,
        now: 100,
      });
      expect(claims).toHaveLength(2);
      const ref = (c: (typeof claims)[number], token = c.token) => ({
        runId: c.runId,
        nodeId: c.nodeId,
        queue: c.spec.queue,
        token,
      });
      const [a, b] = claims as [(typeof claims)[0], (typeof claims)[0]];
      expect(await store.leaseExpiries([ref(a), ref(b)])).toEqual([10_100, 10_100]);
      await store.heartbeat([a], { now: 5_000, leaseMs: 10_000 });
      // another token, another queue, no lease: nothing
      expect(
        await store.leaseExpiries([
          ref(a),
          ref(a, a.token + 1_000),
          { ...ref(b), queue: "default" },
          { ...ref(b), runId: "nope" },
        ]),
      ).toEqual([15_000, undefined, undefined, undefined]);
      await store.complete(b, encode(1), {
        now: 6_000,
        workerId: "w",
        queues: [],
        nextMax: 0,
        leaseMs: 10_000,
      });
      expect(await store.leaseExpiries([ref(b), ref(a)])).toEqual([undefined, 15_000]);
      expect(await store.leaseExpiries([])).toEqual([]);
    });
  });
};
