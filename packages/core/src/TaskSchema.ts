/**
 * A task's input and output schemas: an Effect `Schema` (a codec: it
 * decodes what is stored and encodes what is recorded) or any Standard
 * Schema v1 (https://standardschema.dev, the interface zod 4, valibot and
 * arktype implement: a validator, with no encode step). Types are inferred
 * from either (`TypeOf`, `EncodedOf`).
 *
 * With a Standard Schema a value is stored as it was given (a submitted
 * input, a bound input) or returned (a handler's output), after validation;
 * it is validated again, and its validated value used, where it is read (a
 * worker reading its input, `result()` reading an output). An output
 * schema that transforms values therefore transforms again on read: prefer
 * output schemas that validate without transforming (docs/concepts.md,
 * "Standard Schema").
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { Schema } from "effect";

/**
 * An Effect Schema a task can use: a codec that needs no services to
 * decode or encode.
 */
// biome-ignore lint/suspicious/noExplicitAny: variance escape for generic constraints
export type EffectCodec = Schema.Codec<any, any, never, never>;

/** Any schema a task accepts as its input or output: an Effect Schema or a Standard Schema v1. */
export type TaskSchema = EffectCodec | StandardSchemaV1;

/**
 * A schema of values of type `T`, stored as `E`: an Effect codec from `E`
 * to `T`, or a Standard Schema whose input is `E` and output is `T`.
 */
export type TaskSchemaOf<T, E = T> = Schema.Codec<T, E> | StandardSchemaV1<E, T>;

/** The type a schema gives a handler or a result: an Effect Schema's `Type`, a Standard Schema's output. */
export type TypeOf<S> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<S>
  : S extends Schema.Top
    ? S["Type"]
    : never;

/** The type a schema stores: an Effect Schema's `Encoded`, a Standard Schema's input. */
export type EncodedOf<S> = S extends StandardSchemaV1
  ? StandardSchemaV1.InferInput<S>
  : S extends Schema.Top
    ? S["Encoded"]
    : never;

/** Whether `s` is a Standard Schema v1 (it has a `~standard` property with `version: 1` and a `validate` function). */
export const isStandardSchema = (s: unknown): s is StandardSchemaV1 => {
  if ((typeof s !== "object" && typeof s !== "function") || s === null) return false;
  const props = (s as { "~standard"?: unknown })["~standard"];
  return (
    typeof props === "object" &&
    props !== null &&
    (props as { version?: unknown }).version === 1 &&
    typeof (props as { validate?: unknown }).validate === "function"
  );
};

/** Whether `s` can be a task's input or output schema. */
export const isTaskSchema = (s: unknown): s is TaskSchema =>
  Schema.isSchema(s) || isStandardSchema(s);

/** The name of a schema's library, for messages: `effect`, or a Standard Schema's vendor (`zod`, `valibot`, ...). */
export const vendorOf = (s: TaskSchema): string =>
  isStandardSchema(s) ? s["~standard"].vendor : "effect";

/**
 * The field schemas of an object schema, by key, when they can be known:
 * an Effect `Schema.Struct` (its `fields`), a zod object (`z.object`, its
 * `shape`) or a valibot object (`v.object`, its `entries`). `undefined` for
 * any other schema, whose keys cannot be known (an arktype type, a zod
 * union, a hand-written Standard Schema): the partial-binding rule
 * (`t.s(bound)`) needs them.
 */
export const objectFields = (s: TaskSchema): Readonly<Record<string, TaskSchema>> | undefined => {
  const fieldsAt = (key: string): Readonly<Record<string, TaskSchema>> | undefined => {
    const fields = (s as unknown as Record<string, unknown>)[key];
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return undefined;
    // an Effect Struct's fields are Effect schemas; a zod or valibot object's, Standard Schemas
    return Object.values(fields).every(isTaskSchema)
      ? (fields as Record<string, TaskSchema>)
      : undefined;
  };
  if (!isStandardSchema(s)) return fieldsAt("fields");
  switch (s["~standard"].vendor) {
    case "zod":
      return fieldsAt("shape");
    case "valibot":
      return fieldsAt("entries");
    default:
      return undefined;
  }
};

/** The outcome of validating with a Standard Schema: the validated value, or every issue, one per line with its path. */
export type Checked = { ok: true; value: unknown } | { ok: false; detail: string };

/**
 * Validates `value` with a Standard Schema. Issues are rendered as Effect
 * Schema renders its own, one per line with its path from the root
 * (`Invalid input: expected string\n  at ["user"]["email"]`), so a failure
 * reads the same from either library. `at` prefixes every path (the key of
 * a bound field). A schema that validates asynchronously is refused:
 * Weft validates inside submit and inside an attempt, synchronously. Never
 * throws.
 */
export const validateStandard = (
  schema: StandardSchemaV1,
  value: unknown,
  at: ReadonlyArray<PropertyKey> = [],
): Checked => {
  let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
  try {
    result = schema["~standard"].validate(value);
  } catch (e) {
    return {
      ok: false,
      detail: `cannot be validated: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  if (result instanceof Promise) {
    result.catch(() => undefined);
    return {
      ok: false,
      detail: `the ${schema["~standard"].vendor} schema validates asynchronously; a task's schemas must validate synchronously`,
    };
  }
  if (!result.issues) return { ok: true, value: result.value };
  return { ok: false, detail: result.issues.map((i) => issueLine(i, at)).join("\n") };
};

const issueLine = (issue: StandardSchemaV1.Issue, at: ReadonlyArray<PropertyKey>): string => {
  const path = [...at, ...(issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p))];
  return path.length === 0 ? issue.message : `${issue.message}\n  at ${renderPath(path)}`;
};

/** A path as Effect Schema renders it: `["user"]["tags"][1]`. */
const renderPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((k) => (typeof k === "number" ? `[${k}]` : `[${JSON.stringify(String(k))}]`)).join("");
