/**
 * A worker's sliding count of finished attempts (`finishedWindow`) and the
 * sum over live workers the queues views show (`queueThroughput`).
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  finishedWindow,
  queueThroughput,
  THROUGHPUT_WINDOW_MS,
  type WorkerPresence,
} from "../src/store/index.ts";

const T0 = 1_700_000_000_000;

describe("finishedWindow", () => {
  it("counts attempts per queue and outcome, and forgets those older than 60 s", () => {
    const w = finishedWindow();
    expect(w.counts(T0)).toEqual({});
    w.record("q", "succeeded", T0);
    w.record("q", "succeeded", T0 + 10);
    w.record("q", "failed", T0 + 30_000);
    w.record("io", "succeeded", T0 + 59_000);
    expect(w.counts(T0 + 59_000)).toEqual({
      q: { succeeded: 2, failed: 1 },
      io: { succeeded: 1, failed: 0 },
    });
    // T0's second has left the window; T0 + 30 s's has not
    expect(w.counts(T0 + THROUGHPUT_WINDOW_MS)).toEqual({
      q: { succeeded: 0, failed: 1 },
      io: { succeeded: 1, failed: 0 },
    });
    expect(w.counts(T0 + 200_000)).toEqual({});
    // a bucket reused a minute later starts from zero
    w.record("q", "succeeded", T0 + 240_000);
    expect(w.counts(T0 + 240_000)).toEqual({ q: { succeeded: 1, failed: 0 } });
  });

  test.prop([
    fc.array(
      fc.record({
        dt: fc.integer({ min: 0, max: 5_000 }),
        queue: fc.constantFrom("a", "b"),
        outcome: fc.constantFrom("succeeded" as const, "failed" as const),
      }),
      { maxLength: 200 },
    ),
    fc.integer({ min: 0, max: 120_000 }),
  ])(
    "counts exactly the attempts recorded in the 60 whole seconds up to the reading",
    (steps, later) => {
      const w = finishedWindow();
      const seen: Array<{ at: number; queue: string; outcome: "succeeded" | "failed" }> = [];
      let at = T0;
      for (const s of steps) {
        at += s.dt;
        w.record(s.queue, s.outcome, at);
        seen.push({ at, queue: s.queue, outcome: s.outcome });
      }
      const now = at + later;
      const second = Math.floor(now / 1_000);
      const expected: Record<string, { succeeded: number; failed: number }> = {};
      for (const e of seen) {
        if (Math.floor(e.at / 1_000) <= second - 60) continue;
        expected[e.queue] ??= { succeeded: 0, failed: 0 };
        expected[e.queue]![e.outcome] += 1;
      }
      expect(w.counts(now)).toEqual(expected);
    },
  );
});

describe("queueThroughput", () => {
  const presence = (
    id: string,
    alive: boolean,
    finished?: WorkerPresence["finished"],
  ): WorkerPresence => ({
    id,
    host: "h",
    pid: 1,
    queues: ["q"],
    tasks: [],
    concurrency: 1,
    startedAt: 0,
    lastSeenAt: 0,
    alive,
    ...(finished === undefined ? {} : { finished }),
  });

  it("sums the live workers' counts for the queue; dead workers and others' queues do not count", () => {
    const workers = [
      presence("a", true, { q: { succeeded: 3, failed: 1 }, io: { succeeded: 9, failed: 0 } }),
      presence("b", true, { q: { succeeded: 2, failed: 0 } }),
      presence("dead", false, { q: { succeeded: 100, failed: 100 } }),
      presence("old", true),
    ];
    expect(queueThroughput(workers, "q")).toEqual({
      windowMs: 60_000,
      finished: 6,
      succeeded: 5,
      failed: 1,
    });
    expect(queueThroughput(workers, "none")).toEqual({
      windowMs: 60_000,
      finished: 0,
      succeeded: 0,
      failed: 0,
    });
  });
});
