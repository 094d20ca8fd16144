/**
 * Typed errors: a task declares its failures as tagged Effect Schemas
 * (`task({ errors: [NotFound] })`); a handler's failure of one of them is
 * recorded encoded by its schema (`ErrorInfo.data`) and decoded where it is
 * read (`failureOf`, `RunFailed.failure`). Any other failure keeps its own
 * structured data when it is plain data (Celery keeps an exception's args).
 * See docs/errors.md, "Typed errors".
 */
import type { Schema } from "effect";
import type { ErrorSchema, TaskRef } from "./Canvas.ts";
import { encode, MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { type ErrorInfo, RunFailed, TaskFailure, toErrorInfo } from "./Errors.ts";
import { decodeWith, encodeWith, errorTagOf } from "./Task.ts";

/** The largest structured data an error keeps, msgpack-encoded, bytes (16 KiB); larger data is dropped, and the message says so. */
export const MAX_ERROR_DATA_BYTES = 16_384;

/** The decoded type of the failures task `T` declares (`task({ errors })`); `never` when it declares none. */
export type ErrorOf<T> = T extends { readonly errors: infer ES extends ReadonlyArray<unknown> }
  ? ES[number] extends infer S
    ? S extends Schema.Top
      ? S["Type"]
      : never
    : never
  : never;

/** The declared schema whose tag `tag` is, if the task declares one. */
const schemaFor = (task: TaskRef, tag: unknown): ErrorSchema | undefined =>
  typeof tag === "string" ? task.errors?.find((s) => errorTagOf(s) === tag) : undefined;

/**
 * What a handler of `task` threw (or its Effect failed with), as the failure
 * to record:
 * - a value whose `_tag` the task declares: that tag, its `message` (else
 *   the tag), `retryable` as the value says (default `true`: the retry policy
 *   decides, by tag), and `data` the value encoded by the declared schema
 *   (a value the schema refuses is recorded without data, the message saying why);
 * - a `TaskFailure`: as `toErrorInfo`, with its `data`;
 * - another `Error`: as `toErrorInfo`, with its own enumerable fields that are
 *   plain data (a `Data.TaggedError`'s fields) as `data`;
 * - any other thrown object: `NonErrorThrown`, with the object as `data` when
 *   it is plain data.
 * Data over {@link MAX_ERROR_DATA_BYTES} encoded is dropped, the message saying so.
 */
export const failureInfo = (task: TaskRef, thrown: unknown): ErrorInfo => {
  const info = toErrorInfo(thrown);
  const tag =
    typeof thrown === "object" && thrown !== null ? (thrown as { _tag?: unknown })._tag : undefined;
  const schema = schemaFor(task, tag);
  if (schema !== undefined) {
    const t = thrown as { message?: unknown; retryable?: unknown };
    const declared: ErrorInfo = {
      ...info,
      tag: tag as string,
      message: typeof t.message === "string" && t.message !== "" ? t.message : (tag as string),
      retryable: typeof t.retryable === "boolean" ? t.retryable : true,
    };
    const encoded = encodeWith(schema, thrown);
    if (!encoded.ok)
      return note(
        declared,
        `its data does not match the schema task "${task.name}" declares for ${String(tag)}: ${encoded.detail}`,
      );
    return withData(declared, encoded.value);
  }
  if (thrown instanceof TaskFailure) return withData(info, thrown.data);
  if (thrown instanceof Error) return withData(info, ownFields(thrown));
  if (typeof thrown === "object" && thrown !== null) return withData(info, thrown);
  return info;
};

const IGNORED = new Set(["name", "message", "stack", "cause", "_tag", "retryable"]);

/** An error's own enumerable fields that hold plain data, or `undefined` when it has none. */
const ownFields = (e: Error): Record<string, unknown> | undefined => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (IGNORED.has(k)) continue;
    if (valueProblem(v, { plainData: true, maxDepth: MAX_VALUE_DEPTH }) === undefined) out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
};

const note = (info: ErrorInfo, why: string): ErrorInfo => ({
  ...info,
  message: `${info.message} (${why})`,
});

/** `info` with `data` when it is plain data within the size limit; else without, the message saying why. */
const withData = (info: ErrorInfo, data: unknown): ErrorInfo => {
  if (data === undefined) return info;
  const problem = valueProblem(data, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined) return note(info, `its data was not recorded: it ${problem}`);
  let size: number;
  try {
    size = encode(data).length;
  } catch (e) {
    return note(info, `its data was not recorded: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (size > MAX_ERROR_DATA_BYTES)
    return note(
      info,
      `its data was not recorded: ${size} bytes encoded, more than the ${MAX_ERROR_DATA_BYTES} allowed`,
    );
  return { ...info, data };
};

/**
 * Decodes a recorded failure as the error `task` declares for its tag: an
 * instance of the `Schema.TaggedError` class, or the tagged struct. Takes a
 * `RunFailed` (its `error`), an `ErrorInfo`, or a settled group member's
 * `error`. `undefined` when the failure is not one the task declares, or its
 * data does not decode (a record written by another version of the task).
 *
 * @example
 * const e = await run.result().catch((e) => e)
 * const nf = failureOf(fetchUser, e) // NotFound | RateLimited | undefined
 * if (nf?._tag === "NotFound") console.log(nf.id)
 */
export const failureOf = <T extends TaskRef>(task: T, error: unknown): ErrorOf<T> | undefined => {
  const info =
    error instanceof RunFailed
      ? error.error
      : typeof error === "object" && error !== null
        ? (error as Partial<ErrorInfo>)
        : undefined;
  if (info === undefined) return undefined;
  const schema = schemaFor(task, info.tag);
  if (schema === undefined || info.data === undefined) return undefined;
  const decoded = decodeWith(schema, info.data);
  return decoded.ok ? (decoded.value as ErrorOf<T>) : undefined;
};
