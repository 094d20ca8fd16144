/**
 * The client as an Effect service: every operation of the Promise client
 * (`createClient`) as an Effect whose error channel lists the errors it can
 * raise, as the tagged classes of `Errors` (so `Effect.catchTag("RunFailed",
 * ...)` works). Anything else a call throws is a defect. See
 * docs/effect.md for the Promise API beside it.
 */
import { Context, Effect, Layer } from "effect";
import type { Canvas } from "./Canvas.ts";
import { type Client, createClient, type RunHandle, type SubmitOptions } from "./Client.ts";
import {
  DuplicateRun,
  IdempotencyConflict,
  InvalidCanvas,
  InvalidInput,
  InvalidSubmitOptions,
  InvalidWaitOptions,
  ResultTimeout,
  ResultUndecodable,
  RunFailed,
  RunNotFound,
  StoreUnavailable,
  SubmitInterrupted,
} from "./Errors.ts";
import { liftPromise } from "./Lift.ts";
import type { RunRecord } from "./Machine.ts";
import type { RunSnapshot } from "./Store.ts";
import { WeftStore } from "./WeftStore.ts";

/** What a submission can fail with: a refused canvas or input, a taken id or key, an interrupted write, or a store that cannot serve. */
export type SubmitError =
  | InvalidCanvas
  | InvalidInput
  | InvalidSubmitOptions
  | DuplicateRun
  | IdempotencyConflict
  | SubmitInterrupted
  | StoreUnavailable;

/** What waiting for a run's result can fail with. */
export type ResultError =
  | RunFailed
  | ResultTimeout
  | InvalidWaitOptions
  | RunNotFound
  | ResultUndecodable
  | StoreUnavailable;

const submitErrors = [
  InvalidCanvas,
  InvalidSubmitOptions,
  InvalidInput,
  DuplicateRun,
  IdempotencyConflict,
  SubmitInterrupted,
  StoreUnavailable,
] as const;
const resultErrors = [
  RunFailed,
  ResultTimeout,
  InvalidWaitOptions,
  RunNotFound,
  ResultUndecodable,
  StoreUnavailable,
] as const;
const readErrors = [RunNotFound, StoreUnavailable] as const;

/** A submitted run, with Effects in place of the Promise handle's methods (see `RunHandle`). */
export interface WeftRunHandle<Out> {
  readonly runId: string;
  /** True when an idempotency key (or the run id) matched an earlier run. */
  readonly existing: boolean;
  /**
   * Waits for the run to end and succeeds with its typed output (see
   * `RunHandle.result`). `timeout` is ms, default 60 000. Interrupting the
   * Effect stops waiting for it (the run goes on).
   */
  result(opts?: {
    readonly timeout?: number;
    readonly waitForQuiet?: boolean;
  }): Effect.Effect<Out, ResultError>;
  /** The run's record (status, counts, timestamps). */
  status(): Effect.Effect<RunRecord, RunNotFound | StoreUnavailable>;
  /** The Promise handle underneath. */
  readonly promise: RunHandle<Out>;
}

/** The operations of {@link WeftClient}. */
export interface WeftClientShape {
  /**
   * Compiles and submits a canvas (see `Client.submit`); nothing is written
   * when it fails with `InvalidCanvas`, `InvalidInput` or
   * `InvalidSubmitOptions`.
   */
  submit<Out>(
    canvas: Canvas<unknown, Out>,
    opts?: SubmitOptions,
  ): Effect.Effect<WeftRunHandle<Out>, SubmitError>;
  /**
   * Submits many canvases, each its own run, one handle per canvas in order
   * (see `Client.submitMany`: options shared or one per canvas; a refused
   * canvas or option fails with its index before anything is written).
   */
  submitMany<Out>(
    canvases: ReadonlyArray<Canvas<unknown, Out>>,
    opts?: SubmitOptions | ReadonlyArray<SubmitOptions>,
  ): Effect.Effect<ReadonlyArray<WeftRunHandle<Out>>, SubmitError>;
  /** The run with every node. */
  get(runId: string): Effect.Effect<RunSnapshot, RunNotFound | StoreUnavailable>;
  /** Cancels a run; `false` when it had already ended. */
  cancel(runId: string): Effect.Effect<boolean, StoreUnavailable>;
  /** The Promise client underneath, on the same store. */
  readonly promise: Client;
}

/** Wraps a Promise handle's methods as Effects. */
const wrapHandle = <Out>(h: RunHandle<Out>): WeftRunHandle<Out> => ({
  runId: h.runId,
  existing: h.existing,
  result: (opts) => liftPromise(() => h.result(opts), resultErrors),
  status: () => liftPromise(() => h.status(), readErrors),
  promise: h,
});

/** The Effect operations over a Promise client. */
const fromClient = (client: Client): WeftClientShape => ({
  submit: (canvas, opts) =>
    Effect.map(
      liftPromise(() => client.submit(canvas, opts), submitErrors),
      wrapHandle,
    ),
  submitMany: (canvases, opts) =>
    Effect.map(
      liftPromise(() => client.submitMany(canvases, opts), submitErrors),
      (handles) => handles.map(wrapHandle),
    ),
  get: (runId) => liftPromise(() => client.get(runId), readErrors),
  cancel: (runId) => liftPromise(() => client.cancel(runId), [StoreUnavailable] as const),
  promise: client,
});

/**
 * The client as an Effect service, built on the {@link WeftStore} of its
 * layer. Its errors are the tagged classes the Promise client throws.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const client = yield* WeftClient
 *   const run = yield* client.submit(chain(fetchPage.si(url), countWords.s()))
 *   return yield* run.result({ timeout: 30_000 })
 * }).pipe(
 *   Effect.catchTag("RunFailed", (e) => Effect.succeed(`failed: ${e.message}`)),
 *   Effect.provide(WeftClient.layer.pipe(Layer.provide(RedisStore.layer(url)))),
 * )
 */
export class WeftClient extends Context.Service<WeftClient, WeftClientShape>()(
  "@weft/core/WeftClient",
) {
  /** The client on the layer's {@link WeftStore}. */
  static readonly layer: Layer.Layer<WeftClient, never, WeftStore> = Layer.effect(
    WeftClient,
    WeftStore.useSync((store) => fromClient(createClient(store))),
  );

  /** The Effect operations over a Promise client you made (`createClient(store, now)`). */
  static readonly fromClient = fromClient;
}
