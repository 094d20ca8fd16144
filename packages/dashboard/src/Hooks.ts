/**
 * Combining worker hooks: a worker takes one `hooks` object, an application
 * may want metrics, traces and its own error reporting at once.
 */
import type { AttemptInfo, WorkerHooks } from "@weft/core";

/**
 * One hooks object that calls each of `all` in order: the `on*` hooks each
 * get every call (one that throws does not keep the others from being
 * called; the worker logs the first error), the `wrapHandler`s nest, the
 * first outermost, and `attemptSpan` answers the first span id one of them
 * gives.
 */
export const combineHooks = (...all: ReadonlyArray<WorkerHooks>): WorkerHooks => {
  const each =
    <K extends "onAttemptStart" | "onAttemptEnd" | "onNodeFailed">(key: K) =>
    async (arg: Parameters<NonNullable<WorkerHooks[K]>>[0]): Promise<void> => {
      let first: unknown;
      let failed = false;
      for (const h of all) {
        const f = h[key] as ((a: typeof arg) => void | Promise<void>) | undefined;
        try {
          await f?.(arg);
        } catch (e) {
          if (!failed) first = e;
          failed = true;
        }
      }
      if (failed) throw first;
    };
  const wrappers = all.flatMap((h) => (h.wrapHandler ? [h.wrapHandler] : []));
  const spans = all.flatMap((h) => (h.attemptSpan ? [h.attemptSpan] : []));
  return {
    onAttemptStart: each("onAttemptStart"),
    onAttemptEnd: each("onAttemptEnd"),
    onNodeFailed: each("onNodeFailed"),
    ...(wrappers.length === 0
      ? {}
      : {
          wrapHandler: (attempt: AttemptInfo, run: () => Promise<unknown>) =>
            wrappers.reduceRight<() => Promise<unknown>>(
              (inner, wrap) => () => wrap(attempt, inner),
              run,
            )(),
        }),
    ...(spans.length === 0
      ? {}
      : {
          attemptSpan: (attempt: AttemptInfo) => {
            for (const f of spans) {
              const span = f(attempt);
              if (span !== undefined) return span;
            }
            return undefined;
          },
        }),
  };
};
