/**
 * A promise settled from outside its executor: a test waiting for a handler
 * to start, a worker's `done`. The shape of ES2024's `Promise.withResolvers`
 * (which the ES2023 `lib` Weft compiles against lacks), as graphile-worker's
 * `deferred()`, so that it can be replaced by it one day.
 */

/** A promise and the functions that resolve or reject it. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  /** Fulfils `promise` with `value`; later calls of `resolve` or `reject` do nothing. */
  readonly resolve: (value: T) => void;
  /** Rejects `promise` with `reason`; later calls of `resolve` or `reject` do nothing. */
  readonly reject: (reason: unknown) => void;
}

/**
 * A new pending promise with its `resolve` and `reject`.
 *
 * @example
 * const started = deferred()
 * handle(slow, async (n) => { started.resolve(); ... })
 * await started.promise
 */
export const deferred = <T = void>(): Deferred<T> => {
  let resolve: ((value: T) => void) | undefined;
  let reject: ((reason: unknown) => void) | undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // the executor runs synchronously: both are set here
  return { promise, resolve: resolve!, reject: reject! };
};
