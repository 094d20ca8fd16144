/**
 * Weft's errors: tagged data (Effect's `Data.TaggedError`), each with an
 * explicit `retryable` notion (Temporal's `nonRetryable` failures). Messages
 * say what was wrong, with the offending value, and what to do.
 *
 * @since 0.1.0
 */
import { Data } from "effect";

/**
 * A serialisable description of an error, as recorded on a failed node and
 * shown by `weft inspect`.
 */
export interface ErrorInfo {
  /** The error's tag or class name (`"TypeError"`, `"NonRetryable"`, ...). */
  readonly tag: string;
  readonly message: string;
  readonly stack?: string;
  /** `false` when retrying cannot help; the node then fails at once. */
  readonly retryable: boolean;
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

/**
 * Thrown by a handler to stop retries at once, whatever the retry policy
 * says (Celery's `Reject(requeue=False)`, Temporal's non-retryable failure).
 *
 * @example
 * throw new NonRetryableError("account is closed");
 */
export class NonRetryableError extends Error {
  override readonly name = "NonRetryableError";
}

/**
 * Thrown by a handler to be retried after a specific delay instead of the
 * policy's backoff (Celery's `self.retry(countdown=...)`). The attempt still
 * counts: when none are left, the node fails with this error. A negative
 * delay retries at once; a delay that is not a finite number (`NaN`,
 * `Infinity`, e.g. from a header that did not parse) is ignored: the policy's
 * backoff applies and the worker logs a warning.
 *
 * @example
 * throw new RetryAfter("rate limited by the API", 30_000)
 */
export class RetryAfter extends Error {
  override readonly name = "RetryAfter";
  constructor(
    message: string,
    /** Delay before the next attempt, ms. */
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** `ctx.lock` (or a task's `lock`) could not be taken within its wait; retryable. */
export class LockTimeout extends Error {
  override readonly name = "LockTimeout";
}

/** A lock held by this attempt expired or was taken by another owner; the attempt is aborted. */
export class LockLost extends Error {
  override readonly name = "LockLost";
}

/**
 * A submitted input (or a bound partial input) is refused: it does not match
 * the task's input schema (every failing field is listed, each with its
 * path), it is not plain data, it nests deeper than the limit or it contains
 * a cycle (see docs/concepts.md#limits).
 */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  readonly task: string;
  /**
   * What is wrong and where: the schema's issues, one per line with its
   * path (`Expected string\n  at ["user"]["email"]`), or
   * `nested deeper than 256 levels at ...`, `contains a cycle at ...`.
   */
  readonly detail: string;
}> {
  override get message() {
    return `input of task "${this.task}" is invalid: ${this.detail}`;
  }
}

/**
 * A value a worker was about to record is not plain data, nests too deeply
 * or contains a cycle (see `Codec.encode`, docs/concepts.md#limits).
 * Retrying cannot help: the node fails at once.
 */
export class InvalidOutput extends Data.TaggedError("InvalidOutput")<{
  /** The task whose result it is, when known. */
  readonly task?: string | undefined;
  /** What is wrong and where, e.g. `holds a function at ["format"]`. */
  readonly detail: string;
}> {
  /** Read by `toErrorInfo`: the node fails without retrying. */
  readonly retryable = false;
  override get message() {
    return this.task === undefined
      ? `output cannot be recorded: ${this.detail}`
      : `output of task "${this.task}" cannot be recorded: ${this.detail}`;
  }
}

/** A canvas that cannot be compiled (empty group, too large, a signature with no input, ...). */
export class InvalidCanvas extends Data.TaggedError("InvalidCanvas")<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid canvas: ${this.reason}`;
  }
}

/**
 * `startWorker` was given an option out of range (`retryDefaults` with a
 * field a task's `retry` option would refuse); the message names the field,
 * the value and what is allowed.
 */
export class InvalidWorkerOptions extends Data.TaggedError("InvalidWorkerOptions")<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid worker options: ${this.reason}`;
  }
}

/**
 * `ctx.progress` (a store's `progress`) was given something that is not
 * progress: see `checkProgress` for what is allowed. Nothing is recorded;
 * the message names the field and the value.
 */
export class InvalidProgress extends Data.TaggedError("InvalidProgress")<{
  readonly reason: string;
}> {
  override get message() {
    return `invalid progress: ${this.reason}`;
  }
}

/** The run id given does not exist (or has expired after its retention). */
export class RunNotFound extends Data.TaggedError("RunNotFound")<{ readonly runId: string }> {
  override get message() {
    return `run ${this.runId} not found (unknown id, or expired after its retention)`;
  }
}

/** A submission named a run id that already exists. */
export class DuplicateRun extends Data.TaggedError("DuplicateRun")<{ readonly runId: string }> {
  override get message() {
    return `run id ${this.runId} already exists; pick a new id, or use an idempotency key to get the existing run back`;
  }
}

/**
 * A submission reused an idempotency key whose run was submitted with a
 * different canvas or input (another fingerprint): returning that run would
 * hand this caller another submission's data, so nothing is written.
 */
export class IdempotencyConflict extends Data.TaggedError("IdempotencyConflict")<{
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
export class CorruptRecord extends Data.TaggedError("CorruptRecord")<{
  /** The store key that holds the record (a Redis key, or `memory:run:<id>`), when known. */
  readonly key?: string | undefined;
  /** The field of that key (`n3`, `s3`, `d3`, `queues`, `status`, ...), when known. */
  readonly field?: string | undefined;
  /** Why it cannot be read. */
  readonly reason: string;
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
  fatal("CorruptRecord", corruptRecordMessage(key, field, reason));

/**
 * `result()` could not decode a node's recorded result with the canvas it
 * was given: the run's stored node names a task that canvas does not have
 * (or two tasks share its name), or the bytes do not match the task's
 * output schema. Nothing is guessed.
 */
export class ResultUndecodable extends Data.TaggedError("ResultUndecodable")<{
  readonly runId: string;
  readonly nodeId: number;
  readonly reason: string;
}> {
  override get message() {
    return `result of node ${this.nodeId} of run ${this.runId} cannot be decoded: ${this.reason}`;
  }
}

/** `result({ timeout })` elapsed before the run ended. */
export class ResultTimeout extends Data.TaggedError("ResultTimeout")<{
  readonly runId: string;
  readonly timeoutMs: number;
}> {
  override get message() {
    return `run ${this.runId} did not end within ${this.timeoutMs} ms`;
  }
}

/** The run ended `failed` or `cancelled`; `error` is the failure that ended it. */
export class RunFailed extends Data.TaggedError("RunFailed")<{
  readonly runId: string;
  readonly status: string;
  readonly error?: ErrorInfo | undefined;
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
 * `tls` (the TLS handshake failed: an unknown CA, a name mismatch) or
 * `unavailable` (connected, but not serving: LOADING, CLUSTERDOWN, READONLY).
 */
export type StoreFailure = "unreachable" | "auth" | "permission" | "tls" | "unavailable";

/**
 * The store (Redis) cannot serve a call; whether the call took effect is
 * unknown, and the call may be repeated once the store is back. The message
 * says what happened (`authentication failed at the store at ...`, `cannot
 * reach the store at ...`) and names the URL with any password masked;
 * `cause` is the underlying error, sanitised by the store: no command
 * arguments, no credentials. Raised by every store method and by
 * `RedisStore.connect`.
 */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
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
      default:
        return `cannot reach the store at ${this.url}: ${this.reason}`;
    }
  }
}

/**
 * Turns anything a handler threw (an `Error`, a string, `undefined`, an
 * object) into an {@link ErrorInfo}. Never throws.
 */
export const toErrorInfo = (thrown: unknown): ErrorInfo => {
  if (thrown instanceof NonRetryableError) {
    return {
      tag: "NonRetryableError",
      message: thrown.message,
      ...stackOf(thrown),
      retryable: false,
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
    tag: "NonErrorThrown",
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

/** Builds a non-retryable {@link ErrorInfo} (unknown task, bad input, corrupt record). */
export const fatal = (tag: string, message: string): ErrorInfo => ({
  tag,
  message,
  retryable: false,
});
