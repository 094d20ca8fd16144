/**
 * Runs one attempt's handler in its own `worker_threads` Worker (the task
 * option `isolate: "thread"`, docs/concepts.md, "Time limits"), so that the
 * worker can terminate it: at the hard limit, a cancel, a lost lease or a
 * stop, `ctx.signal` aborts and the thread is terminated, stopping even a
 * CPU-bound loop (as Celery's prefork pool kills its child at
 * `time_limit`). The thread imports the handler from the module its
 * `handle(task, fn, { module })` names (see `ThreadEntry.ts`).
 */
import { Worker } from "node:worker_threads";
import { TaskFailure } from "./Errors.ts";
import type { BoundHandler, TaskContext } from "./Handler.ts";

/**
 * What a handler threw in its thread, as recorded: tag, message, stack,
 * retryable flag, structured data (a declared error already encoded by its
 * schema) and a `TaskFailure`'s retry delay (ms).
 */
export interface ThreadError {
  readonly tag: string;
  readonly message: string;
  readonly stack?: string;
  readonly retryable: boolean;
  readonly data?: unknown;
  readonly retryAfterMs?: number;
}

/** What the thread answers: the handler's output, or what it threw. */
export type ThreadReply =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: ThreadError };

const source = import.meta.url.endsWith(".ts");
const ENTRY = new URL(source ? "./ThreadEntry.ts" : "./ThreadEntry.js", import.meta.url).href;

// the thread's bootstrap: a TypeScript entry or handler module (running from sources, or a
// handlers module in TypeScript) is loaded through tsx, which must then be installed
const BOOT = `
const { workerData } = require("node:worker_threads");
const ts = /\\.[cm]?ts$/;
(ts.test(workerData.entry) || ts.test(workerData.module)
  ? import("tsx/esm/api").then((m) => m.register())
  : Promise.resolve()
).then(() => import(workerData.entry));
`;

/**
 * The thread's failure rebuilt as a `TaskFailure` carrying what the thread
 * recorded (tag, retryable flag, data, retry delay), so the worker records
 * the same `ErrorInfo` as for a handler run in its own thread.
 */
const rebuilt = (e: ThreadError): Error => {
  const error = new TaskFailure(e.message, {
    tag: e.tag,
    nonRetryable: !e.retryable,
    ...(e.data === undefined ? {} : { data: e.data }),
    ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
  });
  if (e.stack !== undefined) error.stack = e.stack;
  return error;
};

/**
 * Runs `handler` on `input` in a new worker thread and resolves with its
 * output (structured-cloned back). `ctx.signal` aborting terminates the
 * thread (the caller's race rejects with the abort's reason);
 * `ctx.softTimeout` aborting is forwarded to the thread's `ctx.softTimeout`.
 *
 * @throws TaskFailure: the handler's error, rebuilt with its tag, retryable flag and data.
 * @throws Error when the thread cannot import the handler or exits without an answer.
 */
export const runInThread = (
  handler: BoundHandler & { readonly thread: NonNullable<BoundHandler["thread"]> },
  input: unknown,
  ctx: TaskContext,
  opts: { readonly logLevel: string },
): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, {
      eval: true,
      ...(source ? { execArgv: ["--conditions=@weft/source"] } : {}),
      workerData: {
        entry: ENTRY,
        module: handler.thread.module,
        export: handler.thread.export ?? "handlers",
        task: handler.task.name,
        input,
        logLevel: opts.logLevel,
        ctx: {
          runId: ctx.runId,
          nodeId: ctx.nodeId,
          task: ctx.task,
          attempt: ctx.attempt,
          idempotencyKey: ctx.idempotencyKey,
          rootRunId: ctx.rootRunId,
          parentNodeIds: ctx.parentNodeIds,
          queue: ctx.queue,
          priority: ctx.priority,
          attemptsLeft: ctx.attemptsLeft,
          headers: ctx.headers,
          ...(ctx.deadline === undefined ? {} : { deadline: ctx.deadline }),
        },
      },
    });
    let settled = false;
    const terminate = () => void worker.terminate();
    const soft = () =>
      worker.postMessage({
        kind: "soft",
        ms: (ctx.softTimeout.reason as { softTimeoutMs?: number } | undefined)?.softTimeoutMs ?? 0,
      });
    const done = () => {
      settled = true;
      ctx.signal.removeEventListener("abort", terminate);
      ctx.softTimeout.removeEventListener("abort", soft);
      terminate();
    };
    if (ctx.signal.aborted) terminate();
    else ctx.signal.addEventListener("abort", terminate, { once: true });
    ctx.softTimeout.addEventListener("abort", soft, { once: true });
    worker.once("message", (m: ThreadReply) => {
      done();
      if (m.ok) resolve(m.value);
      else reject(rebuilt(m.error));
    });
    worker.once("error", (e) => {
      if (settled) return;
      done();
      reject(e);
    });
    worker.once("exit", (code) => {
      if (settled) return;
      done();
      reject(
        ctx.signal.aborted
          ? ctx.signal.reason
          : new Error(`the handler's thread exited (code ${code}) before it answered`),
      );
    });
  });
