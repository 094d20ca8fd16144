/**
 * Task declarations: a name, an input and an output schema (an Effect
 * `Schema` or any Standard Schema v1, see `TaskSchema`), and options. A
 * declaration is shared by producers and workers; the handler is bound
 * where it runs (see `Worker.handle`), so a producer never imports handler
 * code.
 */
import { Schema } from "effect";
import {
  BIND_IMMUTABLE,
  checkOptions,
  type ErrorSchema,
  MAX_TIMER_MS,
  type Signature,
  signature,
  type TaskOptions,
  type TaskRef,
} from "./Canvas.ts";
import { MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { described } from "./Described.ts";
import { type ErrorInfo, InvalidCanvas } from "./Errors.ts";
import {
  type EncodedOf,
  isStandardSchema,
  isTaskSchema,
  objectFields,
  type TaskSchema,
  type TaskSchemaOf,
  type TypeOf,
  validateStandard,
  vendorOf,
} from "./TaskSchema.ts";

/** Exactly-one-key check for `t.s(bound)`: the open field's type, or an error type. */
type OneOpen<I, B> = [Exclude<keyof I, keyof B>] extends [never]
  ? { readonly __error: "s(bound) binds every input field: use si(input)" }
  : IsUnion<Exclude<keyof I, keyof B>> extends true
    ? {
        readonly __error: "s(bound) must leave exactly one input field open";
        readonly open: Exclude<keyof I, keyof B>;
      }
    : I[Exclude<keyof I, keyof B>];

type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * What a task does around its handler on the worker. These are functions of
 * the input, so they live on the declaration (imported by the worker), not
 * in the persisted node.
 */
export interface TaskBehaviour<I> {
  /**
   * The task's result key for an input, e.g. `(i) => i.orderId`: an
   * attempt whose key has a recorded result (a memo, recorded by an earlier
   * successful attempt of this task, in any run) returns it without running
   * the handler; a successful attempt records its result under its key for
   * `resultTtlMs` (docs/guarantees.md #8). Not the same as a submission's
   * idempotency key (which deduplicates runs) nor `ctx.idempotencyKey`
   * (which a handler hands to external APIs).
   */
  readonly resultKey?: (input: I) => string;
  /**
   * Which failures retry, as a predicate (the policy's `retryOn` lists tags;
   * this sees the whole error). Applied on top of the policy: both must allow it.
   */
  readonly retryIf?: (error: ErrorInfo) => boolean;
  /** How long a result recorded under a result key is reused, ms. Default 24 h. */
  readonly resultTtlMs?: number;
  /**
   * A lock held around every attempt (docs/guarantees.md #9): its name (or a
   * function of the input), its ttl in ms (default 30 000, renewed while
   * held) and how long to wait for it in ms (default 10 000).
   */
  readonly lock?: {
    readonly name: string | ((input: I) => string);
    readonly ttlMs?: number;
    readonly waitMs?: number;
  };
}

/** A declared task `Name: I → O`, failing with the errors `ES` declares. */
export interface Task<
  Name extends string,
  I,
  O,
  IE = I,
  OE = O,
  ES extends ReadonlyArray<ErrorSchema> = ReadonlyArray<ErrorSchema>,
> extends TaskRef {
  readonly _tag: "Task";
  readonly name: Name;
  /** The input schema: an Effect Schema from `IE` (stored) to `I`, or a Standard Schema. */
  readonly input: TaskSchemaOf<I, IE>;
  /** The output schema: an Effect Schema from `OE` (stored) to `O`, or a Standard Schema. */
  readonly output: TaskSchemaOf<O, OE>;
  readonly options: TaskOptions;
  /** The failures the task declares (`task({ errors })`), `[]` when none: see `ErrorOf`. */
  readonly errors: ES;
  readonly behaviour: TaskBehaviour<I>;
  /** Signature whose whole input is the upstream output. */
  s(): Signature<I, O>;
  /** Signature binding every input field but one; the upstream output fills the open field. */
  s<const B extends Partial<I>>(bound: B): Signature<OneOpen<I, B>, O>;
  /** Immutable signature: runs on exactly `input` and ignores upstream. */
  si(input: I): Signature<unknown, O>;
}

/** Any task. */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for generic constraints
export type AnyTask = Task<string, any, any, any, any>;
/** The decoded input type of a task. */
export type InputOf<T> =
  T extends Task<string, infer I, infer _O, infer _IE, infer _OE> ? I : never;
/** The decoded output type of a task. */
export type OutputOf<T> =
  T extends Task<string, infer _I, infer O, infer _IE, infer _OE> ? O : never;

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Checks a task name: 1–128 characters of `[A-Za-z0-9_.:-]` (it is part of
 * Redis keys and of the worker registry).
 *
 * @throws InvalidCanvas naming the bad name and the pattern.
 */
export const checkTaskName = (name: unknown): void => {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidCanvas({
      reason: `task name ${typeof name === "string" ? JSON.stringify(name) : String(name)} must match ${NAME}`,
    });
  }
};

/**
 * Declares a task.
 *
 * `input` and `output` are each an Effect Schema (a codec: values are
 * stored encoded and decoded where they are read) or any Standard Schema v1
 * (zod 4, valibot, arktype: values are validated, and stored as given or
 * returned; see `TaskSchema`). Types are inferred from either: the
 * handler's input is the input schema's type (a Standard Schema's output
 * type), its result the output schema's type.
 *
 * Options (`queue`, `priority`, `timeoutMs`, `retry`) are persisted with
 * each node; behaviour (`resultKey`, `lock`, `retryIf`) runs on the worker.
 *
 * `errors` declares the task's typed failures: tagged Effect Schemas
 * (`Schema.TaggedError` classes or `Schema.TaggedStruct`s, tags distinct).
 * A handler that throws (or an Effect that fails with) a value of one of
 * them has it recorded encoded by that schema (`ErrorInfo.data`, tag its
 * `_tag`, so `retryOn` / `nonRetryable` match it), and readers decode it
 * back: `RunFailed.failure`, `failureOf(task, error)`. Their type is
 * `ErrorOf<typeof task>`.
 *
 * @throws InvalidCanvas when the name is not 1–128 characters of
 *   `[A-Za-z0-9_.:-]`, `input` or `output` is neither an Effect Schema nor
 *   a Standard Schema, or an option is out of range (see `checkOptions`:
 *   priority an integer 0..15, timeoutMs 1..2,147,483,647 ms, retry fields
 *   sane), or `errors` is not an array of tagged Effect Schemas with
 *   distinct tags, or `resultTtlMs`, `lock.ttlMs` (positive, at most
 *   2,147,483,647 ms) or `lock.waitMs` (≥ 0) is not; the message names the
 *   task, the option and the allowed range.
 * @example
 * const add = task({
 *   name: "math.add",
 *   input: Schema.Struct({ a: Schema.Finite, b: Schema.Finite }),
 *   output: Schema.Finite,
 *   retry: { maxAttempts: 5 },
 * })
 * @example
 * // zod 4 (any Standard Schema v1)
 * const greet = task({
 *   name: "greet",
 *   input: z.object({ name: z.string(), greeting: z.string() }),
 *   output: z.string(),
 * })
 */
export const task = <
  const Name extends string,
  IS extends TaskSchema,
  OS extends TaskSchema,
  const ES extends ReadonlyArray<ErrorSchema> = readonly [],
>(
  decl: {
    readonly name: Name;
    readonly input: IS;
    readonly output: OS;
    /** The task's typed failures: tagged Effect Schemas, tags distinct (see above). */
    readonly errors?: ES;
  } & TaskOptions &
    TaskBehaviour<TypeOf<IS>>,
): Task<Name, TypeOf<IS>, TypeOf<OS>, EncodedOf<IS>, EncodedOf<OS>, ES> => {
  type I = TypeOf<IS>;
  if (typeof decl !== "object" || decl === null)
    throw new InvalidCanvas({
      reason: `task() takes a declaration, { name, input, output, ... }, got ${described(decl)}`,
    });
  checkTaskName(decl.name);
  const { name, input, output, errors, resultKey, resultTtlMs, lock, retryIf, ...options } = decl;
  for (const [option, schema] of [
    ["input", input],
    ["output", output],
  ] as const) {
    if (!isTaskSchema(schema)) {
      throw new InvalidCanvas({
        reason: `task "${name}": option ${option} must be an Effect Schema or a Standard Schema v1 (zod 4, valibot, arktype), got ${typeof schema}`,
      });
    }
  }
  checkOptions(name, options);
  checkBehaviour(name, { resultTtlMs, lock });
  checkErrors(name, errors);
  const declared = errors ?? ([] as unknown as ES);
  const ref: TaskRef = { name, input, output, options, errors: declared };
  const fields = objectFields(input);
  const behaviour: TaskBehaviour<I> = {
    ...(resultKey ? { resultKey } : {}),
    ...(resultTtlMs === undefined ? {} : { resultTtlMs }),
    ...(lock ? { lock } : {}),
    ...(retryIf ? { retryIf } : {}),
  };
  const t = {
    _tag: "Task" as const,
    name,
    input,
    output,
    options,
    errors: declared,
    behaviour,
    s: (bound?: Record<string, unknown>) => {
      if (bound === undefined) return signature(ref, { kind: "whole" }, undefined);
      if (!fields) {
        throw new InvalidCanvas({
          reason: `${name}.s(bound) needs an object input schema whose fields can be known (an Effect Schema.Struct, a zod z.object or a valibot v.object); this ${vendorOf(input)} input schema does not expose its fields: use ${name}.s() or ${name}.si(input)`,
        });
      }
      const open = Object.keys(fields).filter((f) => !(f in bound));
      if (open.length !== 1) {
        throw new InvalidCanvas({
          reason: `${name}.s(bound) must leave exactly one input field open, left ${open.length} (${open.join(", ") || "none"})`,
        });
      }
      return signature(ref, { kind: "field", field: open[0]! }, bound);
    },
    si: (value: I) => signature(ref, BIND_IMMUTABLE, value),
  };
  return t as unknown as Task<Name, I, TypeOf<OS>, EncodedOf<IS>, EncodedOf<OS>, ES>;
};

/**
 * The `_tag` a declared error schema gives its values (a `Schema.TaggedError`
 * class or a `Schema.TaggedStruct`: a `_tag` field holding one literal string).
 */
export const errorTagOf = (schema: unknown): string | undefined => {
  if (!Schema.isSchema(schema)) return undefined;
  const fields = (schema as { fields?: Record<string, { ast?: { literal?: unknown } }> }).fields;
  const literal = fields?._tag?.ast?.literal;
  return typeof literal === "string" ? literal : undefined;
};

const checkErrors = (name: string, errors: unknown): void => {
  if (errors === undefined) return;
  const refuse = (why: string): never => {
    throw new InvalidCanvas({ reason: `task "${name}": option errors${why}` });
  };
  if (!Array.isArray(errors))
    refuse(
      " must be an array of tagged Effect Schemas (Schema.TaggedError classes or Schema.TaggedStruct)",
    );
  const seen = new Set<string>();
  (errors as ReadonlyArray<unknown>).forEach((schema, i) => {
    const tag = errorTagOf(schema);
    if (tag === undefined)
      refuse(
        `[${i}] must be a tagged Effect Schema (a Schema.TaggedError class or a Schema.TaggedStruct), got ${Schema.isSchema(schema) ? "a schema without a literal _tag field" : typeof schema}`,
      );
    if (seen.has(tag as string)) refuse(`[${i}] repeats the tag "${tag}"`);
    seen.add(tag as string);
  });
};

const checkBehaviour = (
  name: string,
  b: { readonly resultTtlMs: unknown; readonly lock: unknown },
): void => {
  const refuse = (option: string, value: unknown, allowed: string): never => {
    throw new InvalidCanvas({
      reason: `task "${name}": option ${option} must be ${allowed}, got ${String(value)}`,
    });
  };
  const timer = `a number of ms from 1 to ${MAX_TIMER_MS}`;
  const ms = (v: unknown, min: number, max: number) =>
    typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;
  if (b.resultTtlMs !== undefined && !ms(b.resultTtlMs, 1, Number.MAX_SAFE_INTEGER))
    refuse("resultTtlMs", b.resultTtlMs, "a positive finite number of ms");
  if (b.lock === undefined) return;
  const lock = b.lock as { name?: unknown; ttlMs?: unknown; waitMs?: unknown };
  if (typeof lock.name !== "string" && typeof lock.name !== "function")
    refuse("lock.name", lock.name, "a string or a function of the input");
  if (lock.ttlMs !== undefined && !ms(lock.ttlMs, 1, MAX_TIMER_MS))
    refuse("lock.ttlMs", lock.ttlMs, timer);
  if (lock.waitMs !== undefined && !ms(lock.waitMs, 0, MAX_TIMER_MS))
    refuse("lock.waitMs", lock.waitMs, `a number of ms from 0 to ${MAX_TIMER_MS}`);
};

/** Report every failing field, each with its path, not only the first. */
const allErrors = { errors: "all" } as const;

const thrownReason = (e: unknown): string => (e instanceof Error ? e.message : String(e));

type DecodeResult = ReturnType<ReturnType<typeof Schema.decodeUnknownResult>>;
type EncodeResult = ReturnType<ReturnType<typeof Schema.encodeUnknownResult>>;

/**
 * A schema's decode and encode functions, made once per schema: a worker
 * calls them for every attempt. Each value is first checked under Effect's
 * default options (stop at the first issue), which decode a struct without
 * running Effect's generator (tens of times cheaper); only a value that
 * fails is decoded again reporting every issue, for the message.
 */
interface CodecFns {
  readonly decode: (u: unknown) => DecodeResult;
  readonly decodeAll: (u: unknown) => DecodeResult;
  readonly encode: (u: unknown) => EncodeResult;
  readonly encodeAll: (u: unknown) => EncodeResult;
}
const codecCache = new WeakMap<object, CodecFns>();
const codecFns = (schema: Schema.Codec<unknown, unknown>): CodecFns => {
  let fns = codecCache.get(schema);
  if (fns === undefined) {
    fns = {
      decode: Schema.decodeUnknownResult(schema),
      decodeAll: Schema.decodeUnknownResult(schema, allErrors),
      encode: Schema.encodeUnknownResult(schema),
      encodeAll: Schema.encodeUnknownResult(schema, allErrors),
    };
    codecCache.set(schema, fns);
  }
  return fns;
};

/**
 * The outcome of `first` (stopping at the first issue) when it succeeds,
 * else of `all` (reporting every issue, each with its path).
 */
const firstThenAll = (
  first: (u: unknown) => DecodeResult | EncodeResult,
  all: (u: unknown) => DecodeResult | EncodeResult,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; detail: string } => {
  const quick = first(value);
  if (quick._tag === "Success") return { ok: true, value: quick.success };
  const r = all(value);
  return r._tag === "Success"
    ? { ok: true, value: r.success }
    : { ok: false, detail: r.failure.message };
};

/**
 * Decodes `value` with `schema`; returns the decoded value or the readable
 * failure: every failing field, one per line with its path
 * (`Expected string\n  at ["user"]["email"]`). A Standard Schema validates
 * (its validated value is the decoded one; see `validateStandard`). Never
 * throws: a schema that throws (a failing transformation, a stack
 * overflow) is a failure too.
 */
export const decodeWith = (
  schema: TaskSchema,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; detail: string } => {
  if (isStandardSchema(schema)) return validateStandard(schema, value);
  try {
    const fns = codecFns(schema as Schema.Codec<unknown, unknown>);
    return firstThenAll(fns.decode, fns.decodeAll, value);
  } catch (e) {
    return { ok: false, detail: `cannot be decoded: ${thrownReason(e)}` };
  }
};

/**
 * Encodes `value` with `schema` (validating it); returns the encoded value
 * or the readable failure (every failing field, with its path). A Standard
 * Schema has no encode step: the value is validated, and on success
 * returned as it was given (not the schema's output). Before the
 * schema runs, the value's shape is checked without recursion, so a cyclic
 * value or one nested deeper than {@link MAX_VALUE_DEPTH} levels is a
 * failure (`contains a cycle at ["self"]`, `nested deeper than 256 levels
 * at ...`), never a stack overflow. Never throws.
 */
export const encodeWith = (
  schema: TaskSchema,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; detail: string } => {
  try {
    const shape = valueProblem(value, { plainData: false, maxDepth: MAX_VALUE_DEPTH });
    if (shape !== undefined) return { ok: false, detail: shape };
    if (isStandardSchema(schema)) {
      const checked = validateStandard(schema, value);
      return checked.ok ? { ok: true, value } : checked;
    }
    const fns = codecFns(schema as Schema.Codec<unknown, unknown>);
    return firstThenAll(fns.encode, fns.encodeAll, value);
  } catch (e) {
    return { ok: false, detail: `cannot be encoded: ${thrownReason(e)}` };
  }
};
