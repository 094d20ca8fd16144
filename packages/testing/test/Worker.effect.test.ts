/**
 * The worker runtime on effect's TestClock (`it.effect` runs each test with
 * one): any clock that reads epoch ms and sleeps abortably can drive the
 * worker, and effect's is one. Time moves only by `TestClock.adjust`, so a
 * deadline is hit exactly.
 */
import { describe, expect, it } from "@effect/vitest";
import { createClient, handle, Schema, startWorker, task } from "@weft/core";
import { Clock, Deferred, Effect } from "effect";
import { TestClock } from "effect/testing";
import { pino } from "pino";
import { MemoryStore } from "../src/index.ts";

/** The clock of the running test (its TestClock) as the worker's clock: epoch ms and an abortable sleep. */
const workerClockOfTest = Effect.gen(function* () {
  const services = yield* Effect.context<never>();
  const clock = yield* Clock.clockWith(Effect.succeed);
  const run = Effect.runPromiseWith(services);
  return {
    now: () => clock.currentTimeMillisUnsafe(),
    // an aborted sleep is interrupted; it resolves either way (it never rejects)
    sleep: (ms: number, signal?: AbortSignal) =>
      run(Effect.sleep(ms), signal ? { signal } : undefined).then(
        () => undefined,
        () => undefined,
      ),
  };
});

describe("an Effect handler on effect's TestClock", () => {
  const slow = task({
    name: "slow",
    input: Schema.Int,
    output: Schema.Int,
    timeoutMs: 1_000,
    retry: { maxAttempts: 1 },
  });

  it.effect(
    "is interrupted at its deadline: its finalizer runs and the attempt fails with Timeout exactly timeoutMs after it started",
    () =>
      Effect.gen(function* () {
        const clock = yield* workerClockOfTest;
        const store = new MemoryStore({ clock });
        const started = yield* Deferred.make<number | undefined>();
        const interrupted: number[] = [];
        const worker = startWorker({
          store,
          clock,
          logger: pino({ level: "silent" }),
          handlers: [
            handle(slow, (n, ctx) =>
              Deferred.succeed(started, ctx.deadline).pipe(
                Effect.andThen(Effect.never),
                Effect.as(n),
                Effect.onInterrupt(() => Effect.sync(() => interrupted.push(ctx.attempt))),
              ),
            ),
          ],
        });
        const t0 = clock.now();
        const run = yield* Effect.promise(() => createClient(store).submit(slow.si(1)));
        const deadline = yield* Deferred.await(started);
        expect(deadline).toBe(t0 + 1_000);

        yield* TestClock.adjust("1 second");
        const record = yield* Effect.promise(() => store.waitForRun(run.runId, 60_000));
        expect(record?.status).toBe("failed");
        expect(interrupted).toEqual([1]);
        const node = (yield* Effect.promise(() => store.getRun(run.runId)))!.nodes[0]!;
        expect(node.error).toMatchObject({ tag: "Timeout", retryable: true });
        // ended at the deadline on the TestClock: not a millisecond before, not after
        expect(node.history.map((h) => [h.outcome, h.startedAt, h.endedAt])).toEqual([
          ["failed", t0, t0 + 1_000],
        ]);
        yield* Effect.promise(() => worker.stop());
      }),
  );
});
