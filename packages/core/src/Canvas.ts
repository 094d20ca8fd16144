/**
 * The canvas DSL: signatures composed with `chain`, `group` and `chord`
 * (Celery's canvas), typed end to end. A `Canvas<In, Out>` accepts `In` from
 * upstream and produces `Out`; a chain whose step does not accept the
 * previous step's output does not compile.
 *
 * Argument rule (Celery prepends the parent's result to a signature's args;
 * Weft's typed equivalent):
 * - `t.si(input)`: immutable, ignores upstream.
 * - `t.s()`: the upstream output is the whole input.
 * - `t.s(bound)`: `bound` fixes every input field but one; the upstream
 *   output fills that one open field.
 * A group passes its upstream to every member and produces the members'
 * outputs as a tuple in declaration order; a chord is a group whose tuple is
 * the body's upstream.
 */
import { Schema } from "effect";
import { MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { type ErrorInfo, InvalidCanvas, InvalidWorkerOptions, type Settled } from "./Errors.ts";
import type { RetryPolicy } from "./Retry.ts";
import type { EffectCodec, TaskSchema } from "./TaskSchema.ts";

/** What a canvas needs to know of a task: its name, input and output schemas (Effect or Standard Schema) and options. */
export interface TaskRef {
  readonly name: string;
  readonly input: TaskSchema;
  readonly output: TaskSchema;
  readonly options: TaskOptions;
  /** The failures the task declares: tagged Effect Schemas (see `task({ errors })`). */
  readonly errors?: ReadonlyArray<ErrorSchema>;
}

/**
 * A declared failure of a task: an Effect Schema whose values carry a
 * literal `_tag`, a `Schema.TaggedError` class or a `Schema.TaggedStruct`
 * (checked by `task`, which refuses a schema without one).
 */
export type ErrorSchema = EffectCodec;

/**
 * Options of a task, overridable per signature with `.with(...)`. Checked
 * where they are declared (`task`, `.with`) and again at compile: a value
 * out of range is an `InvalidCanvas` naming the task, the option and the
 * allowed range (see {@link checkOptions}).
 */
export interface TaskOptions {
  /** Queue the task's nodes are routed to: 1–128 characters of `[A-Za-z0-9_.:-]`. Default `"default"`. */
  readonly queue?: string;
  /** An integer from 0 (lowest) to 15 (highest); higher-priority ready nodes are claimed first. Default 5. */
  readonly priority?: number;
  /**
   * Per-attempt timeout, ms, from 1 to 2,147,483,647 (about 24.8 days, the
   * longest timer Node keeps): the handler's `AbortSignal` fires at the deadline.
   */
  readonly timeoutMs?: number;
  /**
   * Soft time limit per attempt, ms, from 1 to 2,147,483,647 (Celery's
   * `soft_time_limit`): at it, `ctx.softTimeout` aborts with a
   * `SoftTimeLimitExceeded` reason and the handler may still return a value
   * (it succeeds) or throw (it fails as any throw does); nothing else
   * happens. With `timeoutMs` (the hard limit, Celery's `time_limit`) in
   * the same options, it must be smaller.
   */
  readonly softTimeoutMs?: number;
  /**
   * `"thread"`: each attempt's handler runs in its own `worker_threads`
   * Worker, which the worker terminates at the hard limit (`timeoutMs`), a
   * cancel or a lost lease, so that a CPU-bound handler is stopped (as
   * Celery's prefork pool kills its child). The handler must be bound with
   * `handle(task, fn, { module: import.meta.url })`; its input and output
   * cross to the thread by structured clone, and `ctx.progress` and
   * `ctx.lock` are not available there. Default: in the worker's thread.
   */
  readonly isolate?: "thread";
  /** Retry policy fields; unset fields come from the worker's and Weft's defaults. */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * Holds the node for this many ms after it becomes ready (its dependencies
   * succeeded, or the run started for a root), server-side in its queue's
   * delayed set (Celery's `countdown`, BullMQ's `delay`, applied per node). A
   * finite number ≥ 0. See docs/schedules.md, "Delayed and expiring work".
   */
  readonly delayMs?: number;
  /**
   * The node does not start before this time, epoch ms (Celery's `eta`): a
   * finite number ≥ 0. With `delayMs` too, the later of the two holds.
   */
  readonly notBefore?: number;
  /**
   * The node must start within this many ms of becoming ready, or it ends
   * `expired` (Celery's `expires` in seconds, Temporal's schedule-to-start
   * timeout). A finite number ≥ 1. Counted from when it became ready, not
   * from the end of its `delayMs`.
   */
  readonly expiresInMs?: number;
  /**
   * The node must start before this time, epoch ms, or it ends `expired`: a
   * finite number ≥ 1. With `expiresInMs` too, the earlier of the two holds.
   */
  readonly expiresAt?: number;
  /**
   * At most `limit` nodes of this task are claimed in any window of
   * `intervalMs` ms, across every worker and process sharing the store
   * (BullMQ's global limiter, applied per task; not Celery's per-worker
   * `rate_limit`). Two integers ≥ 1. A node held back waits `queued` (not
   * failed, not retried) in its queue's delayed set until the limit frees.
   * Nodes of one task should carry one limit: each claim applies the limit
   * its own node carries. See docs/schedules.md, "Rate limits".
   */
  readonly rateLimit?: { readonly limit: number; readonly intervalMs: number };
  /**
   * At most `max` nodes with the same concurrency key run at once, across
   * every worker and process sharing the store (Hatchet's concurrency keys).
   * `key` is called once per node when the canvas is compiled (at submit),
   * with the node's bound input: the whole input of `si(input)`, the bound
   * fields of `s({ ...fields })`, `undefined` for `s()` (an input that comes
   * from upstream is not known then); it returns the key, 1–256 characters.
   * `max` is an integer ≥ 1. The persisted node stores `{ key, max }` with
   * the key computed (never the function). A node refused at its start
   * waits `queued` (not failed, not retried) and is tried again shortly.
   * See docs/schedules.md, "Concurrency keys".
   */
  readonly concurrency?: { readonly key: ConcurrencyKey; readonly max: number };
}

/**
 * A concurrency key: a function of a node's bound input (as declared), or
 * the string it returned (as persisted with the node).
 */
export type ConcurrencyKey =
  // method syntax: a key function of a typed input is assignable (bivariant parameter)
  { bivarianceHack(input: never): string }["bivarianceHack"] | string;

/** The longest concurrency key, characters. */
export const MAX_CONCURRENCY_KEY = 256;

/** The longest delay a Node timer keeps, ms (2^31 − 1); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const QUEUE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Whether `q` is a queue name: 1–128 characters of `[A-Za-z0-9_.:-]`. */
export const isQueueName = (q: unknown): q is string => typeof q === "string" && QUEUE.test(q);

/**
 * Checks a task's options (from `task({...})`, `.with({...})`, or both
 * merged at compile). Allowed: `queue` 1–128 characters of `[A-Za-z0-9_.:-]`
 * (the queue name is part of Redis keys and of comma-separated lists);
 * `priority` an integer 0..15; `timeoutMs` a number in 1..2,147,483,647;
 * `retry.maxAttempts` an integer ≥ 1; `retry.maxStalls` an integer ≥ 0;
 * `retry.backoff` `{ kind: "fixed", delayMs ≥ 0 }` or
 * `{ kind: "exponential", baseMs ≥ 0, factor ≥ 1, maxMs ≥ 0 }` (finite);
 * `retry.jitter` `none`, `full` or `equal`; `retry.unitMs` finite ≥ 1;
 * `retry.retryOn` / `retry.nonRetryable` arrays of error tags; `delayMs`
 * and `notBefore` finite ≥ 0, `expiresInMs` and `expiresAt` finite ≥ 1;
 * `rateLimit` `{ limit, intervalMs }`, two integers ≥ 1; `concurrency`
 * `{ key, max }`, `key` a function, `max` an integer ≥ 1. Options are persisted with every node, so they must be
 * plain data (no functions; compile replaces the concurrency key function
 * by the key it returns).
 *
 * @throws InvalidCanvas naming the task, the option, the value and the allowed range.
 */
export const checkOptions = (task: string, options: TaskOptions): void => {
  const refuse: Refuse = (option, value, allowed) => {
    throw new InvalidCanvas({
      reason: `task "${task}": option ${option} must be ${allowed}, got ${show(value)}`,
    });
  };
  if (typeof options !== "object" || options === null) refuse("options", options, "an object");
  // options are persisted with every node: a function or a class instance would not survive
  // (the concurrency key function excepted: compile replaces it by the key it returns)
  const c = (options as { concurrency?: unknown }).concurrency;
  const persisted =
    typeof c === "object" && c !== null && !Array.isArray(c)
      ? { ...options, concurrency: { ...c, key: undefined } }
      : options;
  const problem = valueProblem(persisted, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined)
    throw new InvalidCanvas({ reason: `task "${task}": options must be plain data: ${problem}` });
  const o = options as Record<keyof TaskOptions, unknown>;
  if (o.queue !== undefined && !(typeof o.queue === "string" && QUEUE.test(o.queue)))
    refuse("queue", o.queue, "1–128 characters of [A-Za-z0-9_.:-]");
  if (o.priority !== undefined && !(isInt(o.priority) && o.priority >= 0 && o.priority <= 15))
    refuse("priority", o.priority, "an integer from 0 (lowest) to 15 (highest)");
  if (
    o.timeoutMs !== undefined &&
    !(isNum(o.timeoutMs) && o.timeoutMs >= 1 && o.timeoutMs <= MAX_TIMER_MS)
  )
    refuse("timeoutMs", o.timeoutMs, `a number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days)`);
  if (
    o.softTimeoutMs !== undefined &&
    !(isNum(o.softTimeoutMs) && o.softTimeoutMs >= 1 && o.softTimeoutMs <= MAX_TIMER_MS)
  )
    refuse(
      "softTimeoutMs",
      o.softTimeoutMs,
      `a number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days)`,
    );
  if (
    isNum(o.softTimeoutMs) &&
    isNum(o.timeoutMs) &&
    (o.softTimeoutMs as number) >= (o.timeoutMs as number)
  )
    refuse(
      "softTimeoutMs",
      o.softTimeoutMs,
      `less than timeoutMs (${o.timeoutMs}): the soft limit warns before the hard one fails the attempt`,
    );
  if (o.isolate !== undefined && o.isolate !== "thread")
    refuse("isolate", o.isolate, `"thread" (or absent: the worker's own thread)`);
  if (o.retry !== undefined) checkRetry("retry", o.retry, refuse);
  for (const option of ["delayMs", "notBefore"] as const) {
    const v = o[option];
    if (v !== undefined && !(isNum(v) && v >= 0))
      refuse(option, v, option === "delayMs" ? "a finite number of ms ≥ 0" : "an epoch ms ≥ 0");
  }
  if (o.expiresAt !== undefined && !(isNum(o.expiresAt) && o.expiresAt >= 1))
    refuse("expiresAt", o.expiresAt, "an epoch ms ≥ 1");
  if (o.expiresInMs !== undefined && !(isNum(o.expiresInMs) && o.expiresInMs >= 1))
    refuse("expiresInMs", o.expiresInMs, "a finite number of ms ≥ 1");
  if (o.rateLimit !== undefined) {
    const r = o.rateLimit as Record<string, unknown> | null;
    const ok =
      typeof r === "object" &&
      r !== null &&
      !Array.isArray(r) &&
      Object.keys(r).every((k) => k === "limit" || k === "intervalMs") &&
      isInt(r.limit) &&
      (r.limit as number) >= 1 &&
      isInt(r.intervalMs) &&
      (r.intervalMs as number) >= 1;
    if (!ok) refuse("rateLimit", r, "{ limit, intervalMs } with two integers ≥ 1");
  }
  if (o.concurrency !== undefined) {
    const c = o.concurrency as Record<string, unknown> | null;
    if (
      typeof c !== "object" ||
      c === null ||
      Array.isArray(c) ||
      !Object.keys(c).every((k) => k === "key" || k === "max")
    )
      refuse("concurrency", c, "{ key, max }");
    if (!(isInt(c.max) && (c.max as number) >= 1))
      refuse("concurrency.max", c.max, "an integer ≥ 1");
    if (typeof c.key !== "function")
      refuse("concurrency.key", c.key, "a function of the bound input returning a string");
  }
};

/** Whether `key` is a computed concurrency key: a string of 1–256 characters. */
export const isConcurrencyKey = (key: unknown): key is string =>
  typeof key === "string" && key.length >= 1 && key.length <= MAX_CONCURRENCY_KEY;

/** Raises the error for `option` (its path, e.g. `retry.maxAttempts`) holding `value`, outside `allowed`. */
type Refuse = (option: string, value: unknown, allowed: string) => never;

/** Checks retry policy fields (see {@link checkOptions}), refusing the first bad one as `<at>.<field>`. */
const checkRetry = (at: string, retry: unknown, refuse: Refuse): void => {
  if (typeof retry !== "object" || retry === null || Array.isArray(retry))
    refuse(at, retry, "an object");
  const r = retry as Record<keyof RetryPolicy, unknown>;
  if (r.maxAttempts !== undefined && !(isInt(r.maxAttempts) && r.maxAttempts >= 1))
    refuse(`${at}.maxAttempts`, r.maxAttempts, "an integer ≥ 1 (1 = never retry)");
  if (r.maxStalls !== undefined && !(isInt(r.maxStalls) && r.maxStalls >= 0))
    refuse(`${at}.maxStalls`, r.maxStalls, "an integer ≥ 0");
  if (r.jitter !== undefined && !["none", "full", "equal"].includes(r.jitter as string))
    refuse(`${at}.jitter`, r.jitter, `"none", "full" or "equal"`);
  if (r.unitMs !== undefined && !(isNum(r.unitMs) && r.unitMs >= 1))
    refuse(`${at}.unitMs`, r.unitMs, "a finite number of ms ≥ 1");
  for (const list of ["retryOn", "nonRetryable"] as const) {
    const v = r[list];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === "string")))
      refuse(`${at}.${list}`, v, "an array of error tags (strings)");
  }
  if (r.backoff === undefined) return;
  const b = r.backoff as Record<string, unknown> | null;
  const ms = (field: string) => {
    const v = b?.[field];
    if (!(isNum(v) && v >= 0)) refuse(`${at}.backoff.${field}`, v, "a finite number of ms ≥ 0");
  };
  if (b?.kind === "fixed") ms("delayMs");
  else if (b?.kind === "exponential") {
    ms("baseMs");
    ms("maxMs");
    if (!(isNum(b.factor) && b.factor >= 1))
      refuse(`${at}.backoff.factor`, b.factor, "a finite number ≥ 1");
  } else refuse(`${at}.backoff.kind`, b?.kind, `"fixed" or "exponential"`);
};

/**
 * Checks a worker's `retryDefaults` (`startWorker({ retryDefaults })`): the
 * same fields and ranges as a task's `retry` option (see
 * {@link checkOptions}). `maxStalls` is accepted but does not apply (it is
 * read from the node, fixed at submit).
 *
 * @throws InvalidWorkerOptions naming the field, the value and the allowed range.
 */
export const checkRetryDefaults = (retryDefaults: unknown): void => {
  const refuse: Refuse = (option, value, allowed) => {
    throw new InvalidWorkerOptions({
      reason: `${option} must be ${allowed}, got ${show(value)}`,
    });
  };
  checkRetry("retryDefaults", retryDefaults, refuse);
};

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);

const show = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v == null) return String(v);
  try {
    return JSON.stringify(v)?.slice(0, 100) ?? typeof v;
  } catch {
    return typeof v;
  }
};

/** How a signature's input is formed from its bound input and the upstream value. */
export type Bind =
  | { readonly kind: "immutable" }
  | { readonly kind: "whole" }
  | { readonly kind: "field"; readonly field: string };

/**
 * The binding of every `si(input)` signature, and of every decoded spec
 * that binds nothing: one frozen object for all (a wide group has
 * thousands, a worker decodes a spec per claimed node).
 */
export const BIND_IMMUTABLE: Bind = Object.freeze({ kind: "immutable" });
/** The binding that passes the whole upstream value, one frozen object for all (see {@link BIND_IMMUTABLE}). */
export const BIND_WHOLE: Bind = Object.freeze({ kind: "whole" });

/** The untyped syntax tree of a canvas; `compile` turns it into a DAG. */
export type CanvasNode =
  | {
      readonly kind: "sig";
      readonly task: TaskRef;
      readonly bind: Bind;
      readonly bound: unknown;
      readonly options: TaskOptions;
    }
  | { readonly kind: "chain"; readonly steps: ReadonlyArray<CanvasNode> }
  | {
      readonly kind: "group";
      readonly members: ReadonlyArray<CanvasNode>;
      readonly settled: boolean;
    }
  | {
      readonly kind: "chord";
      readonly header: CanvasNode & { readonly kind: "group" };
      readonly body: CanvasNode;
    }
  | {
      /** `inner` with a callback attached: `.onSuccess(callback)` or `.onError(callback)`. */
      readonly kind: "link";
      readonly on: "success" | "error";
      readonly inner: CanvasNode;
      readonly callback: CanvasNode;
    };

declare const InType: unique symbol;
declare const OutType: unique symbol;

/**
 * A composition accepting `In` from upstream and producing `Out`. `In` is
 * contravariant: a canvas that ignores upstream (`Canvas<unknown, O>`) fits
 * anywhere, and only such a canvas can be submitted.
 */
export interface Canvas<in In, out Out> {
  readonly node: CanvasNode;
  readonly [InType]?: (input: In) => void;
  readonly [OutType]?: () => Out;
}

/** Any canvas. */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for generic constraints
export type AnyCanvas = Canvas<any, any>;
/** What a canvas accepts from upstream. */
export type InOf<C> = C extends Canvas<infer I, infer _O> ? I : never;
/** What a canvas produces. */
export type OutOf<C> = C extends Canvas<infer _I, infer O> ? O : never;

/**
 * What an error callback receives (`.onError(cb)`, Celery's `link_error`):
 * the failure of one node, after its last attempt. `input` is the failing
 * node's input in its encoded form (as its task's input schema encodes it),
 * `error` what its last attempt failed with (or `Expired` for a node that
 * was not started by its deadline), with the failure's structured data in
 * `error.data` (`ErrorInfo.data`): a declared error of the failing task
 * decodes with `failureOf(failingTask, record.error)`. Not the worker hook's `NodeFailure`
 * (one attempt's failure, seen by `onNodeFailed` in the worker).
 *
 * Used as a task's input schema:
 * @example
 * const alert = task({ name: "alert", input: FailureRecord, output: Schema.Void }, async (f) => {
 *   await page(`${f.task} failed in run ${f.runId}: ${f.error.message}`);
 * });
 * chain(fetch.si({ url }), parse.s()).onError(alert.s())
 */
export const FailureRecord = Schema.Struct({
  runId: Schema.String,
  nodeId: Schema.Number,
  task: Schema.String,
  error: Schema.Struct({
    tag: Schema.String,
    message: Schema.String,
    stack: Schema.optionalKey(Schema.String),
    retryable: Schema.Boolean,
    data: Schema.optionalKey(Schema.Unknown),
  }),
  input: Schema.Unknown,
});
/** The failure record an error callback receives: see {@link FailureRecord}. */
export type FailureRecord = typeof FailureRecord.Type;

/**
 * A canvas that callbacks can be attached to: a signature, a chain, a group
 * or a chord (docs/concepts.md, "Callbacks"). A callback is a canvas of its
 * own, compiled into nodes of the same run, marked as callbacks: it runs at
 * most once per event, even after the run has failed (not after it was
 * cancelled), and its own failure never changes the run's status or error.
 */
export interface Linkable<In, Out> extends Canvas<In, Out> {
  /**
   * Runs `callback` once this canvas has succeeded, with its output as the
   * callback's upstream (Celery's `link`). The canvas's output stays its own:
   * the callback is a side branch, not a step of a chain.
   */
  onSuccess(callback: Canvas<Out, unknown>): Linkable<In, Out>;
  /**
   * Runs `callback` once for each task node of this canvas that fails for
   * good (its retries spent), with a {@link FailureRecord} as its upstream
   * (Celery's `link_error`, attached to every task of the canvas).
   */
  onError(callback: Canvas<FailureRecord, unknown>): Linkable<In, Out>;
}

/** A task applied to (part of) its input; options can be overridden. */
export interface Signature<In, Out> extends Linkable<In, Out> {
  /** Overrides the task's options (queue, priority, timeout, retry) for this signature. */
  with(options: TaskOptions): Signature<In, Out>;
}

/**
 * What a settled group hands its next step for a failed member: the first
 * failure's tag, message and structured data (decode a declared error with
 * `failureOf(task, member.error)`).
 */
export type MemberError = Pick<ErrorInfo, "tag" | "message" | "data">;

/** A group: its members' outputs as a tuple in declaration order. */
export interface Group<In, Out extends ReadonlyArray<unknown>> extends Linkable<In, Out> {
  /**
   * Hands the next step each member's `{ ok, value | error }` instead of
   * failing the run when a member fails (docs/guarantees.md #5).
   */
  settled(): Linkable<In, { readonly [K in keyof Out]: Settled<Out[K], MemberError> }>;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (
  x: infer I,
) => void
  ? I
  : never;

type InOfAll<T extends ReadonlyArray<AnyCanvas>> = [T[number]] extends [never]
  ? unknown
  : UnionToIntersection<InOf<T[number]>>;

type OutsOf<T extends ReadonlyArray<AnyCanvas>> = { -readonly [K in keyof T]: OutOf<T[K]> };

type LastOf<T extends ReadonlyArray<unknown>> = T extends readonly [...infer _R, infer L]
  ? L
  : never;

/** Each step after the first must accept the output of the step before it. */
export type ValidChain<T extends ReadonlyArray<AnyCanvas>> = {
  [K in keyof T]: K extends "0"
    ? T[K]
    : K extends `${infer N extends number}`
      ? Canvas<OutOf<T[Prev[N]]>, OutOf<T[K]>>
      : T[K];
};
type Prev = [
  never,
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
  17,
  18,
  19,
  20,
  21,
  22,
  23,
  24,
  25,
  26,
  27,
  28,
  29,
  30,
  31,
];

/**
 * A canvas of syntax tree `node`, with `onSuccess` / `onError` on its prototype: a wide
 * group's members are made by the thousand and live through their submission, and
 * methods made per canvas (closures) cost a canvas several hundred bytes and µs.
 */
class Made<In, Out> implements Linkable<In, Out> {
  constructor(readonly node: CanvasNode) {}
  onSuccess(callback: Canvas<Out, unknown>): Linkable<In, Out> {
    return new Made({ kind: "link", on: "success", inner: this.node, callback: callback.node });
  }
  onError(callback: Canvas<FailureRecord, unknown>): Linkable<In, Out> {
    return new Made({ kind: "link", on: "error", inner: this.node, callback: callback.node });
  }
}

const make = <In, Out>(node: CanvasNode): Linkable<In, Out> => new Made(node);

/** A group's canvas: {@link Made}'s methods and `settled`. */
class MadeGroup<In, Out extends ReadonlyArray<unknown>>
  extends Made<In, Out>
  implements Group<In, Out>
{
  declare readonly node: Extract<CanvasNode, { readonly kind: "group" }>;
  settled(): Linkable<In, { readonly [K in keyof Out]: Settled<Out[K], MemberError> }> {
    return make({ ...this.node, settled: true });
  }
}

/** The syntax tree of a signature. */
type SigNode = Extract<CanvasNode, { readonly kind: "sig" }>;

/** A signature's canvas: {@link Made}'s methods and `with` (see {@link signature}). */
class MadeSignature<In, Out> extends Made<In, Out> implements Signature<In, Out> {
  declare readonly node: SigNode;
  with(o: TaskOptions): Signature<In, Out> {
    const { task, bind, bound, options } = this.node;
    checkOptions(task.name, o);
    const retry =
      options.retry && o.retry ? { retry: { ...options.retry, ...o.retry } } : undefined;
    return signature(task, bind, bound, { ...options, ...o, ...retry });
  }
}

/**
 * Runs steps one after the other; each step receives the previous step's
 * output (Celery's `chain`, the `|` operator). Up to 32 steps are type-checked.
 *
 * @example
 * chain(fetch.si({ url }), parse.s(), store.s({ table: "pages" }))
 */
export function chain<const T extends readonly [AnyCanvas, ...AnyCanvas[]]>(
  ...steps: T & ValidChain<T>
): Linkable<InOf<T[0]>, OutOf<LastOf<T>>> {
  return make({ kind: "chain", steps: steps.map((s) => s.node) });
}

/**
 * Runs members in parallel; each receives the group's upstream; the output
 * is the members' outputs in declaration order (Celery's `group`).
 *
 * `group()` outputs `[]` (Celery's `group([])`). A group nested in a group
 * stays nested (`[a, [b, c]]`; Celery flattens it) and a one-member group
 * gives `[a]` (Celery unrolls it in a chain): see docs/concepts.md, "Nested groups".
 *
 * @example
 * group(resize.si({ w: 100 }), resize.si({ w: 200 })) // Canvas<unknown, [Img, Img]>
 */
export function group<const T extends ReadonlyArray<AnyCanvas>>(
  ...members: T
): Group<InOfAll<T>, OutsOf<T>> {
  return new MadeGroup({ kind: "group", members: members.map((m) => m.node), settled: false });
}

/**
 * Splits `items` into chunks of `n` (the last one may be shorter) and runs
 * one node of `task` per chunk, all in parallel, each receiving its chunk
 * (a list of items) as its whole input; the output is each chunk's output,
 * in order. Celery's `t.chunks(items, n)` runs a starmap of `t` inside each
 * chunk's task; in Weft the task itself takes the list.
 *
 * @example
 * const total = task({ name: "total", input: Schema.Array(Schema.Int), output: Schema.Int });
 * chunks(total, [1, 2, 3, 4, 5], 2) // three nodes; outputs [3, 7, 5]
 * @throws InvalidCanvas when `n` is not an integer ≥ 1 or `items` is not an
 *   array. An empty `items` gives `[]`: an empty group, so a chord over it
 *   calls its body with `[]` (a canvas with no task at all is refused at compile).
 */
export function chunks<I, O>(
  task: { readonly name: string; si(input: ReadonlyArray<I>): Canvas<unknown, O> },
  items: ReadonlyArray<I>,
  n: number,
): Group<unknown, O[]> {
  if (!(Number.isInteger(n) && n >= 1))
    throw new InvalidCanvas({
      reason: `chunks(${task.name}, items, n): n must be an integer ≥ 1, got ${show(n)}`,
    });
  if (!Array.isArray(items))
    throw new InvalidCanvas({
      reason: `chunks(${task.name}, items, n): items must be an array, got ${show(items)}`,
    });
  const members: AnyCanvas[] = [];
  for (let i = 0; i < items.length; i += n) members.push(task.si(items.slice(i, i + n)));
  return group(...members) as unknown as Group<unknown, O[]>;
}

/**
 * A group whose outputs, in declaration order, are the body's upstream
 * (Celery's `chord`). The header may be a group (also a settled one) or an array of canvases.
 * An empty header calls the body with `[]` at once (after the chord's upstream), as Celery does.
 *
 * @example
 * chord([count.si({ ids: a }), count.si({ ids: b })], merge.s())
 */
export function chord<H extends ReadonlyArray<AnyCanvas>, Body extends Canvas<OutsOf<H>, unknown>>(
  header: readonly [...H] | Group<InOfAll<H>, OutsOf<H>>,
  body: Body,
): Linkable<InOfAll<H>, OutOf<Body>>;
export function chord<In, HOut, Body extends Canvas<HOut, unknown>>(
  header: Canvas<In, HOut>,
  body: Body,
): Linkable<In, OutOf<Body>>;
export function chord(
  header: ReadonlyArray<AnyCanvas> | AnyCanvas,
  body: AnyCanvas,
): Linkable<unknown, unknown> {
  const h = Array.isArray(header)
    ? group(...(header as AnyCanvas[])).node
    : (header as AnyCanvas).node;
  if (h.kind !== "group") {
    return make({ kind: "chain", steps: [h, body.node] });
  }
  return make({ kind: "chord", header: h, body: body.node });
}

/** The options of a signature that sets none: one object for all (compile checks it once). */
const NO_OPTIONS: TaskOptions = Object.freeze({});

/**
 * Builds a signature node; used by `Task.s` / `Task.si`. Its `.with(o)`
 * checks `o` ({@link checkOptions}) and lays it over the options so far;
 * retry fields merge field by field.
 *
 * @throws InvalidCanvas from `.with(o)` when an option is out of range.
 */
export const signature = <In, Out>(
  task: TaskRef,
  bind: Bind,
  bound: unknown,
  options: TaskOptions = NO_OPTIONS,
): Signature<In, Out> => new MadeSignature({ kind: "sig", task, bind, bound, options });
