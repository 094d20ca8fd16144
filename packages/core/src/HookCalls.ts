/**
 * How the worker calls its hooks (docs/operations.md, "Worker hooks"): a
 * hook's throw or rejection is logged and ignored, and a handler wrapper
 * never changes how an attempt ends. Private to the worker runtime.
 */
import type { Logger } from "pino";
import { waitsOn } from "./Dag.ts";
import type { AttemptInfo, WorkerHooks } from "./Hooks.ts";
import { type Claim, isSpanId } from "./Store.ts";

/** The attempt of `claim` on worker `workerId`, as hooks see it (with its dependencies' span ids when some were recorded). */
export const attemptInfo = (claim: Claim, task: string, workerId: string): AttemptInfo => {
  const deps = claim.spec.deps;
  const spans = claim.depSpans;
  let depSpans: ReadonlyArray<string> | undefined;
  if (spans !== undefined) {
    // the claim's span ids are in the order of the node's waited-on ids; the hooks', of `deps`
    const ids = waitsOn(claim.spec);
    const byId = new Map(ids.map((d, i) => [d, spans[i] ?? ""]));
    depSpans = deps.map((d) => byId.get(d) ?? "");
  }
  return {
    runId: claim.runId,
    nodeId: claim.nodeId,
    task,
    attempt: claim.attempt,
    workerId,
    deps,
    ...(depSpans === undefined ? {} : { depSpans }),
  };
};

/** The span id `hook` answers for a succeeded attempt, when it is one; a throw is logged. */
export const askSpan = (
  log: () => Logger,
  hook: WorkerHooks["attemptSpan"],
  attempt: AttemptInfo,
): string | undefined => {
  if (!hook) return undefined;
  try {
    const span = hook(attempt);
    return isSpanId(span) ? span : undefined;
  } catch (e) {
    log().warn({ err: e, hook: "attemptSpan" }, "worker hook attemptSpan failed; ignored");
    return undefined;
  }
};

/** Calls a hook so that nothing it does escapes: a throw or a rejection is logged at `warn`. */
export const callHook = <A>(
  log: () => Logger,
  name: keyof WorkerHooks,
  hook: ((arg: A) => void | Promise<void>) | undefined,
  arg: A,
): void => {
  if (!hook) return;
  const warn = (e: unknown) =>
    log().warn({ err: e, hook: name }, `worker hook ${name} failed; ignored`);
  try {
    const r = hook(arg);
    if (r && typeof (r as Promise<void>).then === "function") (r as Promise<void>).catch(warn);
  } catch (e) {
    warn(e);
  }
};

/**
 * Runs `handler` through `wrap` (see {@link WorkerHooks.wrapHandler}): the
 * outcome is the handler's own; a wrapper that throws before calling `run`,
 * or returns without calling it, is logged and the handler runs unwrapped.
 */
export const wrapCall = async (
  wrap: WorkerHooks["wrapHandler"],
  attempt: AttemptInfo,
  handler: () => Promise<unknown>,
  log: () => Logger,
): Promise<unknown> => {
  if (!wrap) return handler();
  let inner: Promise<unknown> | undefined;
  const run = () => {
    inner ??= handler();
    return inner;
  };
  try {
    await wrap(attempt, run);
  } catch (e) {
    if (inner === undefined) {
      log().warn(
        { err: e, hook: "wrapHandler" },
        "worker hook wrapHandler failed; the handler runs without it",
      );
    } else if (
      await inner.then(
        () => true,
        () => false,
      )
    ) {
      // the handler succeeded: the wrapper's own failure changes nothing
      log().warn(
        { err: e, hook: "wrapHandler" },
        "worker hook wrapHandler failed after the handler succeeded; ignored",
      );
    }
    // else the handler failed (the wrapper passed its error on): the handler's error counts
  }
  if (inner === undefined) {
    log().warn(
      { hook: "wrapHandler" },
      "worker hook wrapHandler did not call run(); the handler runs without it",
    );
    return run();
  }
  return inner;
};
