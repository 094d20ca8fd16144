/**
 * What the worker makes of a handler's return value: the output as it
 * stands, or a promise, a thenable or an Effect to wait on. Used by
 * `handle`'s `run` and by the worker's attempt (`attemptNow`), which calls a
 * bound handler's own function and uses an output returned at once without
 * a promise. Private to the runtime.
 */
import { Cause, Effect, Exit } from "effect";

/**
 * The key of a bound handler's own function (`handle`'s `fn`), which the
 * worker's attempt calls directly: an output the function returns at once
 * is recorded without the promise `run` makes of it (`attemptNow`).
 */
export const handlerFn: unique symbol = Symbol("weft.handlerFn");

/**
 * Whether a handler's return value is its output as it stands: not a
 * promise, a thenable or an Effect, which {@link settled} waits on.
 */
export const isPlainOutput = (out: unknown): boolean =>
  isPrimitive(out) ||
  (typeof out === "object" &&
    typeof (out as { then?: unknown }).then !== "function" &&
    !Effect.isEffect(out));

/**
 * The output of what a handler returned: a plain value at once; a promise
 * or a thenable waited on as `await` would; an Effect (returned, or what a
 * promise resolved to) run, aborted by `ctx.signal`.
 */
export const settled = (out: unknown, ctx: { readonly signal: AbortSignal }): Promise<unknown> => {
  if (isPrimitive(out)) return Promise.resolve(out);
  return Promise.resolve(out).then((v) => (Effect.isEffect(v) ? runEffect(v, ctx) : v));
};

/** Whether `out` is neither an object nor a function: an output that cannot be waited on. */
const isPrimitive = (out: unknown): boolean =>
  out === null || (typeof out !== "object" && typeof out !== "function");

/** Runs the Effect a handler returned, aborted by `ctx.signal`: its success, or its failure thrown. */
const runEffect = async (out: unknown, ctx: { readonly signal: AbortSignal }): Promise<unknown> => {
  const exit = await Effect.runPromiseExit(out as Effect.Effect<unknown, unknown, never>, {
    signal: ctx.signal,
  });
  if (Exit.isSuccess(exit)) return exit.value;
  throw Cause.squash(exit.cause);
};
