/**
 * One attempt of a node: from a claim and the handler bound to its task, it
 * forms the input (dependency results decoded, the argument rule applied,
 * the input schema decoded), builds the handler's `TaskContext`, arms the
 * task's timeout, returns a memo recorded under the task's result key
 * instead of running the handler, holds the task's lock, runs the handler
 * until it ends or the attempt is aborted, encodes the output, records it
 * under the result key, and turns whatever went wrong into an `ErrorInfo`.
 * It never reports to the store: the caller completes or fails the claim.
 *
 * The worker runs every attempt through {@link runAttempt}, and so does the
 * testing kit (`checkIdempotent`), so a handler under test sees the context
 * a worker gives it (Temporal's `Activity`, reused by its
 * `MockActivityEnvironment`).
 */
import type { Logger } from "pino";
import { inputOf, shapeValue } from "./Args.ts";
import { AttemptAbort } from "./AttemptAbort.ts";
import type { CanvasNode, FailureRecord } from "./Canvas.ts";
import type { Clock } from "./Clock.ts";
import { decode, encode } from "./Codec.ts";
import { compile, type Dag, type FailureSource, flatten, type Shape } from "./Dag.ts";
import {
  type ErrorInfo,
  ErrorTag,
  fatal,
  InvalidInput,
  InvalidOutput,
  type Settled,
  TaskFailure,
  Timeout,
  toErrorInfo,
} from "./Errors.ts";
import type { BoundHandler, TaskContext } from "./Handler.ts";
import { handlerFn, isPlainOutput, settled } from "./HandlerOutput.ts";
import { decodeHeaders, type RunHeaders } from "./Headers.ts";
import { attemptInfo, wrapCall } from "./HookCalls.ts";
import type { WorkerHooks } from "./Hooks.ts";
import { leaseEndReason } from "./Leases.ts";
import { acquireLock, type HeldLock } from "./Locks.ts";
import { policyOf } from "./Policy.ts";
import { isReplacement } from "./Replace.ts";
import type { RetryPolicy } from "./Retry.ts";
import { SoftTimeLimitExceeded } from "./SoftTimeout.ts";
import type { Claim, Store } from "./Store.ts";
import { decodeWith, encodeWith } from "./Task.ts";
import { failureInfo } from "./TaskErrors.ts";
import { runInThread } from "./Thread.ts";

/** How long a result recorded under a result key is reused when the task does not say, ms (24 h). */
const DEFAULT_RESULT_TTL_MS = 86_400_000;

/** What an attempt needs from whoever runs it. */
export interface AttemptEnv {
  /** The store of the claim: progress, locks and memos go through it. */
  readonly store: Store;
  readonly clock: Clock;
  /** The worker's id; with the claim it names the owner of the attempt's locks. */
  readonly workerId: string;
  /**
   * The attempt's logger (`ctx.log`), built on first use (a child logger
   * costs a few µs). Called as a method of the env (`env.log()`).
   */
  log(): Logger;
  /** Wraps the handler call (the worker's `hooks.wrapHandler`). */
  readonly wrapHandler?: WorkerHooks["wrapHandler"];
  /** The worker's retry defaults, under the node's own policy: they give `ctx.attemptsLeft`. */
  readonly retryDefaults?: Partial<RetryPolicy> | undefined;
}

/**
 * How an attempt ended: the encoded result to record, or the failure to
 * report, with the delay (ms) a `TaskFailure` asked for before the next
 * attempt, when it asked for a usable one.
 */
export type AttemptResult = (
  | { readonly ok: true; readonly value: Uint8Array }
  /** The handler returned `replace(canvas)`: the canvas, compiled (ids from 0). */
  | { readonly ok: true; readonly replace: Dag }
  | { readonly ok: false; readonly error: ErrorInfo; readonly retryAfterMs?: number }
) & {
  /** The input the handler got (decoded by the task's schema), once it could be formed. */
  readonly input?: unknown;
};

const failWith = (tag: ErrorTag, message: string): AttemptResult => ({
  ok: false,
  error: fatal(tag, message),
});

/**
 * Runs one attempt of `claim` with `handler` (see the module's description).
 * Aborting `abort` (a lost lease, a cancelled run, a stopping worker) ends
 * the attempt at once with the abort's reason as its error; the handler sees
 * it on `ctx.signal`. A worker passes an `AttemptAbort` (its signal is made
 * only if the handler reads it); any `AbortController` works too. Never throws: every failure is an {@link AttemptResult}.
 * When `ctx.progress` answers that the lease is lost or the run cancelled,
 * the attempt is aborted as a heartbeat would. Locks the attempt took are
 * unlocked before it resolves.
 *
 * @example
 * const result = await runAttempt(claim, handle(add, async ({ a, b }) => a + b), env, new AbortController())
 * if (result.ok) await store.complete(claim, result.value, opts)
 */
export const runAttempt = (
  claim: Claim,
  handler: BoundHandler,
  env: AttemptEnv,
  abort: AbortController | AttemptAbort,
): Promise<AttemptResult> => {
  try {
    const result = attemptNow(claim, handler, env, abort);
    return result instanceof Promise ? result : Promise.resolve(result);
  } catch (e) {
    // (a handler object not made by `handle` may break the attempt: a rejection, as ever)
    return Promise.reject(e);
  }
};

/**
 * {@link runAttempt}, whose result is given at once when the attempt ended
 * without waiting: its input could not be formed, or the handler (bound by
 * `handle`, without a time limit, result key, lock, thread or
 * `wrapHandler`) returned or threw at once. The worker's attempts go this
 * way: a handler that returns at once costs no promise and no async frame
 * (docs/benchmarks.md, "What costs time"). Never throws for a handler bound
 * by `handle`; a handler object made by hand that lacks its task's
 * declaration (`options`, `behaviour`) makes it throw a `TypeError`.
 */
export const attemptNow = (
  claim: Claim,
  handler: BoundHandler,
  env: AttemptEnv,
  abort: AbortController | AttemptAbort,
): AttemptResult | Promise<AttemptResult> => {
  const task = claim.spec.task;
  if (handler.task.name !== task)
    return failWith(
      ErrorTag.UnknownTask,
      `no handler for task "${task}" (the handler given is for "${handler.task.name}")`,
    );
  if (claim.spec.replacedBy !== undefined) return gather(claim, claim.spec.replacedBy);
  const formed = inputFor(claim, handler);
  if (!formed.ok) return { ok: false, error: formed.error };
  // every result from here on carries the input the handler got
  const input = formed.value;
  const timeoutMs = timeoutOf(claim, handler);
  let headers: RunHeaders;
  try {
    headers = decodeHeaders(claim.headers);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return failWith(ErrorTag.CorruptRecord, `cannot read the run's headers: ${why}`);
  }
  const softTimeoutMs = claim.spec.options.softTimeoutMs ?? handler.task.options.softTimeoutMs;
  const soft = softTimeoutMs === undefined ? undefined : new AbortController();
  const ctx = new AttemptContext(claim, handler, env, abort, soft?.signal ?? NEVER, headers);
  const behaviour = handler.task.behaviour;
  const isolate = claim.spec.options.isolate ?? handler.task.options.isolate;
  const fn = handler[handlerFn];
  if (
    fn === undefined ||
    timeoutMs !== undefined ||
    soft !== undefined ||
    behaviour.resultKey !== undefined ||
    behaviour.lock !== undefined ||
    isolate === "thread" ||
    env.wrapHandler !== undefined
  )
    return attempted(claim, handler, env, abort, input, ctx, timeoutMs, soft, undefined);
  let out: unknown;
  try {
    out = fn(input, ctx);
  } catch (e) {
    // an abort while the handler ran ends the attempt with its reason, as the race would
    return {
      ...attemptFailure(handler, isAborted(abort) ? reasonOf(abort) : e, () => env.log()),
      input,
    };
  }
  if (!isPlainOutput(out))
    return attempted(
      claim,
      handler,
      env,
      abort,
      input,
      ctx,
      undefined,
      undefined,
      settled(out, ctx),
    );
  if (isAborted(abort))
    return { ...attemptFailure(handler, reasonOf(abort), () => env.log()), input };
  try {
    return ended(handler, out, input);
  } catch (e) {
    return { ...attemptFailure(handler, e, () => env.log()), input };
  }
};

/**
 * The rest of an attempt that waits: its time limits armed, its memo read,
 * its lock taken, its handler run (or `running`, the handler's output it
 * returned as a promise or an Effect), its output recorded under its result
 * key; its timers ended and its locks unlocked at the end.
 */
const attempted = async (
  claim: Claim,
  handler: BoundHandler,
  env: AttemptEnv,
  abort: AbortController | AttemptAbort,
  input: unknown,
  ctx: AttemptContext,
  timeoutMs: number | undefined,
  soft: AbortController | undefined,
  running: Promise<unknown> | undefined,
): Promise<AttemptResult> => {
  const task = claim.spec.task;
  const softTimeoutMs = claim.spec.options.softTimeoutMs ?? handler.task.options.softTimeoutMs;
  // ends the time limits' timers; made only when one is armed (an abort event costs µs)
  const finished =
    timeoutMs === undefined && soft === undefined ? undefined : new AbortController();
  if (timeoutMs !== undefined) ctx.deadline = env.clock.now() + timeoutMs;
  const behaviour = handler.task.behaviour;
  try {
    if (soft !== undefined && softTimeoutMs !== undefined && finished !== undefined)
      armSoftTimeout(env.clock, softTimeoutMs, soft, finished.signal);
    if (timeoutMs !== undefined && finished !== undefined)
      armTimeout(env.clock, timeoutMs, abort, finished.signal);
    // (`running` is given only when the task has no result key and no lock: `attemptNow`)
    const resultKey = behaviour.resultKey?.(input);
    if (resultKey !== undefined) {
      const memo = await env.store.getMemo({ task, key: resultKey, now: env.clock.now() });
      // an earlier execution with this key recorded it
      if (memo) return { ok: true, value: memo, input };
    }
    if (behaviour.lock) {
      const lock = behaviour.lock;
      const name = typeof lock.name === "string" ? lock.name : lock.name(input);
      await untilAborted(ctx.lock(name, lock), abort);
    }
    const isolate = claim.spec.options.isolate ?? handler.task.options.isolate;
    const thread = handler.thread;
    if (isolate === "thread" && thread === undefined)
      return {
        ok: false,
        error: {
          tag: "InvalidHandler",
          message: `task "${task}" runs with isolate: "thread", but its handler does not name its module: bind it with handle(task, fn, { module: import.meta.url })`,
          retryable: false,
        },
        input,
      };
    // no closure here: one would put this function's variables in a context made per attempt
    const run =
      running ??
      (env.wrapHandler === undefined
        ? callHandler(handler, input, ctx, env, isolate === "thread")
        : wrappedCall(env.wrapHandler, claim, handler, input, ctx, env, isolate === "thread"));
    const out = await untilAborted(run, abort);
    const result = ended(handler, out, input);
    if (!result.ok || "replace" in result || resultKey === undefined) return result;
    const ttlMs = behaviour.resultTtlMs ?? DEFAULT_RESULT_TTL_MS;
    await env.store.putMemo({
      task,
      key: resultKey,
      result: result.value,
      ttlMs,
      now: env.clock.now(),
    });
    return result;
  } catch (e) {
    return { ...attemptFailure(handler, e, () => env.log()), input };
  } finally {
    finished?.abort("done");
    const locks = ctx.heldLocks;
    if (locks.length > 0) await Promise.all(locks.map((l) => l.unlock().catch(() => undefined)));
  }
};

/**
 * What a handler's output makes of the attempt: a replacement canvas,
 * compiled where the handler ran (a bad one fails this attempt, as submit
 * refuses it), or the output encoded.
 *
 * @throws InvalidCanvas, InvalidInput when a replacement canvas does not compile.
 */
const ended = (handler: BoundHandler, out: unknown, input: unknown): AttemptResult => {
  if (isReplacement(out)) return { ok: true, replace: compileReplacement(out.canvas.node), input };
  const bytes = outputOf(handler, out);
  return bytes.ok
    ? { ok: true, value: bytes.value, input }
    : { ok: false, error: toErrorInfo(bytes.error), input };
};

/**
 * The node's input: its dependencies' results decoded, shaped by its
 * argument rule over its bound input, then decoded by the task's input
 * schema. Results that cannot be read are a `CorruptRecord`; an input that
 * fails the schema an `InvalidInput` (both not retryable).
 */
const inputFor = (claim: Claim, handler: BoundHandler): Settled<unknown> => {
  let input: unknown;
  try {
    const { arg, bind, bound, failure } = claim.spec;
    const inOrder = resultsInOrder(claim);
    if (inOrder !== undefined) input = inputOf(bind, bound, inOrder);
    else {
      // a root (most nodes of many small runs) has no results to decode
      let results = NO_RESULTS;
      if (claim.deps.length > 0) {
        const decoded = new Map<number, Settled<unknown>>();
        for (let i = 0; i < claim.deps.length; i++) {
          const d = claim.deps[i]!;
          decoded.set(claim.spec.deps[i]!, d.ok ? { ok: true, value: decode(d.value) } : d);
        }
        results = decoded;
      }
      const upstream =
        failure !== undefined && bind.kind !== "immutable"
          ? failureRecord(claim.runId, failure, outcomeIn(results))
          : arg === null
            ? undefined
            : shapeValue(arg, outcomeIn(results));
      input = inputOf(bind, bound, upstream);
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      error: fatal(ErrorTag.CorruptRecord, `cannot read this node's upstream results: ${why}`),
    };
  }
  return decodedInput(claim, handler, input);
};

/** `input` decoded by the task's input schema; an input that fails it is an `InvalidInput` (not retryable). */
const decodedInput = (claim: Claim, handler: BoundHandler, input: unknown): Settled<unknown> => {
  const decoded = decodeWith(handler.task.input, input);
  return decoded.ok
    ? decoded
    : {
        ok: false,
        error: toErrorInfo(new InvalidInput({ task: claim.spec.task, detail: decoded.detail })),
      };
};

/**
 * The node's upstream value when it is the list of its dependencies'
 * results in the order of its dependencies, each of which succeeded (a
 * chord's body, a step after a group): their results decoded, without the
 * table by node id and the walk of the shape that {@link inputFor} makes in
 * general (a 100,000-wide chord's body formed its input in about half the
 * time, docs/benchmarks.md, "a wide canvas compiled in one pass").
 * `undefined` for any other node.
 *
 * @throws CorruptRecord when a result cannot be decoded.
 */
const resultsInOrder = (claim: Claim): unknown[] | undefined => {
  const { arg, deps, failure } = claim.spec;
  const n = claim.deps.length;
  if (failure !== undefined || arg === null || typeof arg === "number" || !("list" in arg))
    return undefined;
  const list = arg.list;
  if (n < 2 || list.length !== n || deps.length !== n) return undefined;
  for (let i = 0; i < n; i++) if (list[i] !== deps[i] || !claim.deps[i]!.ok) return undefined;
  const values: unknown[] = new Array(n);
  for (let i = 0; i < n; i++)
    values[i] = decode((claim.deps[i] as { readonly value: Uint8Array }).value);
  return values;
};

/**
 * Reads the outcome of a dependency from `results`. Made only when the
 * argument rule reads one: a closure in `inputFor` would cost a context
 * for every attempt.
 */
const outcomeIn =
  (results: ReadonlyMap<number, Settled<unknown>>) =>
  (n: number): Settled<unknown> =>
    results.get(n)!;

/** The results of a node without dependencies: never written to. */
const NO_RESULTS: ReadonlyMap<number, Settled<unknown>> = new Map();

/**
 * Compiles a replacement canvas; an empty group (`map` over an empty list)
 * is a replacement with no nodes whose output is `[]`.
 */
const compileReplacement = (node: CanvasNode): Dag =>
  node.kind === "group" && node.members.length === 0
    ? { nodes: [], output: node.settled ? { settled: [] } : { list: [] }, queues: [], tasks: [] }
    : compile({ node });

/**
 * The attempt of a replaced node (`replace`) once its replacement's output
 * nodes succeeded: no handler runs; its result is the replacement's output,
 * gathered from their results by the output shape (already encoded by their
 * tasks' output schemas, which `replace` typed as this task's output).
 */
const gather = (claim: Claim, shape: Shape): AttemptResult => {
  try {
    const results = new Map<number, Settled<unknown>>();
    const ids = flatten(shape);
    claim.deps.forEach((d, i) => {
      results.set(ids[i]!, d.ok ? { ok: true, value: decode(d.value) } : d);
    });
    return { ok: true, value: encode(shapeValue(shape, (n) => results.get(n)!)) };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return failWith(ErrorTag.CorruptRecord, `cannot gather this node's replacement output: ${why}`);
  }
};

/**
 * What an error callback's entry node receives (a `FailureRecord`): the
 * failing node's error, from its outcome, and its input rebuilt by its
 * argument rule from its dependencies' results (the callback's too).
 */
const failureRecord = (
  runId: string,
  f: FailureSource,
  outcome: (n: number) => Settled<unknown>,
): FailureRecord => {
  const o = outcome(f.node);
  if (o.ok) throw new Error(`node ${f.node} succeeded: it has no failure to report`);
  // the failing node may itself be an error callback: its upstream was a failure record too
  const upstream =
    f.failure !== undefined
      ? failureRecord(runId, f.failure, outcome)
      : f.arg === null
        ? undefined
        : shapeValue(f.arg, outcome);
  const { tag, message, stack, retryable, data } = o.error;
  return {
    runId,
    nodeId: f.node,
    task: f.task,
    error: {
      tag,
      message,
      retryable,
      ...(stack === undefined ? {} : { stack }),
      ...(data === undefined ? {} : { data }),
    },
    input: inputOf(f.bind, f.bound, upstream),
  };
};

/**
 * The attempt's timeout, ms: the node's own (persisted at submit), else the
 * worker's declaration of the task (a node submitted by name has no
 * declaration's options), else none.
 */
const timeoutOf = (claim: Claim, handler: BoundHandler): number | undefined =>
  claim.spec.options.timeoutMs ?? handler.task.options.timeoutMs;

/**
 * The context the handler gets (see `TaskContext`). What a handler may
 * never read is made on first read: the signal (`AttemptAbort`), the
 * logger, the idempotency key, the attempts left (the node's merged retry
 * policy) and the bound `progress`, `lock` and `addToChord` functions, so
 * that the context of a handler that ignores it is one object. Those are
 * getters on the prototype: they are read as before, and the functions
 * keep working when taken off the context (`const { progress } = ctx`).
 */
class AttemptContext implements TaskContext {
  readonly runId: string;
  readonly nodeId: number;
  readonly task: string;
  readonly attempt: number;
  readonly rootRunId: string;
  readonly parentNodeIds: ReadonlyArray<number>;
  readonly queue: string;
  readonly priority: number;
  readonly headers: RunHeaders;
  readonly softTimeout: AbortSignal;
  /** Set by the attempt when the task has a timeout; absent otherwise (`"deadline" in ctx` is false). */
  declare deadline?: number;
  /** The locks the handler took (`lock`), unlocked when the attempt ends. */
  readonly heldLocks: HeldLock[] = [];
  // plain private properties, not `#` fields: a context wrapped in a Proxy (a test kit
  // tracing the handler) calls the getters with the proxy as `this`
  private readonly claim: Claim;
  private readonly handler: BoundHandler;
  private readonly env: AttemptEnv;
  private readonly abort: AbortController | AttemptAbort;
  private left: number | undefined;
  private progressFn: TaskContext["progress"] | undefined;
  private addToChordFn: TaskContext["addToChord"] | undefined;
  private lockFn: TaskContext["lock"] | undefined;

  constructor(
    claim: Claim,
    handler: BoundHandler,
    env: AttemptEnv,
    abort: AbortController | AttemptAbort,
    softTimeout: AbortSignal,
    headers: RunHeaders,
  ) {
    this.runId = claim.runId;
    this.nodeId = claim.nodeId;
    this.task = claim.spec.task;
    this.attempt = claim.attempt;
    this.rootRunId = claim.runId;
    this.parentNodeIds = claim.spec.deps;
    this.queue = claim.spec.queue;
    this.priority = claim.spec.priority;
    this.headers = headers;
    this.softTimeout = softTimeout;
    this.claim = claim;
    this.handler = handler;
    this.env = env;
    this.abort = abort;
  }

  get idempotencyKey(): string {
    return `${this.runId}:${this.nodeId}`;
  }

  get attemptsLeft(): number {
    if (this.left === undefined) {
      const claim = this.claim;
      // the worker's declaration fills retry fields the node lacks (a node submitted by name)
      const policy = policyOf(claim.spec, {
        ...this.env.retryDefaults,
        ...this.handler.task.options.retry,
      });
      // stalls do not use up attempts (docs/guarantees.md #6)
      this.left = Math.max(0, policy.maxAttempts - (claim.attempt - claim.stalls));
    }
    return this.left;
  }

  // made on first read (AttemptAbort)
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get log(): Logger {
    return this.env.log();
  }

  get progress(): TaskContext["progress"] {
    this.progressFn ??= async (p) => {
      const state = await this.env.store.progress(this.claim, p);
      if (state !== "held" && !isAborted(this.abort)) this.abort.abort(leaseEndReason(state));
      return state;
    };
    return this.progressFn;
  }

  get addToChord(): TaskContext["addToChord"] {
    this.addToChordFn ??= async (canvas) => {
      const env = this.env;
      const dag = compile(canvas);
      const state = await env.store.addToChord(this.claim, dag, { now: env.clock.now() });
      if (state === "lost" || state === "cancelled") {
        const e = leaseEndReason(state);
        if (!isAborted(this.abort)) this.abort.abort(e);
        throw e;
      }
      return state;
    };
    return this.addToChordFn;
  }

  get lock(): TaskContext["lock"] {
    this.lockFn ??= async (name, lockOpts = {}) => {
      const env = this.env;
      const claim = this.claim;
      const held = await acquireLock(env.store, env.clock, {
        ...lockOpts,
        name,
        owner: `${env.workerId}:${claim.runId}:${claim.nodeId}:${claim.token}`,
        onLost: (e) => this.abort.abort(e),
      });
      this.heldLocks.push(held);
      return held;
    };
    return this.lockFn;
  }
}

/** Calls the handler, in a worker thread when the task is isolated in one (then its handler names its module). */
const callHandler = (
  handler: BoundHandler,
  input: unknown,
  ctx: TaskContext,
  env: AttemptEnv,
  inThread: boolean,
): Promise<unknown> =>
  inThread && handler.thread !== undefined
    ? runInThread({ ...handler, thread: handler.thread }, input, ctx, { logLevel: env.log().level })
    : handler.run(input, ctx);

/** Calls the handler through the worker's `wrapHandler` (see `wrapCall`). */
const wrappedCall = (
  wrap: NonNullable<AttemptEnv["wrapHandler"]>,
  claim: Claim,
  handler: BoundHandler,
  input: unknown,
  ctx: TaskContext,
  env: AttemptEnv,
  inThread: boolean,
): Promise<unknown> =>
  wrapCall(
    wrap,
    attemptInfo(claim, claim.spec.task, env.workerId),
    () => callHandler(handler, input, ctx, env, inThread),
    () => env.log(),
  );

/**
 * Settles as `running` does, unless the attempt is aborted first: then it
 * rejects with the abort's reason (at once if it was aborted already).
 */
const untilAborted = <T>(running: Promise<T>, abort: AbortController | AttemptAbort): Promise<T> =>
  abort instanceof AttemptAbort
    ? abort.race(running)
    : Promise.race([running, rejectOnAbort(abort.signal)]);

/** Whether `abort` was aborted (without making an `AttemptAbort`'s signal). */
const isAborted = (abort: AbortController | AttemptAbort): boolean =>
  abort instanceof AttemptAbort ? abort.aborted : abort.signal.aborted;

/** The reason `abort` was aborted with (without making an `AttemptAbort`'s signal). */
const reasonOf = (abort: AbortController | AttemptAbort): unknown =>
  abort instanceof AttemptAbort ? abort.reason : abort.signal.reason;

/** A promise that rejects with the signal's reason once it aborts (at once if it has). */
const rejectOnAbort = (signal: AbortSignal): Promise<never> => {
  const p = new Promise<never>((_, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  p.catch(() => undefined); // raced, or left unawaited when the attempt ends first
  return p;
};

/** A signal that never aborts: `ctx.softTimeout` of a task without a soft time limit. */
const NEVER: AbortSignal = new AbortController().signal;

/** Aborts `soft` (`ctx.softTimeout`) after `softTimeoutMs` on `clock`, unless the attempt finished first. */
const armSoftTimeout = (
  clock: Clock,
  softTimeoutMs: number,
  soft: AbortController,
  finished: AbortSignal,
): void => {
  void clock.sleep(softTimeoutMs, finished).then(() => {
    if (!finished.aborted) soft.abort(new SoftTimeLimitExceeded({ softTimeoutMs }));
  });
};

/** Aborts the attempt with a `Timeout` after `timeoutMs` on `clock`, unless it finished first. */
const armTimeout = (
  clock: Clock,
  timeoutMs: number,
  abort: AbortController | AttemptAbort,
  finished: AbortSignal,
): void => {
  void clock.sleep(timeoutMs, finished).then(() => {
    if (!finished.aborted) abort.abort(new Timeout({ timeoutMs }));
  });
};

/**
 * The handler's output encoded by the output schema, then as msgpack; a
 * value the schema refuses, or one it let through that the codec cannot
 * store (not plain data, a cycle, a huge bigint), is an `InvalidOutput`.
 */
const outputOf = (handler: BoundHandler, out: unknown): Settled<Uint8Array, InvalidOutput> => {
  const task = handler.task.name;
  const encoded = encodeWith(handler.task.output, out);
  if (!encoded.ok) {
    const detail = `does not match its output schema: ${encoded.detail} (got ${preview(out)})`;
    return { ok: false, error: new InvalidOutput({ task, detail }) };
  }
  try {
    return { ok: true, value: encode(encoded.value) };
  } catch (e) {
    const detail =
      e instanceof InvalidOutput
        ? e.detail
        : `cannot be encoded: ${e instanceof Error ? e.message : String(e)}`;
    return { ok: false, error: new InvalidOutput({ task, detail, cause: e }) };
  }
};

/**
 * What a handler (or the attempt around it) threw, as a failure to report:
 * its `ErrorInfo` (with its structured data: see `failureInfo`), and the delay a `TaskFailure` asks for. A negative delay
 * is 0 (retry at once); a non-finite one (`NaN`, `Infinity`: a Retry-After
 * header that did not parse) is dropped with a warning, so that the
 * policy's backoff applies.
 */
const attemptFailure = (handler: BoundHandler, e: unknown, log: () => Logger): AttemptResult => {
  // a declared error is encoded by its schema; any other keeps its plain-data fields
  const error = failureInfo(handler.task, e);
  const asked = e instanceof TaskFailure ? e.retryAfterMs : undefined;
  if (asked === undefined) return { ok: false, error };
  if (!Number.isFinite(asked)) {
    log().warn(
      { delayMs: String(asked) },
      "the retry delay a TaskFailure asks for is not a finite number of ms: the retry policy's backoff applies",
    );
    return { ok: false, error };
  }
  return { ok: false, error, retryAfterMs: Math.max(0, asked) };
};

/** A short rendering of a value for a message: JSON, at most 200 characters. */
const preview = (v: unknown): string => {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 200);
  } catch {
    return Object.prototype.toString.call(v);
  }
};
