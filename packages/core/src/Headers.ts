/**
 * A run's headers: plain-data metadata given at submit
 * (`submit(canvas, { headers })`, Celery's `apply_async(headers=...)`),
 * stored once with the run and handed to every node's handler as
 * `ctx.headers`. Weft never reads them.
 */
import { decode, encode, MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { CorruptRecord, InvalidSubmitOptions } from "./Errors.ts";

/** A run's headers: a plain object of plain data (see docs/concepts.md, "Plain data"). */
export type RunHeaders = Readonly<Record<string, unknown>>;

/** The largest headers a run takes, msgpack-encoded, bytes (8 KiB): they travel with every claim. */
export const MAX_HEADERS_BYTES = 8_192;

/**
 * Checks and encodes a run's headers as msgpack.
 *
 * @throws InvalidSubmitOptions naming `headers` when they are not a plain
 *   object, hold a value that is not plain data (with its path), or take
 *   more than {@link MAX_HEADERS_BYTES} bytes encoded.
 */
export const encodeHeaders = (headers: unknown): Uint8Array => {
  const refuse = (why: string): never => {
    throw new InvalidSubmitOptions({ reason: `option headers ${why}` });
  };
  if (
    typeof headers !== "object" ||
    headers === null ||
    Array.isArray(headers) ||
    Object.getPrototypeOf(headers) !== Object.prototype
  )
    refuse(`must be a plain object of plain data, got ${describe(headers)}`);
  const problem = valueProblem(headers, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined) refuse(problem);
  const bytes = encode(headers);
  if (bytes.length > MAX_HEADERS_BYTES)
    refuse(`take ${bytes.length} bytes encoded, more than the ${MAX_HEADERS_BYTES} allowed`);
  return bytes;
};

/**
 * Decodes headers a store handed back with a claim.
 *
 * @throws CorruptRecord when the bytes are not msgpack of a plain object.
 */
export const decodeHeaders = (bytes: Uint8Array | undefined): RunHeaders => {
  if (bytes === undefined || bytes.length === 0) return {};
  const value = decode(bytes);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CorruptRecord({
      reason: `the run's headers are not an object but ${describe(value)}`,
    });
  return value as RunHeaders;
};

const describe = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "an array"
      : typeof v === "object"
        ? `an instance of ${v.constructor?.name ?? "a class"}`
        : typeof v;
