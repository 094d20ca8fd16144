/**
 * Task declarations: a name, an input and an output schema (effect
 * `Schema`), and options. A declaration is shared by producers and workers;
 * the handler is bound where it runs (see `Worker.handle`), so a producer
 * never imports handler code.
 *
 * @since 0.1.0
 */
import { Schema } from "effect";
import { type Signature, signature, type TaskOptions, type TaskRef } from "./Canvas.ts";
import { type ErrorInfo, InvalidCanvas } from "./Errors.ts";

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
   * Key of an earlier execution whose recorded result this one reuses
   * instead of running the handler (DESIGN.md §2.8), e.g. `(i) => i.orderId`.
   */
  readonly idempotencyKey?: (input: I) => string;
  /**
   * Which failures retry, as a predicate (the policy's `retryOn` lists tags;
   * this sees the whole error). Applied on top of the policy: both must allow it.
   */
  readonly retryIf?: (error: ErrorInfo) => boolean;
  /** How long a recorded result is reused, ms. Default 24 h. */
  readonly idempotencyTtlMs?: number;
  /**
   * A lock held around every attempt (DESIGN.md §2.9): its name (or a
   * function of the input), its ttl in ms (default 30 000, renewed while
   * held) and how long to wait for it in ms (default 10 000).
   */
  readonly lock?: {
    readonly name: string | ((input: I) => string);
    readonly ttlMs?: number;
    readonly waitMs?: number;
  };
}

/** A declared task `Name: I → O`. */
export interface Task<Name extends string, I, O, IE = I, OE = O> extends TaskRef {
  readonly _tag: "Task";
  readonly name: Name;
  readonly input: Schema.Codec<I, IE>;
  readonly output: Schema.Codec<O, OE>;
  readonly options: TaskOptions;
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
 * Declares a task.
 *
 * Options (`queue`, `priority`, `timeoutMs`, `retry`) are persisted with
 * each node; behaviour (`idempotencyKey`, `lock`) runs on the worker.
 *
 * @throws InvalidCanvas when the name is not 1–128 characters of `[A-Za-z0-9_.:-]`.
 * @example
 * const add = task({
 *   name: "math.add",
 *   input: Schema.Struct({ a: Schema.Finite, b: Schema.Finite }),
 *   output: Schema.Finite,
 *   retry: { maxAttempts: 5 },
 * })
 */
export const task = <const Name extends string, I, O, IE = I, OE = O>(
  decl: {
    readonly name: Name;
    readonly input: Schema.Codec<I, IE>;
    readonly output: Schema.Codec<O, OE>;
  } & TaskOptions &
    TaskBehaviour<I>,
): Task<Name, I, O, IE, OE> => {
  if (!NAME.test(decl.name)) {
    throw new InvalidCanvas({
      reason: `task name ${JSON.stringify(decl.name)} must match ${NAME}`,
    });
  }
  const { name, input, output, idempotencyKey, idempotencyTtlMs, lock, retryIf, ...options } = decl;
  const ref: TaskRef = { name, input, output, options };
  const fields = structFields(input);
  const behaviour: TaskBehaviour<I> = {
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(idempotencyTtlMs === undefined ? {} : { idempotencyTtlMs }),
    ...(lock ? { lock } : {}),
    ...(retryIf ? { retryIf } : {}),
  };
  const t = {
    _tag: "Task" as const,
    name,
    input,
    output,
    options,
    behaviour,
    s: (bound?: Record<string, unknown>) => {
      if (bound === undefined) return signature(ref, { kind: "whole" }, undefined);
      if (!fields) {
        throw new InvalidCanvas({
          reason: `${name}.s(bound) needs a Struct input schema; use ${name}.s() or ${name}.si(input)`,
        });
      }
      const open = fields.filter((f) => !(f in bound));
      if (open.length !== 1) {
        throw new InvalidCanvas({
          reason: `${name}.s(bound) must leave exactly one input field open, left ${open.length} (${open.join(", ") || "none"})`,
        });
      }
      return signature(ref, { kind: "field", field: open[0]! }, bound);
    },
    si: (value: I) => signature(ref, { kind: "immutable" }, value),
  };
  return t as unknown as Task<Name, I, O, IE, OE>;
};

const structFields = (s: Schema.Top): ReadonlyArray<string> | undefined => {
  const fields = (s as { fields?: unknown }).fields;
  return fields && typeof fields === "object" ? Object.keys(fields) : undefined;
};

/** Decodes `value` with `schema`; returns the decoded value or the readable failure. */
export const decodeWith = (
  schema: Schema.Top,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; detail: string } => {
  const r = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>)(value);
  return r._tag === "Success"
    ? { ok: true, value: r.success }
    : { ok: false, detail: r.failure.message };
};

/** Encodes `value` with `schema` (validating it); returns the encoded value or the readable failure. */
export const encodeWith = (
  schema: Schema.Top,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; detail: string } => {
  const r = Schema.encodeUnknownResult(schema as Schema.Codec<unknown, unknown>)(value);
  return r._tag === "Success"
    ? { ok: true, value: r.success }
    : { ok: false, detail: r.failure.message };
};
