/**
 * @weft/core — what an application uses: declare tasks, compose them into a
 * canvas (chain, group, chord), submit runs with a client and read their
 * typed results, run handlers in a worker, and the errors, retry policy and
 * run records these speak in.
 *
 * The split rule (docs/packaging.md): a name is exported here when an
 * application writes it: to declare or handle tasks, compose or submit
 * canvases, run workers, catch errors, or read what `Client.get`/`status`
 * return. What only a store, a test kit or a tool needs (the Store contract's
 * request and reply shapes, the state machine, the codec, the DAG compiler,
 * the fingerprint, the attempt runner) is exported from `@weft/core/store`.
 * Modules not reached from either entry point are private (package.json maps
 * no other subpath, and `./internal/*` to null). Add a new export to exactly
 * one of the two lists, by that rule; `Store` is the one name in both (an
 * application holds a store; an implementer implements it).
 */

export { Schema } from "effect";
export {
  type Beat,
  type BeatOptions,
  type BeatStore,
  type FiredTick,
  startBeat,
  triggerSchedule,
  upsertSchedule,
} from "./Beat.ts";
export {
  type AnyCanvas,
  type Canvas,
  type ConcurrencyKey,
  chain,
  chord,
  chunks,
  type ErrorSchema,
  FailureRecord,
  type Group,
  group,
  type InOf,
  type Linkable,
  MAX_TIMER_MS,
  type MemberError,
  type OutOf,
  type Signature,
  type TaskOptions,
  type TaskRef,
  type ValidChain,
} from "./Canvas.ts";
export {
  type Client,
  createClient,
  type RunHandle,
  type RunProgress,
  type SubmitByNameOptions,
  type SubmitOptions,
} from "./Client.ts";
export { type Clock, liveClock } from "./Clock.ts";
export {
  Cancelled,
  CorruptRecord,
  DuplicateRun,
  type ErrorInfo,
  ErrorTag,
  IdempotencyConflict,
  InvalidCanvas,
  InvalidEventCursor,
  InvalidInput,
  InvalidOutput,
  InvalidProgress,
  InvalidSchedule,
  InvalidStore,
  InvalidSubmitOptions,
  InvalidWaitOptions,
  InvalidWorkerOptions,
  LeaseLost,
  LockLost,
  LockTimeout,
  MissingResult,
  NonRetryableError,
  ResultTimeout,
  ResultUndecodable,
  RetryAfter,
  RunFailed,
  RunNotFound,
  ScheduleNotFound,
  type Settled,
  type StoreFailure,
  StoreUnavailable,
  SubmitInterrupted,
  TaskFailure,
  type TaskFailureOptions,
  Timeout,
  WorkerStopping,
} from "./Errors.ts";
export type { EventsOptions } from "./EventStream.ts";
export {
  EVENT_KINDS,
  type EventKind,
  endsRun,
  type LeaseExpiredEvent,
  NODE_TRANSITION_KINDS,
  type NodeProgressEvent,
  type NodesAddedEvent,
  type NodeTransitionEvent,
  type NodeTransitionKind,
  type RunEvent,
  type WeftEvent,
} from "./Events.ts";
export {
  type BoundHandler,
  type HandlerFn,
  type HandlerModule,
  handle,
  type TaskContext,
} from "./Handler.ts";
export { MAX_HEADERS_BYTES, type RunHeaders } from "./Headers.ts";
export type { AttemptEnd, AttemptInfo, NodeFailure, WorkerHooks } from "./Hooks.ts";
export type { HeldLock, LockOptions } from "./Locks.ts";
export {
  type AttemptOutcome,
  type AttemptRecord,
  attemptHistory,
  type NodeRecord,
  type NodeState,
  type Progress,
  type RunRecord,
  type RunStatus,
  TERMINAL_NODE_STATES,
  TERMINAL_RUN_STATUSES,
} from "./Machine.ts";
export { map } from "./Map.ts";
export { RedriveRefused, type RedriveRequest } from "./Redrive.ts";
export { type Replacement, replace } from "./Replace.ts";
export {
  type Backoff,
  celeryPolicy,
  defaultRetryPolicy,
  delay,
  type Jitter,
  type RetryPolicy,
} from "./Retry.ts";
export {
  DEFAULT_CATCHUP_WINDOW_MS,
  DEFAULT_SCHEDULE_RETENTION_MS,
  nextFireAt,
  nextTick,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  type Schedule,
  type ScheduleInput,
  type ScheduleRecord,
  type ScheduleState,
  type ScheduleTarget,
} from "./Schedule.ts";
export { SoftTimeLimitExceeded } from "./SoftTimeout.ts";
export type { IdempotencyReuse, RateLimit, RunOutput, RunSnapshot, Store } from "./Store.ts";
export {
  type AnyTask,
  type InputOf,
  type OutputOf,
  type Task,
  type TaskBehaviour,
  task,
} from "./Task.ts";
export { type ErrorOf, failureOf, MAX_ERROR_DATA_BYTES } from "./TaskErrors.ts";
export type { TaskSchema, TaskSchemaOf } from "./TaskSchema.ts";
export {
  type ResultError,
  type SubmitError,
  WeftClient,
  type WeftClientShape,
  type WeftRunHandle,
} from "./WeftClient.ts";
export { WeftStore } from "./WeftStore.ts";
export {
  type EffectHandler,
  handleEffect,
  type ScopedHandler,
  type ScopedWorkerOptions,
  type ServicesOf,
  startWorkerScoped,
  WeftWorker,
} from "./WeftWorker.ts";
export { startWorker, stopOnSignals, type Worker, type WorkerOptions } from "./Worker.ts";
