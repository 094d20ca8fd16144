/**
 * The worker as a scoped Effect resource: started when its scope opens (or
 * its layer is built), stopped gracefully when the scope closes. Stopping
 * is `Worker.stop`: the worker claims nothing new, waits up to `graceMs`
 * for the attempts it is running to end and be recorded, then aborts the
 * rest and releases their nodes for re-delivery (docs/lifecycle.md). See
 * docs/effect.md for the Promise API beside it.
 */
import { Context, Effect, Layer, type Scope } from "effect";
import { InvalidWorkerOptions } from "./Errors.ts";
import { liftSync } from "./Lift.ts";
import { WeftStore } from "./WeftStore.ts";
import { startWorker, type Worker, type WorkerOptions } from "./Worker.ts";

/**
 * Options of a scoped worker: those of `startWorker` but the store, which
 * is the {@link WeftStore} of the context, and how long closing the scope
 * waits for running attempts.
 */
export interface ScopedWorkerOptions extends Omit<WorkerOptions, "store"> {
  /** How long closing the scope waits for running attempts before aborting them, ms. Default 10 000. */
  readonly graceMs?: number;
}

/**
 * Starts a worker on the context's {@link WeftStore} and stops it, as
 * `worker.stop(graceMs)` does, when the scope closes; the scope's close
 * waits for that stop to end.
 *
 * @throws InvalidWorkerOptions (as the Effect's failure) when
 *   `retryDefaults` holds a field out of range.
 *
 * @example
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const worker = yield* startWorkerScoped({ handlers, concurrency: 4 })
 *     yield* Effect.never // runs until interrupted; then the worker drains and stops
 *   }),
 * )
 */
export const startWorkerScoped = (
  options: ScopedWorkerOptions,
): Effect.Effect<Worker, InvalidWorkerOptions, WeftStore | Scope.Scope> => {
  const { graceMs, ...rest } = options;
  return Effect.acquireRelease(
    WeftStore.use((store) =>
      liftSync(() => startWorker({ ...rest, store }), [InvalidWorkerOptions] as const),
    ),
    (worker) => Effect.promise(() => worker.stop(graceMs)),
  );
};

/**
 * A running worker as an Effect service (`activeCount`, `id`, `done`).
 * `WeftWorker.layer(options)` starts one on the layer's {@link WeftStore}
 * and stops it gracefully when the layer's scope closes.
 *
 * @example
 * const WorkerLive = WeftWorker.layer({ handlers, queues: ["default"] }).pipe(
 *   Layer.provide(RedisStore.layer(process.env.REDIS_URL ?? "redis://127.0.0.1:6379")),
 * )
 * Layer.launch(WorkerLive).pipe(NodeRuntime.runMain) // SIGTERM closes the scope: the worker drains
 */
export class WeftWorker extends Context.Service<WeftWorker, Worker>()("@weft/core/WeftWorker") {
  /** A worker started with `options` on the layer's store, stopped gracefully when the layer's scope closes. */
  static readonly layer = (
    options: ScopedWorkerOptions,
  ): Layer.Layer<WeftWorker, InvalidWorkerOptions, WeftStore> =>
    Layer.effect(WeftWorker, startWorkerScoped(options));
}
