/**
 * The conformance suite's part on node and run events (docs/events.md): every
 * store emits the same events, in the same order, for the same calls, and
 * reads them back by cursor, by run, and live. Registered by
 * `storeConformance`.
 */
import {
  chain,
  chord,
  createClient,
  handle,
  InvalidEventCursor,
  NonRetryableError,
  Schema,
  type Store,
  startWorker,
  task,
  type WeftEvent,
} from "@weft/core";
import { encode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { boom, completeOpts, lease, one, submission } from "./internal/conformanceSetup.ts";

/** What an event says, without its cursor and time: what two stores must agree on. */
const said = (e: WeftEvent): string => {
  switch (e.kind) {
    case "run":
    case "run-ended":
      return `${e.kind} ${e.status}`;
    case "progress":
      return `progress ${e.nodeId} ${e.progress.current}/${e.progress.total ?? "-"}`;
    case "lease-expired":
      return `lease-expired ${e.nodeId}`;
    case "added":
      return `added ${e.nodeIds.join(",")}`;
    default:
      return `${e.kind} ${e.nodeId} ${e.task} a${e.attempt}${e.errorTag ? ` ${e.errorTag}` : ""}`;
  }
};

/** Every event of `runId` the store keeps. */
const eventsOf = async (store: Store, runId: string): Promise<WeftEvent[]> => {
  const out: WeftEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const b = await store.readEvents({ runId, count: 3, ...(after ? { after } : {}) });
    if (b.events.length === 0) return out;
    out.push(...b.events);
    after = b.cursor;
  }
};

const inc = task({ name: "ev-inc", input: Schema.Int, output: Schema.Int });
const fails = task({
  name: "ev-fails",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 1 },
});
const handlers = [
  handle(inc, (n) => n + 1),
  handle(fails, async () => {
    throw new NonRetryableError("no");
  }),
];

/** Registers the events tests for a store; `fresh` makes a store closed after the test. */
export const eventsConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: node and run events`, () => {
    it("appends every node transition and the run's end, in order: queued, started, retrying, succeeded, run-ended", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("ev-chain", chain(one, one)));
      const [a] = await store.claim(lease(1));
      expect((await store.fail(a!, boom, { now: 2, retryAt: 3 })).ok).toBe(true);
      const [b] = await store.claim(lease(3));
      expect((await store.complete(b!, encode(1), completeOpts(4))).ok).toBe(true);
      const [c] = await store.claim(lease(5));
      expect((await store.complete(c!, encode(2), completeOpts(6))).ok).toBe(true);
      const events = await eventsOf(store, runId);
      expect(events.map(said)).toEqual([
        "queued 0 any a0",
        "started 0 any a1",
        "retrying 0 any a1 Boom",
        "started 0 any a2",
        "succeeded 0 any a2",
        "queued 1 any a0",
        "started 1 any a1",
        "succeeded 1 any a1",
        "run-ended succeeded",
      ]);
      expect(events.map((e) => e.at)).toEqual([0, 1, 2, 3, 4, 4, 5, 6, 6]);
      expect(new Set(events.map((e) => e.runId))).toEqual(new Set([runId]));
    });

    it("a failure for good: failed with its error tag, the run failed, dependents skipped, then run-ended", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("ev-fail", chord([one, one], one)));
      const [a, b] = await store.claim(lease(1));
      expect((await store.fail(a!, boom, { now: 2, retryAt: null })).ok).toBe(true);
      expect((await store.complete(b!, encode(1), completeOpts(3))).ok).toBe(true);
      expect((await eventsOf(store, runId)).map(said)).toEqual([
        "queued 0 any a0",
        "queued 1 any a0",
        "started 0 any a1",
        "started 1 any a1",
        "failed 0 any a1 Boom",
        "run failed",
        "skipped 2 any a0",
        "succeeded 1 any a1",
        "run-ended failed",
      ]);
    });

    it("a cancel: the run's event first, then each node not started cancelled, then run-ended once the running one reports", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("ev-cancel", chord([one, one], one)));
      const [running] = await store.claim(lease(1, 1));
      expect(await store.cancel(runId, { now: 2 })).toBe(true);
      await store.complete(running!, encode(1), completeOpts(3));
      expect((await eventsOf(store, runId)).map(said)).toEqual([
        "queued 0 any a0",
        "queued 1 any a0",
        "started 0 any a1",
        "run cancelled",
        "cancelled 1 any a0",
        "cancelled 2 any a0",
        "cancelled 0 any a1",
        "run-ended cancelled",
      ]);
    });

    it("progress, an expired lease and a release are events too; a stalled re-delivery starts attempt 2", async () => {
      const store = await fresh();
      const { runId } = await store.submit(submission("ev-lease", one));
      const [a] = await store.claim(lease(1, 1, 100));
      expect(await store.progress(a!, { current: 3, total: 10, message: "rows" })).toBe("held");
      await store.maintain({ now: 200, queues: ["default"] });
      const [b] = await store.claim(lease(201, 1));
      await store.release(b!, { now: 202 });
      const events = await eventsOf(store, runId);
      expect(events.map(said)).toEqual([
        "queued 0 any a0",
        "started 0 any a1",
        "progress 0 3/10",
        "lease-expired 0",
        "started 0 any a2",
        "queued 0 any a1",
      ]);
      const progress = events[2]!;
      expect(progress.kind === "progress" && progress.progress).toEqual({
        current: 3,
        total: 10,
        message: "rows",
      });
    });

    it("reads by cursor: after an event's id comes the next one; 'now' only new ones; count bounds a batch; runId filters", async () => {
      const store = await fresh();
      const { runId: first } = await store.submit(submission("ev-cur-a", chain(one, one)));
      const { runId: second } = await store.submit(submission("ev-cur-b", one));
      const all = await store.readEvents({});
      expect(all.events.map((e) => [e.runId, e.kind])).toEqual([
        [first, "queued"],
        [second, "queued"],
      ]);
      const next = await store.readEvents({ after: all.events[0]!.id });
      expect(next.events.map((e) => e.runId)).toEqual([second]);
      expect((await store.readEvents({ after: all.cursor })).events).toEqual([]);
      expect((await store.readEvents({ count: 1 })).events.map((e) => e.runId)).toEqual([first]);
      const now = await store.readEvents({ after: "now" });
      expect(now.events).toEqual([]);
      await store.claim(lease(1));
      const started = await store.readEvents({ after: now.cursor });
      expect(started.events.map((e) => e.kind)).toEqual(["started", "started"]);
      const onlySecond = await store.readEvents({ runId: second });
      expect(onlySecond.events.map((e) => [e.runId, e.kind])).toEqual([
        [second, "queued"],
        [second, "started"],
      ]);
      // the cursor of a filtered read goes past the other runs' events
      expect((await store.readEvents({ runId: second, after: onlySecond.cursor })).events).toEqual(
        [],
      );
    });

    it("refuses a cursor it did not make with InvalidEventCursor", async () => {
      const store = await fresh();
      for (const bad of ["yesterday", "1-2-3", ""]) {
        await expect(store.readEvents({ after: bad })).rejects.toBeInstanceOf(InvalidEventCursor);
      }
    });

    it("a blocking read waits for the next event and answers as soon as it is appended", async () => {
      const store = await fresh();
      const { cursor } = await store.readEvents({ after: "now" });
      const waiting = store.readEvents({ after: cursor, blockMs: 20_000 });
      const { runId } = await store.submit(submission("ev-block", one));
      const got = await waiting;
      expect(got.events.map((e) => [e.runId, e.kind])).toEqual([[runId, "queued"]]);
    });

    it("run.watch() yields a run's events live and ends after run-ended; client.events() stops on abort", async () => {
      const store = await fresh();
      const client = createClient(store);
      const ac = new AbortController();
      const seen: WeftEvent[] = [];
      const following = (async () => {
        for await (const e of client.events({ signal: ac.signal, blockMs: 200 })) {
          seen.push(e);
          if (e.kind === "run-ended") ac.abort();
        }
      })();
      const run = await client.submit(chain(inc.si(1), inc.s(), fails.s()));
      const worker = startWorker({
        store,
        handlers,
        logger: pino({ level: "silent" }),
        concurrency: 2,
        idleMs: 200,
      });
      try {
        const watched: string[] = [];
        for await (const e of run.watch()) watched.push(said(e));
        expect(watched).toEqual([
          "queued 0 ev-inc a0",
          "started 0 ev-inc a1",
          "succeeded 0 ev-inc a1",
          "queued 1 ev-inc a0",
          "started 1 ev-inc a1",
          "succeeded 1 ev-inc a1",
          "queued 2 ev-fails a0",
          "started 2 ev-fails a1",
          "failed 2 ev-fails a1 NonRetryableError",
          "run failed",
          "run-ended failed",
        ]);
        await following; // ends: aborted after run-ended
        expect(seen.map(said)).toEqual(watched);
        // a run that ended is watched from its kept events, and the watch ends
        const again: string[] = [];
        for await (const e of client.watch(run.runId)) again.push(said(e));
        expect(again).toEqual(watched);
      } finally {
        await worker.stop();
      }
    });

    it("run.watch() of a run that does not exist fails with RunNotFound", async () => {
      const store = await fresh();
      const client = createClient(store);
      const it = client.watch("no-such-run")[Symbol.asyncIterator]();
      await expect(it.next()).rejects.toMatchObject({ _tag: "RunNotFound" });
    });
  });
};
