import { chain, handle, RunFailed, Schema, task } from "@weft/core";
import { decodeWith } from "@weft/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkIdempotent,
  checkRetrySafe,
  forAllInputs,
  runEager,
  SimulationStuck,
} from "../src/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const double = task({
  name: "double",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 3 },
});
const handlers = [handle(add, async ({ a, b }) => a + b), handle(double, async (n) => n * 2)];
/** A task routed to the `io` queue. */
const square = task({ name: "square", input: Schema.Int, output: Schema.Int, queue: "io" });

describe("runEager", () => {
  it("runs a canvas in-process and returns its typed output", async () => {
    const out: number = await runEager(chain(add.si({ a: 1, b: 2 }), double.s()), handlers);
    expect(out).toBe(6);
  });

  it("retries a step through two injected failures under its policy, then returns the output", async () => {
    const attempts: number[] = [];
    const out = await runEager(
      chain(add.si({ a: 1, b: 2 }), double.s()),
      [
        handlers[0]!,
        handle(double, async (n, ctx) => {
          attempts.push(ctx.attempt);
          return n * 2;
        }),
      ],
      { faults: { handlers: [[], ["throw", "throw"]] } },
    );
    expect(out).toBe(6);
    // the injected throws stand in for the first two executions; the third attempt (of 3) runs it
    expect(attempts).toEqual([3]);
  });

  it("consumes every queue the canvas uses: tasks on io and default", async () => {
    const out = await runEager(chain(add.si({ a: 1, b: 2 }), square.s(), double.s()), [
      ...handlers,
      handle(square, async (n) => n * n),
    ]);
    expect(out).toBe(18);
  });

  it("fails at once, naming the task, when a task has no handler", async () => {
    const err = await runEager(chain(add.si({ a: 1, b: 2 }), square.s()), handlers).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SimulationStuck);
    expect((err as SimulationStuck).reasons).toEqual([
      `node 1 (task "square") is ready but no handler was given for task "square" (handlers: "add", "double")`,
    ]);
    // found when node 1 became ready, at the start of virtual time
    expect((err as SimulationStuck).elapsedMs).toBe(0);
  });

  it("fails at once, naming the queue, when the queues it is told to consume leave one out", async () => {
    const err = await runEager(square.si(3), [handle(square, async (n) => n * n)], {
      queues: ["default"],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimulationStuck);
    expect((err as Error).message).toBe(
      `run sim cannot progress (after 0 virtual ms): node 0 (task "square") is ready on queue "io", which no simulated worker consumes (they consume "default")`,
    );
  });

  it("throws RunFailed when retries are exhausted", async () => {
    const err = await runEager(double.si(1), handlers, {
      faults: { handlers: [["throw", "throw", "throw"]] },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailed);
    expect((err as RunFailed).error?.message).toBe("injected failure of node 0");
  });
});

describe("forAllInputs", () => {
  it("derives valid inputs from the task's schema", () => {
    const person = task({
      name: "person",
      input: Schema.Struct({
        name: Schema.String,
        age: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 150 })),
      }),
      output: Schema.String,
    });
    fc.assert(
      fc.property(forAllInputs(person), (p) => decodeWith(person.input, p).ok),
      { numRuns: 50 },
    );
  });
});

describe("checkRetrySafe / checkIdempotent", () => {
  const bump = task({ name: "bump", input: Schema.Struct({ by: Schema.Int }), output: Schema.Int });
  type Counter = { n: number; seen: Set<string> };
  const counter = {
    task: bump,
    setup: (): Counter => ({ n: 0, seen: new Set() }),
    observe: (c: Counter) => c.n,
    inputs: fc.record({ by: fc.integer({ min: 1, max: 9 }) }),
    numRuns: 20,
    seed: 3,
  };

  it("find a handler whose effect repeats under a re-delivery", async () => {
    const naive =
      (c: Counter) =>
      async ({ by }: { by: number }) =>
        (c.n += by);
    await expect(checkRetrySafe({ ...counter, handler: naive })).rejects.toThrow(/Counterexample/);
    await expect(checkIdempotent({ ...counter, handler: naive })).rejects.toThrow(/run twice/);
  });

  it("pass a handler that deduplicates by ctx.idempotencyKey", async () => {
    const keyed =
      (c: Counter) =>
      async ({ by }: { by: number }, ctx: { idempotencyKey: string }) => {
        if (!c.seen.has(ctx.idempotencyKey)) {
          c.seen.add(ctx.idempotencyKey);
          c.n += by;
        }
        return c.n;
      };
    await checkRetrySafe({ ...counter, handler: keyed });
    await checkIdempotent({ ...counter, handler: keyed });
    // on a task routed to another queue too (each run consumes the task's queue)
    const bumpIo = task({
      name: "bump-io",
      input: Schema.Struct({ by: Schema.Int }),
      output: Schema.Int,
      queue: "io",
    });
    await checkRetrySafe({ ...counter, task: bumpIo, handler: keyed });
  });

  it("runs the attempt a worker runs: a task deduplicated by its result key passes checkIdempotent", async () => {
    const naive =
      (c: Counter) =>
      async ({ by }: { by: number }) =>
        (c.n += by);
    // the same naive handler, on a task whose result key is the input: the second attempt
    // gets the first one's memo and never runs the handler
    const memoised = task({
      name: "bump-memo",
      input: Schema.Struct({ by: Schema.Int }),
      output: Schema.Int,
      resultKey: ({ by }) => `by-${by}`,
    });
    await checkIdempotent({ ...counter, task: memoised, handler: naive });
    await expect(checkIdempotent({ ...counter, handler: naive })).rejects.toThrow(/run twice/);
  });
});
