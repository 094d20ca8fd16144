/**
 * Binding handlers to task declarations, where the worker runs. A handler is
 * `(input, ctx) => output`, `async` or not, or returns an `Effect`.
 */
import type { Effect } from "effect";
import type { Logger } from "pino";
import type { Canvas } from "./Canvas.ts";
import { described } from "./Described.ts";
import { InvalidWorkerOptions } from "./Errors.ts";
import { handlerFn, settled } from "./HandlerOutput.ts";
import type { HeldLock, LockOptions } from "./Locks.ts";
import type { Progress } from "./Machine.ts";
import type { Replacement } from "./Replace.ts";
import type { LeaseState } from "./Store.ts";
import type { AnyTask, InputOf, OutputOf } from "./Task.ts";

/** What a handler gets besides its input. */
export interface TaskContext {
  readonly runId: string;
  readonly nodeId: number;
  readonly task: string;
  /** 1-based attempt number, persisted by the store. */
  readonly attempt: number;
  /** `${runId}:${nodeId}`: stable across retries of the node; hand it to external APIs. */
  readonly idempotencyKey: string;
  /**
   * The id of the run at the root of the workflow (Celery's `request.root_id`).
   * A run is the whole workflow, so this is `runId`; once runs can start child
   * runs, a child carries its root's id here.
   */
  readonly rootRunId: string;
  /**
   * The nodes this node waits on, its dependencies, in declaration order
   * (Celery's `request.parent_id`, a list since a chord body has one per
   * header member); `[]` for a root.
   */
  readonly parentNodeIds: ReadonlyArray<number>;
  /** The queue the node was routed to (Celery's `request.delivery_info["routing_key"]`). */
  readonly queue: string;
  /** The node's priority, 0 (lowest) to 15 (highest) (Celery's `delivery_info["priority"]`). */
  readonly priority: number;
  /**
   * Attempts left after this one under the node's retry policy: 0 on the last
   * attempt (Celery's `max_retries - request.retries`). Stalls do not use up attempts.
   */
  readonly attemptsLeft: number;
  /**
   * The run's headers: the plain-data metadata given at submit
   * (`submit(canvas, { headers })`, Celery's `apply_async(headers=...)`),
   * the same for every node of the run; `{}` when none were given.
   */
  readonly headers: Readonly<Record<string, unknown>>;
  /**
   * Fires when the attempt times out, the lease is lost, the run is
   * cancelled (at once: the store pushes a signal; heartbeats are the
   * fallback) or the worker stops. `signal.reason` is the tagged error that
   * says why (its `name` is its tag): `Timeout`, `LeaseLost`, `Cancelled`,
   * `WorkerStopping` or `LockLost` (docs/errors.md).
   */
  readonly signal: AbortSignal;
  /** Epoch ms at which the attempt times out, when the task has a timeout. */
  readonly deadline?: number;
  /**
   * Aborts at the task's soft time limit (`softTimeoutMs`, Celery's
   * `soft_time_limit`) with a `SoftTimeLimitExceeded` reason; never aborts
   * when the task has none. Only a notice: the handler may wrap up and
   * return a value (the attempt succeeds) or throw (it fails).
   */
  readonly softTimeout: AbortSignal;
  /** pino logger carrying runId, nodeId, task and attempt. */
  readonly log: Logger;
  /**
   * Records progress (`{ current, total, message }`), shown by `weft
   * inspect` and `watch`, and answers the state of this attempt's lease:
   * `"held"`, `"lost"` (the node was re-delivered: stop, nothing you return
   * will be recorded) or `"cancelled"` (the run was cancelled). On `lost` or
   * `cancelled` it also aborts {@link TaskContext.signal}.
   *
   * @throws InvalidProgress (rejects, recording nothing) when `p` is not
   *   `{ current: finite number, total?: finite ≥ 0, message?: string of at
   *   most 1 000 characters }` (see `checkProgress`).
   * @throws StoreUnavailable when the store cannot be reached.
   *
   * @example
   * for (const item of items) {
   *   if ((await ctx.progress({ current: i++, total: items.length })) !== "held") break
   * }
   */
  readonly progress: (p: Progress) => Promise<LeaseState>;
  /**
   * Takes a distributed lock for the rest of the attempt (released when the
   * handler returns); hand `token` to the resource you protect.
   *
   * @throws LockTimeout (retryable) when it stays held for `waitMs`.
   */
  readonly lock: (name: string, opts?: LockOptions) => Promise<HeldLock>;
  /**
   * Adds a member to the running chord this node is a header member of
   * (Celery's `add_to_chord`; docs/concepts.md, "Adding to a running
   * chord"): `canvas` (taking no upstream value) is added to the run as
   * dynamic nodes, and the chord's body waits for it too and receives its
   * output after the declared members' outputs. Answers `"added"`, or
   * `"ended"` when the run has failed (nothing is added); a lost lease or a
   * cancelled run aborts the attempt as `progress` does.
   *
   * @throws InvalidCanvas when this node is not a chord header member, or
   *   the canvas does not compile (InvalidInput for a bad bound input).
   * @throws StoreUnavailable when the store cannot be reached.
   */
  readonly addToChord: (canvas: Canvas<unknown, unknown>) => Promise<"added" | "ended">;
}

/**
 * A handler function for task `T`: it returns the output, or `replace(canvas)`
 * whose canvas produces that output (Celery's `Task.replace`).
 */
export type HandlerFn<T extends AnyTask> = (
  input: InputOf<T>,
  ctx: TaskContext,
) =>
  | Promise<OutputOf<T> | Replacement<OutputOf<T>>>
  | OutputOf<T>
  | Replacement<OutputOf<T>>
  | Effect.Effect<OutputOf<T> | Replacement<OutputOf<T>>, unknown, never>;

/**
 * Where a worker thread finds a handler (`handle`'s third argument), for a
 * task with `isolate: "thread"` (docs/concepts.md, "Time limits"): the URL
 * of the module that exports it (`import.meta.url` of the module calling
 * `handle`) and the name of its export, a list of bound handlers or one
 * (default `"handlers"`). The thread imports that module, so it must only
 * declare tasks and handlers (no worker started at import).
 */
export interface HandlerModule {
  readonly module: string;
  readonly export?: string;
}

/** A handler bound to its task. */
export interface BoundHandler {
  readonly task: AnyTask;
  readonly run: (input: unknown, ctx: TaskContext) => Promise<unknown>;
  /** Where a worker thread imports it from (see {@link HandlerModule}). */
  readonly thread?: HandlerModule;
  /** The function `run` calls, when the handler was bound by `handle` (see {@link handlerFn}). */
  readonly [handlerFn]?: (input: unknown, ctx: TaskContext) => unknown;
}

/**
 * Binds a handler to a task declaration. With `where` (see
 * {@link HandlerModule}), a task declared with `isolate: "thread"` runs in a
 * worker thread that imports the handler from that module.
 *
 * @throws InvalidWorkerOptions at once when `task` is not a task declared
 *   with `task(...)` or `fn` is not a function (a JavaScript caller gets no
 *   type check; the worker would fail every attempt of the task instead).
 *
 * @example
 * export const handlers = [handle(add, async ({ a, b }) => a + b)]
 */
export const handle = <T extends AnyTask>(
  task: T,
  fn: HandlerFn<T>,
  where?: HandlerModule,
): BoundHandler => {
  const name = (task as { name?: unknown } | null | undefined)?.name;
  if (typeof task !== "object" || task === null || typeof name !== "string")
    throw new InvalidWorkerOptions({
      reason: `handle(task, fn) takes a task declared with task(...) first, got ${described(task)}`,
    });
  if (typeof fn !== "function")
    throw new InvalidWorkerOptions({
      reason: `handle(${name}, fn): fn must be the handler function, got ${described(fn)}`,
    });
  return bound(task, fn, where);
};

const bound = <T extends AnyTask>(
  task: T,
  fn: HandlerFn<T>,
  where: HandlerModule | undefined,
): BoundHandler => ({
  task,
  ...(where === undefined ? {} : { thread: where }),
  [handlerFn]: fn as (input: unknown, ctx: TaskContext) => unknown,
  run: (input, ctx) => {
    let out: unknown;
    try {
      out = fn(input as InputOf<T>, ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    return settled(out, ctx);
  },
});
