/**
 * Weft's errors: one catalogue of tags ({@link ErrorTag}, documented in
 * docs/errors.md), tagged error classes for what Weft raises (Effect's
 * `Data.TaggedError`, each with an explicit `retryable` notion where it can
 * end an attempt), and one family a handler throws to say how its failure
 * is handled ({@link TaskFailure}, after Temporal's `ApplicationFailure`).
 * Messages say what was wrong, with the offending value, and what to do;
 * an error that wraps another keeps it as `cause`.
 */
import { Data } from "effect";

/**
 * Every tag a Weft error carries: the `tag` of an {@link ErrorInfo}
 * recorded on a node or a run, and the `_tag` (and `name`) of an error Weft
 * throws. A handler's own errors add their own tags (an `Error`'s `name`, a
 * {@link TaskFailure}'s `tag`). Lua scripts write some of these as string
 * literals; a test holds them to this catalogue. Each tag has a section in
 * docs/errors.md: what it means, who raises it, whether it is retried, and
 * what to do.
 */
export const ErrorTag = {
  // ---- recorded on a node: how an attempt ended (the worker) ----
  /**
   * A handler threw a {@link TaskFailure} without a tag of its own.
   * Retryable unless it says `nonRetryable`.
   */
  TaskFailure: "TaskFailure",
  /** A handler threw a {@link NonRetryableError}: the node fails at once. Not retryable. */
  NonRetryableError: "NonRetryableError",
  /**
   * A handler threw a {@link RetryAfter}: retried after the delay it asks
   * for (the attempt counts). Retryable.
   */
  RetryAfter: "RetryAfter",
  /** A handler threw something that is not an `Error` (a string, an object). Retryable. */
  NonErrorThrown: "NonErrorThrown",
  /** The attempt ran past the task's `timeoutMs`; its signal was aborted. Retryable. */
  Timeout: "Timeout",
  /**
   * The attempt's lease was lost (it expired and the node was re-delivered):
   * the attempt is aborted and its report refused. Retryable.
   */
  LeaseLost: "LeaseLost",
  /** The worker stopped past its grace period: the attempt is aborted and the node released. Retryable. */
  WorkerStopping: "WorkerStopping",
  /** The run was cancelled: the attempt is aborted, or its node ends cancelled. Not retryable. */
  Cancelled: "Cancelled",
  /** `ctx.lock` (or the task's `lock`) stayed held by another owner for its `waitMs`. Retryable. */
  LockTimeout: "LockTimeout",
  /** A lock held by the attempt expired or was taken by another owner; the attempt is aborted. Retryable. */
  LockLost: "LockLost",
  /** The node's input does not match the task's input schema (on the worker, or at submit). Not retryable. */
  InvalidInput: "InvalidInput",
  /** The handler's result does not match the output schema, or is not plain data. Not retryable. */
  InvalidOutput: "InvalidOutput",
  /** A stored record could not be read: it fails its node and its run only. Not retryable. */
  CorruptRecord: "CorruptRecord",
  /** No handler for the node's task on this worker (the worker parks such nodes instead). Not retryable. */
  UnknownTask: "UnknownTask",
  // ---- recorded on a node by the store ----
  /** The node's lease expired more than `maxStalls` times: its workers died or stopped heartbeating. Not retryable. */
  Stalled: "Stalled",
  /** The node never ran: an upstream node did not succeed, or the run ended first. Not retryable. */
  Skipped: "Skipped",
  /**
   * The node was not started by its deadline (the signature's `expiresAt` /
   * `expiresInMs`, or the run's): it ends `expired`, its dependents are
   * skipped and its run fails, unless it sits in a settled group. Not retryable.
   */
  Expired: "Expired",
  /** A result that should be recorded is not (a dependency with neither a result nor an error). Not retryable. */
  Missing: "Missing",
  // ---- thrown to callers ----
  /** A canvas, a task declaration or a signature's options are refused (before anything is written). */
  InvalidCanvas: "InvalidCanvas",
  /** `startWorker` was given an option out of range, or handlers that are not a list of `handle(task, fn)`, one per task. */
  InvalidWorkerOptions: "InvalidWorkerOptions",
  /** `createClient`, `startWorker`, `startBeat` or `createDashboard` was given something that is not a store. */
  InvalidStore: "InvalidStore",
  /** `submit` was given an option out of range (a negative `delayMs`, an `at` that is not a time, ...). */
  InvalidSubmitOptions: "InvalidSubmitOptions",
  /** `ctx.progress` was given something that is not progress; nothing is recorded. */
  InvalidProgress: "InvalidProgress",
  /** `result()` was given a `timeout` that is not a number of ms ≥ 0, or a `waitForQuiet` that is not a boolean. */
  InvalidWaitOptions: "InvalidWaitOptions",
  /** The run does not exist, or has expired after its retention. */
  RunNotFound: "RunNotFound",
  /** The `after` given to read events is not a cursor of this store. */
  InvalidEventCursor: "InvalidEventCursor",
  /** A submission named a run id that exists with another canvas or input. */
  DuplicateRun: "DuplicateRun",
  /** A submission reused an idempotency key whose run has another canvas or input. */
  IdempotencyConflict: "IdempotencyConflict",
  /** A submission did not complete (its run was discarded, or its idempotency key kept moving); submit again. */
  SubmitInterrupted: "SubmitInterrupted",
  /** `result()` could not decode a node's result with the canvas it was given. */
  ResultUndecodable: "ResultUndecodable",
  /** `result({ timeout })` elapsed before the run ended. */
  ResultTimeout: "ResultTimeout",
  /** The run ended failed or cancelled (`result()`). */
  RunFailed: "RunFailed",
  /** A schedule is refused (before anything is stored); the message names the field. */
  InvalidSchedule: "InvalidSchedule",
  /** No schedule has that id. */
  ScheduleNotFound: "ScheduleNotFound",
  /** The store (Redis) cannot serve a call; repeat it once the store is back. */
  StoreUnavailable: "StoreUnavailable",
  /** `@weft/redis`: a connection URL or option is refused before connecting. */
  InvalidConnectionOptions: "InvalidConnectionOptions",
  /** `@weft/redis`: a script answered a reply its definition does not allow (a bug: the Lua and the TypeScript disagree). */
  UnexpectedReply: "UnexpectedReply",
  /** `@weft/cli`: the worker's handlers module cannot be loaded or exports no handlers. */
  HandlersModuleError: "HandlersModuleError",
  /** `@weft/testing`: a simulated run cannot progress. */
  SimulationStuck: "SimulationStuck",
  /** `@weft/testing`: a simulated run did not end within its virtual time limit. */
  SimulationTimeout: "SimulationTimeout",
  /** `@weft/testing`: the store driver saw a store break a guarantee. */
  ContractViolation: "ContractViolation",
} as const;

/** A tag of the catalogue. */
export type ErrorTag = (typeof ErrorTag)[keyof typeof ErrorTag];

/**
 * A serialisable description of an error, as recorded on a failed node (and
 * its attempt history) and shown by `weft inspect`.
 */
export interface ErrorInfo {
  /**
   * What kind of failure: an {@link ErrorTag}, a {@link TaskFailure}'s tag,
   * or the name of what a handler threw (`"TypeError"`). Matched by a retry
   * policy's `retryOn` / `nonRetryable`.
   */
  readonly tag: string;
  readonly message: string;
  readonly stack?: string;
  /** `false` when retrying cannot help; the node then fails at once. */
  readonly retryable: boolean;
  /**
   * The failure's structured data, plain data (Celery's exception args): a
   * declared error encoded by its task's schema (decode it with `failureOf`),
   * a `TaskFailure`'s `data`, or the plain-data fields of another thrown
   * error. Absent when there are none (see docs/errors.md, "Typed errors").
   */
  readonly data?: unknown;
}

/**
 * A value, or the error in its place: Weft's one value-or-error shape. A
 * settled group hands its next step one per member (`Settled<T,
 * MemberError>`), a claim carries one per dependency (`DepResult`), and the
 * argument rule reads one per node (`Settled<unknown>`).
 */
export type Settled<T, E = ErrorInfo> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

/** How a {@link TaskFailure} is handled. Durations are ms. */
export interface TaskFailureOptions {
  /**
   * The tag recorded on the node, matched by the retry policy's `retryOn`
   * and `nonRetryable` (Temporal's failure `type`). Default `"TaskFailure"`.
   */
  readonly tag?: string;
  /** `true`: the node fails at once, whatever the policy says. Default `false`. */
  readonly nonRetryable?: boolean;
  /**
   * Retry after this delay instead of the policy's backoff (the attempt still
   * counts; when none are left the node fails). A negative delay retries at
   * once; one that is not a finite number (`NaN`, `Infinity`: a header that
   * did not parse) is ignored, the policy's backoff applies and the worker
   * logs a warning.
   */
  readonly retryAfterMs?: number;
  /**
   * Structured data about the failure (plain data, at most
   * `MAX_ERROR_DATA_BYTES` encoded), recorded on the node as `ErrorInfo.data`.
   */
  readonly data?: unknown;
  /** The error that caused this one, kept as `cause`. */
  readonly cause?: unknown;
}

/**
 * What a handler throws to say how its failure is handled: its tag, whether
 * to retry at all, and after what delay (Temporal's `ApplicationFailure`:
 * `type`, `nonRetryable`, `nextRetryDelay`). Any other `Error` is recorded
 * with its `name` as tag and retried under the policy.
 *
 * @example
 * throw new TaskFailure("card declined", { tag: "CardDeclined", nonRetryable: true, data: { code } })
 * throw new TaskFailure("rate limited", { retryAfterMs: 30_000, cause: e })
 */
export class TaskFailure extends Error {
  override readonly name: string = ErrorTag.TaskFailure;
  /** The tag recorded on the node. */
  readonly tag: string;
  readonly nonRetryable: boolean;
  /** The delay asked for before the next attempt, ms, when one is. */
  readonly retryAfterMs?: number;
  readonly data?: unknown;

  constructor(message: string, opts: TaskFailureOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.tag = opts.tag ?? ErrorTag.TaskFailure;
    this.nonRetryable = opts.nonRetryable ?? false;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (opts.data !== undefined) this.data = opts.data;
  }
}

/**
 * A {@link TaskFailure} that stops retries at once, whatever the retry
 * policy says (Celery's `Reject(requeue=False)`, Temporal's non-retryable
 * failure). Its tag is `NonRetryableError` unless given.
 *
 * @example
 * throw new NonRetryableError("account is closed");
 */
export class NonRetryableError extends TaskFailure {
  override readonly name = ErrorTag.NonRetryableError;
  constructor(
    message: string,
    opts: Omit<TaskFailureOptions, "nonRetryable" | "retryAfterMs"> = {},
  ) {
    super(message, { tag: ErrorTag.NonRetryableError, ...opts, nonRetryable: true });
  }
}

/**
 * A {@link TaskFailure} retried after a specific delay instead of the
 * policy's backoff (Celery's `self.retry(countdown=...)`); see
 * {@link TaskFailureOptions.retryAfterMs} for negative and non-finite
 * delays. Its tag is `RetryAfter` unless given.
 *
 * @example
 * throw new RetryAfter("rate limited by the API", 30_000)
 */
export class RetryAfter extends TaskFailure {
  override readonly name = ErrorTag.RetryAfter;
  constructor(
    message: string,
    /** Delay before the next attempt, ms. */
    readonly delayMs: number,
    opts: Omit<TaskFailureOptions, "nonRetryable" | "retryAfterMs"> = {},
  ) {
    super(message, { tag: ErrorTag.RetryAfter, ...opts, retryAfterMs: delayMs });
  }
}

/** The attempt ran past its task's `timeoutMs`: the reason its `ctx.signal` aborts. Retryable. */
export class Timeout extends Data.TaggedError(ErrorTag.Timeout)<{ readonly timeoutMs: number }> {
  override get message() {
    return `attempt timed out after ${this.timeoutMs} ms`;
  }
}

/**
 * The attempt's lease was lost (it expired and the node was re-delivered to
 * another worker): the reason its `ctx.signal` aborts; nothing it returns is
 * recorded. Retryable.
 */
export class LeaseLost extends Data.TaggedError(ErrorTag.LeaseLost)<{}> {
  readonly retryable = true;
  override get message() {
    return "lease lost: the node was re-delivered to another worker";
  }
}

/** The run was cancelled: the reason a running attempt's `ctx.signal` aborts. Not retryable. */
export class Cancelled extends Data.TaggedError(ErrorTag.Cancelled)<{}> {
  readonly retryable = false;
  override get message() {
    return "run cancelled";
  }
}

/**
 * The worker stopped and its grace period ended: the reason a running
 * attempt's `ctx.signal` aborts; the node is released for re-delivery.
 */
export class WorkerStopping extends Data.TaggedError(ErrorTag.WorkerStopping)<{}> {
  readonly retryable = true;
  override get message() {
    return "worker stopping";
  }
}

/** `ctx.lock` (or a task's `lock`) could not be taken within its `waitMs`. Retryable. */
export class LockTimeout extends Data.TaggedError(ErrorTag.LockTimeout)<{
  /** The lock's name. */
  readonly lock: string;
  readonly waitMs: number;
}> {
  override get message() {
    return `lock "${this.lock}" stayed held by another owner for ${this.waitMs} ms`;
  }
}

/**
 * A lock held by this attempt expired or was taken by another owner: the
 * reason the attempt's `ctx.signal` aborts. Retryable.
 */
export class LockLost extends Data.TaggedError(ErrorTag.LockLost)<{
  /** The lock's name. */
  readonly lock: string;
  /** The fencing token the attempt held. */
  readonly token: number;
}> {
  override get message() {
    return `lock "${this.lock}" (token ${this.token}) was lost: it expired or another owner took it`;
  }
}

/**
 * A submitted input (or a bound partial input) is refused: it does not match
 * the task's input schema (every failing field is listed, each with its
 * path), it is not plain data, it nests deeper than the limit or it contains
 * a cycle (see docs/concepts.md#limits). Thrown by `submit` (nothing is
 * written); on a worker, an input that fails its schema fails the node with
 * this error, at once.
 */
export class InvalidInput extends Data.TaggedError(ErrorTag.InvalidInput)<{
  readonly task: string;
  /**
   * What is wrong and where: the schema's issues, one per line with its
   * path (`Expected string\n  at ["user"]["email"]`), or
   * `nested deeper than 256 levels at ...`, `contains a cycle at ...`.
   */
  readonly detail: string;
}> {
  /** Read by `toErrorInfo`: the node fails without retrying. */
  readonly retryable = false;
  override get message() {
    return `input of task "${this.task}" is invalid: ${this.detail}`;
  }
}

/**
 * A value a worker was about to record is not plain data, nests too deeply
 * or contains a cycle (see `Codec.encode`, docs/concepts.md#limits).
 * Retrying cannot help: the node fails at once.
 */
export class InvalidOutput extends Data.TaggedError(ErrorTag.InvalidOutput)<{
  /** The task whose result it is, when known. */
  readonly task?: string | undefined;
  /** What is wrong and where, e.g. `holds a function at ["format"]`. */
  readonly detail: string;
  /** The encoder's own error, when one was thrown. */
  readonly cause?: unknown;
}> {
  /** Read by `toErrorInfo`: the node fails without retrying. */
  readonly retryable = false;
  override get message() {
    return this.task === undefined
      ? `output cannot be recorded: ${this.detail}`
      : `output of task "${this.task}" cannot be recorded: ${this.detail}`;
  }
}

/** A canvas that cannot be compiled (no task to run, too large, a signature with no input, ...). */
export class InvalidCanvas extends Data.TaggedError(ErrorTag.InvalidCanvas)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid canvas: ${this.reason}`;
  }
}

/**
 * A schedule was refused before anything was stored (see docs/schedules.md):
 * `field` names the bad field (`cron`, `timezone`, `everyMs`, `target.task`,
 * `overlap`, ...), `reason` says what is allowed.
 */
export class InvalidSchedule extends Data.TaggedError(ErrorTag.InvalidSchedule)<{
  readonly id: string;
  readonly field: string;
  readonly reason: string;
}> {
  override get message() {
    return `invalid schedule ${JSON.stringify(this.id)}: ${this.field} ${this.reason}`;
  }
}

/** No schedule has id `id` (`weft schedules pause|resume|remove|trigger`). */
export class ScheduleNotFound extends Data.TaggedError(ErrorTag.ScheduleNotFound)<{
  readonly id: string;
}> {
  override get message() {
    return `no schedule ${JSON.stringify(this.id)}; list them with weft schedules list`;
  }
}

/**
 * `startWorker` was given an option out of range (`retryDefaults` with a
 * field a task's `retry` option would refuse), or `handlers` that are not
 * an array of handlers made with `handle(task, fn)`, one per task name (a
 * task passed itself, two handlers of one task); the message names the
 * option, the value or the entry's index, and what is allowed.
 */
export class InvalidWorkerOptions extends Data.TaggedError(ErrorTag.InvalidWorkerOptions)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid worker options: ${this.reason}`;
  }
}

/**
 * `createClient`, `startWorker`, `startBeat` or `createDashboard` was given
 * something that is not a store: most often the Promise of
 * `RedisStore.connect(url)` without its `await`, or an options object
 * (`{ store }`) where the store itself is asked for. Raised at once, before
 * anything runs; the message names what was given.
 */
export class InvalidStore extends Data.TaggedError(ErrorTag.InvalidStore)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid store: ${this.reason}`;
  }
}

/**
 * `submit` was given an option out of range (`delayMs`, `at`, `expiresAt`,
 * `expiresInMs`); nothing is written. The message names the option, the
 * value and what is allowed.
 */
export class InvalidSubmitOptions extends Data.TaggedError(ErrorTag.InvalidSubmitOptions)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid submit options: ${this.reason}`;
  }
}

/**
 * The error recorded on a node that was not started by `expiresAt` (epoch
 * ms): tag `Expired`, not retryable.
 */
export const expiredInfo = (expiresAt: number): ErrorInfo => ({
  tag: ErrorTag.Expired,
  message: `not started by its deadline, expiresAt ${expiresAt} (epoch ms)`,
  retryable: false,
});

/**
 * `ctx.progress` (a store's `progress`) was given something that is not
 * progress: see `checkProgress` for what is allowed. Nothing is recorded;
 * the message names the field and the value.
 */
export class InvalidProgress extends Data.TaggedError(ErrorTag.InvalidProgress)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid progress: ${this.reason}`;
  }
}

/** The run id given does not exist (or has expired after its retention). */
export class RunNotFound extends Data.TaggedError(ErrorTag.RunNotFound)<{
  readonly runId: string;
}> {
  override get message() {
    return `run ${this.runId} not found (unknown id, or expired after its retention)`;
  }
}

/**
 * `result()` was given a `timeout` that is not a number of ms ≥ 0 (a
 * string from an environment variable, `NaN`), or a `waitForQuiet` that is
 * not a boolean: it would wait forever. Nothing is waited for.
 */
export class InvalidWaitOptions extends Data.TaggedError(ErrorTag.InvalidWaitOptions)<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid wait options: ${this.reason}`;
  }
}

/**
 * The `after` given to read events (`store.readEvents`, `client.events`) is
 * not a cursor of this store (docs/events.md).
 */
export class InvalidEventCursor extends Data.TaggedError(ErrorTag.InvalidEventCursor)<{
  readonly cursor: string;
  readonly reason: string;
}> {
  override get message() {
    return `after: ${JSON.stringify(this.cursor)} is not an event cursor of this store (${this.reason}); pass an event's id or a batch's cursor, "now", or nothing to read from the oldest event kept`;
  }
}

/** A submission named a run id that already exists. */
export class DuplicateRun extends Data.TaggedError(ErrorTag.DuplicateRun)<{
  readonly runId: string;
}> {
  override get message() {
    return `run id ${this.runId} already exists; pick a new id, or use an idempotency key to get the existing run back`;
  }
}

/**
 * A submission reused an idempotency key whose run was submitted with a
 * different canvas or input (another fingerprint): returning that run would
 * hand this caller another submission's data, so nothing is written.
 */
export class IdempotencyConflict extends Data.TaggedError(ErrorTag.IdempotencyConflict)<{
  readonly key: string;
  /** The run the key already names. */
  readonly runId: string;
}> {
  override get message() {
    return `idempotency key ${JSON.stringify(this.key)} already names run ${this.runId}, submitted with a different canvas or input; use a new key for a different submission, or read that run with client.get(${JSON.stringify(this.runId)})`;
  }
}

/**
 * A stored record (a node record, a node spec, a dependency list, a run
 * record field, a value) could not be decoded: not msgpack, or msgpack that
 * does not decode to plain data (an extension type such as a timestamp, a
 * `Set` or a `BigInt`; see `Codec.decode`). As an {@link ErrorInfo} (tag
 * `CorruptRecord`, see {@link corruptRecordInfo}) it fails that node and its
 * run only; `client.get` and `weft inspect` show it. Retrying cannot help.
 */
export class CorruptRecord extends Data.TaggedError(ErrorTag.CorruptRecord)<{
  /** The store key that holds the record (a Redis key, or `memory:run:<id>`), when known. */
  readonly key?: string | undefined;
  /** The field of that key (`n3`, `s3`, `d3`, `queues`, `status`, ...), when known. */
  readonly field?: string | undefined;
  /** Why it cannot be read. */
  readonly reason: string;
  /** The decoder's own error, when one was thrown. */
  readonly cause?: unknown;
}> {
  /** Read by `toErrorInfo`: the node fails without retrying. */
  readonly retryable = false;
  override get message() {
    return this.key === undefined
      ? `corrupt record: ${this.reason}`
      : corruptRecordMessage(this.key, this.field ?? "?", this.reason);
  }
}

/** The message of a {@link CorruptRecord}; the Lua scripts write the same text. */
export const corruptRecordMessage = (key: string, field: string, reason: string): string =>
  `corrupt record: key ${key} field ${field}: ${reason}`;

/** The non-retryable {@link ErrorInfo} a corrupt record leaves on its node and run. */
export const corruptRecordInfo = (key: string, field: string, reason: string): ErrorInfo =>
  fatal(ErrorTag.CorruptRecord, corruptRecordMessage(key, field, reason));

/**
 * A result that should be recorded is not: a node in a plain (not settled)
 * position of a run's output, or of a node's argument, did not succeed.
 * Stores never deliver such a node and never end such a run `succeeded`,
 * so this means the store's records disagree with each other: the worker
 * records it as a `CorruptRecord`, `result()` as a `ResultUndecodable`.
 */
export class MissingResult extends Data.TaggedError(ErrorTag.Missing)<{
  readonly nodeId: number;
  /** Why that node has no result: its own error. */
  readonly error: ErrorInfo;
}> {
  readonly retryable = false;
  override get message() {
    return `node ${this.nodeId} has no result: ${this.error.tag}: ${this.error.message}`;
  }
}

/**
 * The {@link ErrorInfo} (tag `Missing`) handed in place of a dependency's
 * result when the store holds neither a result nor an error for it;
 * `detail` says which node and in what state, when known.
 */
export const missingResultInfo = (detail?: string): ErrorInfo =>
  fatal(ErrorTag.Missing, detail === undefined ? "no result" : `no result: ${detail}`);

/**
 * A submission did not complete and wrote nothing that stays: its run was
 * discarded while it was being written (it was abandoned), or its
 * idempotency key kept moving to other runs. Submit again: the same call
 * (the same run id, canvas and input) is safe to repeat.
 */
export class SubmitInterrupted extends Data.TaggedError(ErrorTag.SubmitInterrupted)<{
  readonly runId: string;
  /** What interrupted it. */
  readonly reason: string;
}> {
  override get message() {
    return `the submission of run ${this.runId} was interrupted: ${this.reason}; submit it again`;
  }
}

/**
 * `result()` could not decode a node's recorded result with the canvas it
 * was given: the run's stored node names a task that canvas does not have
 * (or two tasks share its name), or the bytes do not match the task's
 * output schema. Nothing is guessed.
 */
export class ResultUndecodable extends Data.TaggedError(ErrorTag.ResultUndecodable)<{
  readonly runId: string;
  readonly nodeId: number;
  readonly reason: string;
}> {
  override get message() {
    return `result of node ${this.nodeId} of run ${this.runId} cannot be decoded: ${this.reason}`;
  }
}

/** `result({ timeout })` elapsed before the run ended. */
export class ResultTimeout extends Data.TaggedError(ErrorTag.ResultTimeout)<{
  readonly runId: string;
  readonly timeoutMs: number;
}> {
  override get message() {
    return `run ${this.runId} did not end within ${this.timeoutMs} ms`;
  }
}

/** The run ended `failed` or `cancelled`; `error` is the failure that ended it. */
export class RunFailed extends Data.TaggedError(ErrorTag.RunFailed)<{
  readonly runId: string;
  readonly status: string;
  readonly error?: ErrorInfo | undefined;
  /** The node whose failure ended the run, when one did. */
  readonly nodeId?: number | undefined;
  /**
   * The failing node's error decoded by the schema its task declares for it
   * (`task({ errors })`): an instance of a `Schema.TaggedError` class, or a
   * tagged struct. Absent when the task declares no error with that tag, or
   * the client was not given the task (reattached by id without it). Type it
   * with `failureOf(task, e)`.
   */
  readonly failure?: unknown;
}> {
  override get message() {
    const why = this.error ? `: ${this.error.tag}: ${this.error.message}` : "";
    return `run ${this.runId} ended ${this.status}${why}`;
  }
}

/**
 * Why a store cannot serve a call: `unreachable` (no connection: refused,
 * timed out, closed, host not found), `auth` (the credentials were refused:
 * NOAUTH, WRONGPASS), `permission` (the user may not run a command: NOPERM),
 * `tls` (the TLS handshake failed: an unknown CA, a name mismatch),
 * `unavailable` (connected, but not serving: LOADING, CLUSTERDOWN, READONLY)
 * or `closed` (this store was closed, `store.close()`: it will not come back).
 */
export type StoreFailure = "unreachable" | "auth" | "permission" | "tls" | "unavailable" | "closed";

/**
 * The store (Redis) cannot serve a call; whether the call took effect is
 * unknown, and the call may be repeated once the store is back. The message
 * says what happened (`authentication failed at the store at ...`, `cannot
 * reach the store at ...`) and names the URL with any password masked;
 * `cause` is the underlying error, sanitised by the store: no command
 * arguments, no credentials. Raised by every store method and by
 * `RedisStore.connect`.
 */
export class StoreUnavailable extends Data.TaggedError(ErrorTag.StoreUnavailable)<{
  /** The store's URL, password masked. */
  readonly url: string;
  /** What happened, one line, no secrets: `"connection refused (ECONNREFUSED)"`. */
  readonly reason: string;
  /** Which kind of failure; `unreachable` when not given. */
  readonly failure?: StoreFailure;
  /** The underlying error, sanitised. */
  readonly cause?: unknown;
}> {
  override get message() {
    switch (this.failure ?? "unreachable") {
      case "auth":
        return `authentication failed at the store at ${this.url}: ${this.reason} (check the user name and password)`;
      case "permission":
        return `the store at ${this.url} refused a command to this user: ${this.reason} (grant the user the commands Weft runs, see docs/operations.md)`;
      case "tls":
        return `TLS handshake with the store at ${this.url} failed: ${this.reason}`;
      case "unavailable":
        return `the store at ${this.url} is not serving: ${this.reason}`;
      case "closed":
        return `the store at ${this.url} is closed: ${this.reason}`;
      default:
        return `cannot reach the store at ${this.url}: ${this.reason}`;
    }
  }
}

/**
 * Turns anything a handler threw (an `Error`, a string, `undefined`, an
 * object) into an {@link ErrorInfo}: a {@link TaskFailure} gives its tag
 * and is retryable unless `nonRetryable`; a tagged error its `_tag` and its
 * `retryable` flag (default retryable); another `Error` its `name`,
 * retryable; anything else is a retryable `NonErrorThrown`. Never throws.
 */
export const toErrorInfo = (thrown: unknown): ErrorInfo => {
  if (thrown instanceof TaskFailure) {
    return {
      tag: thrown.tag,
      message: thrown.message,
      ...stackOf(thrown),
      retryable: !thrown.nonRetryable,
    };
  }
  if (thrown instanceof Error) {
    const tagged = (thrown as { _tag?: unknown })._tag;
    const tag = typeof tagged === "string" ? tagged : thrown.name || "Error";
    const flag = (thrown as { retryable?: unknown }).retryable;
    return {
      tag,
      message: thrown.message,
      ...stackOf(thrown),
      retryable: typeof flag === "boolean" ? flag : true,
    };
  }
  return {
    tag: ErrorTag.NonErrorThrown,
    message: `handler threw a non-Error value: ${describe(thrown)}`,
    retryable: true,
  };
};

const stackOf = (e: Error): { stack?: string } => (e.stack ? { stack: e.stack } : {});

const describe = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json.slice(0, 200);
  } catch {
    return Object.prototype.toString.call(value);
  }
};

/** A non-retryable {@link ErrorInfo} with a tag of the catalogue (unknown task, bad input, corrupt record, ...). */
export const fatal = (tag: ErrorTag, message: string): ErrorInfo => ({
  tag,
  message,
  retryable: false,
});
