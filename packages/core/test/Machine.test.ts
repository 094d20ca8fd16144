import { fc, test } from "@fast-check/vitest";
import { Schema } from "effect";
import { describe, expect, it } from "vitest";
import { chain, group, InvalidSubmitOptions, task } from "../src/index.ts";
import {
  commitRun,
  compile,
  completeNode,
  createRun,
  expireNode,
  readyTimes,
  runTiming,
  startNode,
} from "../src/store/index.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });

describe("the state machine's time limits", () => {
  it("gives a node ready at t its due time, the latest of notBefore, t + delayMs and the run's notBefore", () => {
    const dag = compile(group(inc.si(1).with({ delayMs: 50, notBefore: 120 }), inc.si(2)));
    const s = createRun("r", dag, 0, { notBefore: 100 });
    expect(readyTimes(s, 0, 10)).toEqual({ dueAt: 120, expiresAt: undefined });
    expect(readyTimes(s, 0, 90)).toEqual({ dueAt: 140, expiresAt: undefined });
    expect(readyTimes(s, 1, 10)).toEqual({ dueAt: 100, expiresAt: undefined });
    // no later than now: not delayed
    expect(readyTimes(s, 1, 100)).toEqual({ dueAt: undefined, expiresAt: undefined });
  });

  it("gives a node ready at t its deadline, the earliest of expiresAt, t + expiresInMs and the run's expiresAt", () => {
    const dag = compile(group(inc.si(1).with({ expiresInMs: 30, expiresAt: 200 }), inc.si(2)));
    const s = createRun("r", dag, 0, { expiresAt: 150 });
    expect(readyTimes(s, 0, 10).expiresAt).toBe(40);
    expect(readyTimes(s, 0, 190).expiresAt).toBe(150);
    expect(readyTimes(s, 1, 10).expiresAt).toBe(150);
  });

  it("expires a queued node only at or past its deadline, and never one that started", () => {
    const dag = compile(chain(inc.si(1).with({ expiresInMs: 10 }), inc.s()));
    const s = createRun("r", dag, 0);
    commitRun(s, 0);
    expect(expireNode(s, 0, 9)).toBeUndefined();
    expect(s.nodes[0]!.state).toBe("queued");
    expect(expireNode(s, 0, 10)).toEqual([]);
    expect(s.nodes.map((n) => n.state)).toEqual(["expired", "skipped"]);
    expect(s.run).toMatchObject({ status: "failed", failedNode: 0, finishedAt: 10 });

    const t = createRun("t", dag, 0);
    commitRun(t, 0);
    expect(startNode(t, 0, "w", 1, 9).kind).toBe("started");
    expect(expireNode(t, 0, 50)).toBeUndefined();
    expect(completeNode(t, 0, 60)!.ready).toEqual([1]);
  });

  test.prop([
    fc.integer({ min: 0, max: 1_000 }),
    fc.integer({ min: 1, max: 1_000 }),
    fc.nat(3_000),
  ])(
    "a node starts only in [due, deadline): a start before its due time is the store's to refuse, a start at or past its deadline expires it",
    (delayMs, expiresInMs, at) => {
      const dag = compile(inc.si(1).with({ delayMs, expiresInMs }));
      const s = createRun("r", dag, 0);
      commitRun(s, 0);
      const n = s.nodes[0]!;
      expect(n.dueAt).toBe(delayMs > 0 ? delayMs : undefined);
      expect(n.expiresAt).toBe(expiresInMs);
      const r = startNode(s, 0, "w", 1, at);
      expect(r.kind).toBe(at >= expiresInMs ? "expired" : "started");
    },
  );
});

describe("submit's time options (runTiming)", () => {
  it("turns delayMs and expiresInMs into epoch ms from now, and a Date into its epoch ms", () => {
    expect(runTiming({ delayMs: 10, expiresInMs: 20 }, 1_000)).toEqual({
      notBefore: 1_010,
      expiresAt: 1_020,
    });
    expect(runTiming({ at: new Date(5_000), expiresAt: new Date(9_000) }, 1_000)).toEqual({
      notBefore: 5_000,
      expiresAt: 9_000,
    });
    // a time already past holds nothing back
    expect(runTiming({ at: 500 }, 1_000)).toEqual({});
    expect(runTiming({ delayMs: 0 }, 1_000)).toEqual({});
  });

  it("refuses a bad option, naming it", () => {
    const refused = (opts: Parameters<typeof runTiming>[0]) => {
      try {
        runTiming(opts, 0);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidSubmitOptions);
        return (e as Error).message;
      }
      throw new Error("not refused");
    };
    expect(refused({ delayMs: -1 })).toBe(
      "invalid submit options: option delayMs must be a finite number of ms ≥ 0, got -1",
    );
    expect(refused({ expiresInMs: 0.5 })).toMatch(
      /option expiresInMs must be a finite number of ms ≥ 1/,
    );
    expect(refused({ at: Number.POSITIVE_INFINITY })).toMatch(/option at must be an epoch ms/);
    expect(refused({ expiresAt: new Date(Number.NaN) })).toMatch(
      /option expiresAt must be .* got an invalid Date/,
    );
    expect(refused({ expiresAt: 5, expiresInMs: 5 })).toMatch(/one of expiresAt and expiresInMs/);
  });
});
