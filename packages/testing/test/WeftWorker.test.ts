/**
 * The scoped worker (`startWorkerScoped`, `WeftWorker.layer`): it runs
 * while its scope is open and stops gracefully when the scope closes: the
 * attempt in flight completes and is recorded, nothing new is claimed, and
 * past the grace period an attempt is aborted and its node released.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest";
import {
  type Clock,
  createClient,
  handle,
  handleEffect,
  type InvalidWorkerOptions,
  liveClock,
  Schema,
  startWorkerScoped,
  task,
  WeftStore,
  WeftWorker,
} from "@weft/core";
import { deferred } from "@weft/core/store";
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect";
import { pino } from "pino";
import { MemoryStore } from "../src/index.ts";

const slow = task({ name: "slow", input: Schema.Int, output: Schema.Int });
const logger = pino({ level: "silent" });

/** A grace period no other wait of the worker uses, so a sleep of this length is the stop's. */
const GRACE_MS = 123_457;

/** The live clock, resolving `graceStarted` when the worker's stop begins waiting for its attempts. */
const watchedClock = (graceStarted: () => void): Clock => ({
  now: liveClock.now,
  sleep: (ms, signal) => {
    if (ms === GRACE_MS) graceStarted();
    return liveClock.sleep(ms, signal);
  },
});

describe("startWorkerScoped", () => {
  it.effect("closing its scope lets the attempt in flight complete and claims nothing new", () =>
    Effect.gen(function* () {
      const store = new MemoryStore();
      const client = createClient(store);
      const started = deferred();
      const release = deferred();
      const stopping = deferred();
      const inputs: number[] = [];
      const scope = yield* Scope.make();
      yield* startWorkerScoped({
        handlers: [
          handle(slow, async (n) => {
            inputs.push(n);
            started.resolve();
            await release.promise;
            return n + 1;
          }),
        ],
        concurrency: 1,
        graceMs: GRACE_MS,
        clock: watchedClock(stopping.resolve),
        logger,
      }).pipe(Effect.provideService(WeftStore, store), Scope.provide(scope));

      const first = yield* Effect.promise(() => client.submit(slow.si(1)));
      yield* Effect.promise(() => started.promise);
      // the worker's one slot is busy: this run waits in its queue
      const second = yield* Effect.promise(() => client.submit(slow.si(2)));

      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void));
      // the stop has begun: the claim loop has ended and the running attempt is awaited
      yield* Effect.promise(() => stopping.promise);
      release.resolve();
      yield* Fiber.join(closing);

      const done = yield* Effect.promise(() => store.getRun(first.runId));
      expect(done?.run.status).toBe("succeeded");
      expect(yield* Effect.promise(() => first.result({ timeout: 1_000 }))).toBe(2);
      const waiting = yield* Effect.promise(() => store.getRun(second.runId));
      expect(waiting?.nodes.map((n) => n.state)).toEqual(["queued"]);
      expect(inputs).toEqual([1]);
      // and it left the worker registry
      const workers = yield* Effect.promise(() => store.listWorkers({ now: Date.now() }));
      expect(workers).toEqual([]);
    }),
  );

  it.effect(
    "past the grace period, aborts the attempt with WorkerStopping and releases its node",
    () =>
      Effect.gen(function* () {
        const store = new MemoryStore();
        const started = deferred();
        const reasons: unknown[] = [];
        const scope = yield* Scope.make();
        yield* startWorkerScoped({
          handlers: [
            handle(slow, (_n, ctx) => {
              started.resolve();
              // never ends by itself: only the abort ends it
              return new Promise<number>((_, reject) => {
                ctx.signal.addEventListener("abort", () => {
                  reasons.push(ctx.signal.reason);
                  reject(ctx.signal.reason);
                });
              });
            }),
          ],
          graceMs: 1,
          logger,
        }).pipe(Effect.provideService(WeftStore, store), Scope.provide(scope));
        const run = yield* Effect.promise(() => createClient(store).submit(slow.si(1)));
        yield* Effect.promise(() => started.promise);
        yield* Scope.close(scope, Exit.void);

        expect(reasons.map((r) => (r as { _tag?: string })._tag)).toEqual(["WorkerStopping"]);
        const snap = yield* Effect.promise(() => store.getRun(run.runId));
        expect(snap?.nodes.map((n) => n.state)).toEqual(["queued"]);
      }),
  );

  it.effect("fails with InvalidWorkerOptions, starting nothing, for a bad retry default", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        startWorkerScoped({ handlers: [], retryDefaults: { maxAttempts: 0 }, logger }),
      ).pipe(Effect.provide(MemoryStore.layer));
      expect(e._tag).toBe("InvalidWorkerOptions");
      expect(e.message).toMatch(/maxAttempts/);
    }),
  );
});

describe("WeftWorker.layer", () => {
  it.effect("runs a worker while the layer is built and unregisters it when its scope closes", () =>
    Effect.gen(function* () {
      const store = new MemoryStore();
      const Live = WeftWorker.layer({
        handlers: [handle(slow, (n) => n * 10)],
        logger,
        idleMs: 50,
      }).pipe(Layer.provide(WeftStore.fromStore(store)));
      const id = yield* Effect.gen(function* () {
        const worker = yield* WeftWorker;
        const run = yield* Effect.promise(() => createClient(store).submit(slow.si(4)));
        expect(yield* Effect.promise(() => run.result({ timeout: 10_000 }))).toBe(40);
        const registered = yield* Effect.promise(() => store.listWorkers({ now: Date.now() }));
        expect(registered.map((w) => w.id)).toEqual([worker.id]);
        return worker.id;
      }).pipe(Effect.provide(Live));
      expect(id).toBeTypeOf("string");
      expect(yield* Effect.promise(() => store.listWorkers({ now: Date.now() }))).toEqual([]);
    }),
  );

  it.effect("runs Effect handlers with the services the worker's layer is given", () =>
    Effect.gen(function* () {
      class Greeter extends Context.Service<
        Greeter,
        { readonly greet: (name: string) => Effect.Effect<string> }
      >()("test/Greeter") {}
      const hello = task({ name: "hello", input: Schema.String, output: Schema.String });
      const handlers = [
        handleEffect(hello, (name) => Greeter.use((g) => g.greet(name))),
        handle(slow, (n) => n + 1),
      ];
      const needs = WeftWorker.layer({ handlers, logger, idleMs: 50 });
      expectTypeOf(needs).toEqualTypeOf<
        Layer.Layer<WeftWorker, InvalidWorkerOptions, WeftStore | Greeter>
      >();
      const store = new MemoryStore();
      const Live = needs.pipe(
        Layer.provide(Layer.succeed(Greeter, { greet: (n) => Effect.succeed(`hello ${n}`) })),
        Layer.provide(WeftStore.fromStore(store)),
      );
      const client = createClient(store);
      const [greeting, next] = yield* Effect.promise(async () => {
        const a = await client.submit(hello.si("Ada"));
        const b = await client.submit(slow.si(1));
        return [await a.result({ timeout: 10_000 }), await b.result({ timeout: 10_000 })];
      }).pipe(Effect.provide(Live));
      expect(greeting).toBe("hello Ada");
      expect(next).toBe(2);
    }),
  );
});
