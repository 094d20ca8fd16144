/**
 * Promise API calls as Effects with typed errors: an error of one of the
 * classes a call documents becomes the Effect's failure; anything else
 * (a bug, an error the call does not document) is a defect. Used by the
 * Effect-native services (`WeftClient`, `WeftWorker`); not exported.
 */
import { Effect } from "effect";

// biome-ignore lint/suspicious/noExplicitAny: constructor parameters vary by class
type ErrorClass = abstract new (...args: any[]) => unknown;

/** The instances of a list of error classes. */
export type ErrorOf<C extends ReadonlyArray<ErrorClass>> = InstanceType<C[number]>;

const expected =
  <C extends ReadonlyArray<ErrorClass>>(classes: C) =>
  (e: unknown): Effect.Effect<never, ErrorOf<C>> =>
    classes.some((c) => e instanceof c) ? Effect.fail(e as ErrorOf<C>) : Effect.die(e);

/**
 * `call()` as an Effect: its result, or a failure that is an instance of
 * one of `classes`. `call` gets an `AbortSignal` that fires when the
 * Effect is interrupted.
 */
export const liftPromise = <A, const C extends ReadonlyArray<ErrorClass>>(
  call: (signal: AbortSignal) => PromiseLike<A>,
  classes: C,
): Effect.Effect<A, ErrorOf<C>> =>
  Effect.tryPromise({ try: (signal) => call(signal), catch: (e) => e }).pipe(
    Effect.catch(expected(classes)),
  );

/** `call()` (synchronous) as an Effect: its result, or a failure that is an instance of one of `classes`. */
export const liftSync = <A, const C extends ReadonlyArray<ErrorClass>>(
  call: () => A,
  classes: C,
): Effect.Effect<A, ErrorOf<C>> =>
  Effect.try({ try: call, catch: (e) => e }).pipe(Effect.catch(expected(classes)));
