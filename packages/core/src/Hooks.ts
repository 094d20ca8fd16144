/**
 * Worker hooks (docs/operations.md, "Worker hooks"): code a worker calls
 * around each attempt, the way Celery's signals (`task_prerun`,
 * `task_postrun`, `task_failure`) and Temporal's activity interceptors let
 * an application report errors (Sentry), measure attempts, or carry a
 * context (a trace, a request id) into handlers. A hook never changes how
 * an attempt ends: one that throws or rejects is logged and ignored.
 */
import type { ErrorInfo } from "./Errors.ts";

/** One attempt, as a hook sees it. */
export interface AttemptInfo {
  readonly runId: string;
  readonly nodeId: number;
  readonly task: string;
  /** 1-based attempt number (stalled attempts included). */
  readonly attempt: number;
  /** The worker running it. */
  readonly workerId: string;
  /**
   * The ids of the nodes this one depends on (its DAG node's `deps`: a
   * chain's previous step, a chord's header members), whose results it
   * gets; empty for a root. Tracing links an attempt's span to theirs.
   */
  readonly deps: ReadonlyArray<number>;
  /**
   * In the order of `deps`: the trace span id (16 hex digits) that each
   * dependency's succeeded attempt recorded with its result
   * ({@link WorkerHooks.attemptSpan}), `""` for one that recorded none.
   * Absent when none did (tracing off where they ran).
   */
  readonly depSpans?: ReadonlyArray<string>;
}

/** How an attempt ended, for {@link WorkerHooks.onAttemptEnd}. */
export interface AttemptEnd extends AttemptInfo {
  /** `succeeded`, or `failed` (then `error` says why and `retry` whether another attempt is scheduled). */
  readonly outcome: "succeeded" | "failed";
  /** How long the attempt ran, ms (input decoding to output encoding). */
  readonly durationMs: number;
  /** The node's input as the handler got it (decoded by the task's schema); absent when it could not be formed. */
  readonly input?: unknown;
  readonly error?: ErrorInfo;
  /** On a failure: true when the store will run another attempt after a backoff. */
  readonly retry: boolean;
}

/** A node that failed for good, for {@link WorkerHooks.onNodeFailed}: its last attempt. */
export interface NodeFailure extends AttemptInfo {
  readonly error: ErrorInfo;
  /** The node's input as its last attempt got it, when it could be formed. */
  readonly input?: unknown;
  /** How long the last attempt ran, ms. */
  readonly durationMs: number;
}

/**
 * Hooks a worker calls (`startWorker({ hooks })`). Each may be async; the
 * worker does not wait for `onAttemptStart`, `onAttemptEnd` or
 * `onNodeFailed` (they never delay the next attempt), and a hook that throws
 * or rejects is logged at `warn` and never fails the attempt.
 */
export interface WorkerHooks {
  /** Before an attempt's input is formed and its handler runs. */
  readonly onAttemptStart?: (attempt: AttemptInfo) => void | Promise<void>;
  /** After an attempt, once its outcome and whether it is retried are known (before it is reported). */
  readonly onAttemptEnd?: (end: AttemptEnd) => void | Promise<void>;
  /**
   * After this worker's report failed a node for good (no retry left, or a
   * non-retryable error) and the store recorded it; not for a `Cancelled`
   * error, nor for a node the store fails itself (stalled out, a corrupt
   * record): the `failed` event (docs/events.md) covers those.
   */
  readonly onNodeFailed?: (failure: NodeFailure) => void | Promise<void>;
  /**
   * Wraps each handler call (Temporal's inbound interceptor): call `run()`
   * once, inside whatever context the handler should see (an
   * AsyncLocalStorage, an OpenTelemetry span), and return what it returns.
   * The attempt ends with what the handler did, whatever the wrapper
   * returns; a wrapper that throws or never calls `run()` is logged, and the
   * handler is run without it.
   */
  readonly wrapHandler?: (attempt: AttemptInfo, run: () => Promise<unknown>) => Promise<unknown>;
  /**
   * The trace span id (16 lower-case hex digits) of a succeeded attempt,
   * asked after its handler returned and before `onAttemptEnd`: the worker
   * records it with the result, in the same store call (a field of the
   * result's `HSET` on Redis), and dependents' attempts get it in
   * `AttemptInfo.depSpans`. `undefined`, anything that is not a span id, or
   * a throw (logged) records nothing. Tracing hooks answer it; without them
   * nothing is stored.
   */
  readonly attemptSpan?: (attempt: AttemptInfo) => string | undefined;
}
