/**
 * The Effect-native client (`WeftClient`) on `MemoryStore.layer`, with a
 * worker from `WeftWorker.layer` on the same store: operations are
 * Effects whose error channel lists the tagged errors they can raise, so
 * a caller handles them by tag.
 */
import { describe, expect, expectTypeOf, it, layer } from "@effect/vitest";
import {
  chain,
  createClient,
  handle,
  NonRetryableError,
  type ResultError,
  Schema,
  StoreUnavailable,
  type SubmitError,
  task,
  WeftClient,
  type WeftRunHandle,
  WeftStore,
  WeftWorker,
} from "@weft/core";
import { Effect, Layer } from "effect";
import { pino } from "pino";
import { MemoryStore } from "../src/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });
const refuse = task({ name: "refuse", input: Schema.Int, output: Schema.Int });

const handlers = [
  handle(add, ({ a, b }) => a + b),
  // an Effect handler, run by the worker
  handle(double, (n) => Effect.succeed(n * 2)),
  handle(refuse, (n) => {
    throw new NonRetryableError(`refused ${n}`);
  }),
];

/** A client and a worker sharing one in-memory store, which the tests read too. */
const Live = Layer.mergeAll(
  WeftClient.layer,
  WeftWorker.layer({ handlers, logger: pino({ level: "silent" }), idleMs: 50 }),
).pipe(Layer.provideMerge(MemoryStore.layer));

layer(Live)("WeftClient on MemoryStore.layer", (it) => {
  it.effect("submits a chain and succeeds with its typed result", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      const submitted = client.submit(chain(add.si({ a: 1, b: 2 }), double.s()));
      expectTypeOf(submitted).toEqualTypeOf<Effect.Effect<WeftRunHandle<number>, SubmitError>>();
      const run = yield* submitted;
      expectTypeOf(run.result()).toEqualTypeOf<Effect.Effect<number, ResultError>>();
      expect(yield* run.result({ timeout: 10_000 })).toBe(6);
      expect((yield* run.status()).status).toBe("succeeded");
      expect((yield* client.get(run.runId)).nodes.map((n) => n.state)).toEqual([
        "succeeded",
        "succeeded",
      ]);
    }),
  );

  it.effect("fails with RunFailed when the run fails, which a caller catches by its tag", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      const run = yield* client.submit(refuse.si(7));
      const failed = yield* Effect.flip(run.result({ timeout: 10_000 }));
      expect(failed._tag).toBe("RunFailed");
      expect(failed.message).toMatch(/ended failed: NonRetryableError: refused 7/);
      const handled = yield* run
        .result({ timeout: 10_000 })
        .pipe(Effect.catchTag("RunFailed", (e) => Effect.succeed(`status ${e.status}`)));
      expect(handled).toBe("status failed");
    }),
  );

  it.effect("refuses a bad input with InvalidInput naming the field, writing nothing", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      const store = yield* WeftStore;
      const before = (yield* Effect.promise(() => store.listRuns({ limit: 100 }))).length;
      const e = yield* Effect.flip(
        client.submit(add.si({ a: 1, b: "two" } as unknown as { a: number; b: number })),
      );
      expect(e._tag).toBe("InvalidInput");
      expect(e.message).toMatch(/input of task "add" is invalid: .*\n {2}at \["b"\]/s);
      expect((yield* Effect.promise(() => store.listRuns({ limit: 100 }))).length).toBe(before);
    }),
  );

  it.effect(
    "submits many canvases, one typed handle each in order; a bad one fails naming its index, writing nothing",
    () =>
      Effect.gen(function* () {
        const client = yield* WeftClient;
        const store = yield* WeftStore;
        const submitted = client.submitMany([double.si(1), double.si(2), double.si(3)]);
        expectTypeOf(submitted).toEqualTypeOf<
          Effect.Effect<ReadonlyArray<WeftRunHandle<number>>, SubmitError>
        >();
        const runs = yield* submitted;
        const results = yield* Effect.forEach(runs, (r) => r.result({ timeout: 10_000 }));
        expect(results).toEqual([2, 4, 6]);
        const before = (yield* Effect.promise(() => store.listRuns({ limit: 100 }))).length;
        const e = yield* Effect.flip(
          client.submitMany([double.si(1), double.si("two" as unknown as number)]),
        );
        expect(e._tag).toBe("InvalidInput");
        expect(e.message).toMatch(/canvases\[1\]: /);
        expect((yield* Effect.promise(() => store.listRuns({ limit: 100 }))).length).toBe(before);
      }),
  );

  it.effect("fails with RunNotFound for an unknown run id", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      const e = yield* Effect.flip(client.get("no-such-run"));
      expect(e._tag).toBe("RunNotFound");
    }),
  );

  it.effect("fails with ResultTimeout when the run does not end in time, and cancels it", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      // no worker consumes this queue: the run stays pending
      const run = yield* client.submit(double.si(1).with({ queue: "nobody" }));
      const e = yield* Effect.flip(run.result({ timeout: 1 }));
      expect(e._tag).toBe("ResultTimeout");
      expect(yield* client.cancel(run.runId)).toBe(true);
      expect(yield* client.cancel(run.runId)).toBe(false);
      expect((yield* Effect.flip(run.result({ timeout: 1_000 })))._tag).toBe("RunFailed");
    }),
  );
});

describe("MemoryStore.layer", () => {
  it.effect(
    "closes its store when the layer's scope closes, and builds a new store each time",
    () =>
      Effect.gen(function* () {
        const { first, waiting } = yield* Effect.gen(function* () {
          const store = yield* WeftStore;
          const run = yield* Effect.promise(() =>
            createClient(store).submit(double.si(1).with({ queue: "nobody" })),
          );
          // no worker: this wait ends only by its 10-minute timeout, or by the store closing
          // (its failure handled from the start: it fails while the scope closes)
          const waiting = store.waitForRun(run.runId, 600_000).catch((e: unknown) => e);
          return { first: store, waiting };
        }).pipe(Effect.provide(MemoryStore.layer));
        // (closed, the store fails the wait rather than answering it as timed out)
        const ended = yield* Effect.promise(() => waiting);
        expect(ended).toBeInstanceOf(StoreUnavailable);
        const second = yield* WeftStore.useSync((s) => s).pipe(Effect.provide(MemoryStore.layer));
        expect(second).toBeInstanceOf(MemoryStore);
        expect(second).not.toBe(first);
      }),
  );
});
