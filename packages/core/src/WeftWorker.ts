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
import { type BoundHandler, handle, type TaskContext } from "./Handler.ts";
import { liftSync } from "./Lift.ts";
import type { AnyTask, InputOf, OutputOf } from "./Task.ts";
import { WeftStore } from "./WeftStore.ts";
import { startWorker, type Worker, type WorkerOptions } from "./Worker.ts";

/**
 * A handler whose Effect needs services `R` (a database, a mailer), bound
 * to its task. A scoped worker ({@link startWorkerScoped},
 * {@link WeftWorker.layer}) provides `R` from its own context, so the
 * services come from the layers the worker is built with.
 */
export interface EffectHandler<R> {
  readonly _tag: "EffectHandler";
  readonly task: AnyTask;
  /** The handler with its services provided: what the worker runs. */
  readonly provide: (context: Context.Context<R>) => BoundHandler;
}

/**
 * Binds an Effect handler that needs services `R` to a task declaration
 * (for a handler that needs none, `handle` does the same). The Effect is
 * interrupted when the attempt is aborted (a timeout, a lost lease, a
 * cancelled run, a stopping worker); its failure is recorded as a thrown
 * error would be.
 *
 * @example
 * class Mailer extends Context.Service<Mailer, { send: (to: string) => Effect.Effect<string> }>()("Mailer") {}
 * const handlers = [handleEffect(sendWelcome, ({ email }) => Mailer.use((m) => m.send(email)))]
 * const WorkerLive = WeftWorker.layer({ handlers }).pipe(Layer.provide(MailerLive), Layer.provide(StoreLive))
 */
export const handleEffect = <T extends AnyTask, R>(
  task: T,
  fn: (input: InputOf<T>, ctx: TaskContext) => Effect.Effect<OutputOf<T>, unknown, R>,
): EffectHandler<R> => ({
  _tag: "EffectHandler",
  task,
  provide: (context) =>
    handle(task, (input, ctx) => Effect.provideContext(fn(input, ctx), context)),
});

/** A handler a scoped worker takes: a bound handler (`handle`) or an Effect handler that needs services (`handleEffect`). */
// biome-ignore lint/suspicious/noExplicitAny: any service set
export type ScopedHandler = BoundHandler | EffectHandler<any>;

/** The services the Effect handlers of a list need (`never` when there are none). */
export type ServicesOf<H extends ReadonlyArray<ScopedHandler>> = H[number] extends infer X
  ? X extends EffectHandler<infer R>
    ? R
    : never
  : never;

/**
 * Options of a scoped worker: those of `startWorker` but the store, which
 * is the {@link WeftStore} of the context, and how long closing the scope
 * waits for running attempts. `handlers` may include Effect handlers that
 * need services (`handleEffect`): the worker takes them from its context.
 */
export interface ScopedWorkerOptions<
  H extends ReadonlyArray<ScopedHandler> = ReadonlyArray<ScopedHandler>,
> extends Omit<WorkerOptions, "store" | "handlers"> {
  readonly handlers: H;
  /** How long closing the scope waits for running attempts before aborting them, ms. Default 10 000. */
  readonly graceMs?: number;
}

const isEffectHandler = (h: ScopedHandler): h is EffectHandler<never> =>
  (h as { _tag?: unknown } | null)?._tag === "EffectHandler";

/**
 * Starts a worker on the context's {@link WeftStore} and stops it, as
 * `worker.stop(graceMs)` does, when the scope closes; the scope's close
 * waits for that stop to end.
 *
 * @throws InvalidWorkerOptions (as the Effect's failure) when
 *   `handlers` is not an array, holds an entry that is neither `handle` nor
 *   `handleEffect`'s (a task passed itself), or two handlers of one task,
 *   or another option is out of range, as `startWorker` checks them.
 *
 * @example
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const worker = yield* startWorkerScoped({ handlers, concurrency: 4 })
 *     yield* Effect.never // runs until interrupted; then the worker drains and stops
 *   }),
 * )
 */
export const startWorkerScoped = <const H extends ReadonlyArray<ScopedHandler>>(
  options: ScopedWorkerOptions<H>,
): Effect.Effect<Worker, InvalidWorkerOptions, WeftStore | Scope.Scope | ServicesOf<H>> => {
  const { graceMs, handlers, ...rest } = options;
  return Effect.acquireRelease(
    Effect.gen(function* () {
      const store = yield* WeftStore;
      const context = yield* Effect.context<ServicesOf<H>>();
      // anything but an array is passed on as given, for startWorker to refuse naming it
      const bound = Array.isArray(handlers)
        ? handlers.map(
            (h): BoundHandler => (isEffectHandler(h) ? h.provide(context) : (h as BoundHandler)),
          )
        : (handlers as unknown as ReadonlyArray<BoundHandler>);
      return yield* liftSync(() => startWorker({ ...rest, handlers: bound, store }), [
        InvalidWorkerOptions,
      ] as const);
    }),
    (worker) => Effect.promise(() => worker.stop(graceMs)),
  );
};

/**
 * A running worker as an Effect service (`activeCount`, `id`, `done`).
 * `WeftWorker.layer(options)` starts one on the layer's {@link WeftStore}
 * and stops it gracefully when the layer's scope closes; the services its
 * Effect handlers need (`handleEffect`) are the layer's requirements too.
 *
 * @example
 * const WorkerLive = WeftWorker.layer({ handlers, queues: ["default"] }).pipe(
 *   Layer.provide(RedisStore.layer(process.env.REDIS_URL ?? "redis://127.0.0.1:6379")),
 * )
 * Layer.launch(WorkerLive).pipe(NodeRuntime.runMain) // SIGTERM closes the scope: the worker drains
 */
export class WeftWorker extends Context.Service<WeftWorker, Worker>()("@weft/core/WeftWorker") {
  /** A worker started with `options` on the layer's store, stopped gracefully when the layer's scope closes. */
  static readonly layer = <const H extends ReadonlyArray<ScopedHandler>>(
    options: ScopedWorkerOptions<H>,
  ): Layer.Layer<WeftWorker, InvalidWorkerOptions, WeftStore | ServicesOf<H>> =>
    Layer.effect(WeftWorker, startWorkerScoped(options));
}
