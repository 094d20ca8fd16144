/**
 * The entry of a worker thread that runs one attempt's handler (see
 * `Thread.ts`): imports the handler from the module `workerData` names,
 * runs it on the input with a context of its own, and posts back its output
 * or what it threw. `ctx.softTimeout` aborts when the worker forwards the
 * soft limit; `ctx.progress` and `ctx.lock` are not available in a thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { pino } from "pino";
import type { TaskRef } from "./Canvas.ts";
import { TaskFailure, toErrorInfo } from "./Errors.ts";
import type { BoundHandler, TaskContext } from "./Handler.ts";
import { SoftTimeLimitExceeded } from "./SoftTimeout.ts";
import { failureInfo } from "./TaskErrors.ts";
import type { ThreadError } from "./Thread.ts";

interface Data {
  readonly module: string;
  readonly export: string;
  readonly task: string;
  readonly input: unknown;
  readonly logLevel: string;
  // the context's plain-data fields (structured-cloned into the thread)
  readonly ctx: Pick<
    TaskContext,
    | "runId"
    | "nodeId"
    | "task"
    | "attempt"
    | "idempotencyKey"
    | "rootRunId"
    | "parentNodeIds"
    | "queue"
    | "priority"
    | "attemptsLeft"
    | "headers"
  > & {
    readonly deadline?: number;
  };
}

const data = workerData as Data;
const port = parentPort!;

const unavailable = (what: string) => async (): Promise<never> => {
  throw new Error(
    `${what} is not available in a handler that runs in a thread (isolate: "thread")`,
  );
};

/**
 * What the handler threw, as the worker records it: a declared error of the
 * task encoded by its schema, structured data kept (see `failureInfo`), and
 * a `TaskFailure`'s retry delay.
 */
const errorOf = (task: TaskRef | undefined, e: unknown): ThreadError => {
  const info = task === undefined ? toErrorInfo(e) : failureInfo(task, e);
  const after = e instanceof TaskFailure ? e.retryAfterMs : undefined;
  return {
    tag: info.tag,
    message: info.message,
    retryable: info.retryable,
    ...(info.stack === undefined ? {} : { stack: info.stack }),
    ...(info.data === undefined ? {} : { data: info.data }),
    ...(after === undefined ? {} : { retryAfterMs: after }),
  };
};

let task: TaskRef | undefined;

const main = async () => {
  const mod = (await import(data.module)) as Record<string, unknown>;
  const exported = mod[data.export];
  const list = (Array.isArray(exported) ? exported : [exported]) as BoundHandler[];
  const handler = list.find((h) => h?.task?.name === data.task);
  task = handler?.task;
  if (!handler)
    throw new Error(
      `module ${data.module} has no handler for task "${data.task}" in its export "${data.export}"`,
    );
  const soft = new AbortController();
  port.on("message", (m: { kind?: string; ms?: number }) => {
    if (m.kind === "soft" && !soft.signal.aborted)
      soft.abort(new SoftTimeLimitExceeded({ softTimeoutMs: m.ms ?? 0 }));
  });
  const log = pino({ level: data.logLevel }).child({
    runId: data.ctx.runId,
    nodeId: data.ctx.nodeId,
    task: data.ctx.task,
    attempt: data.ctx.attempt,
    thread: true,
  });
  const ctx: TaskContext = {
    ...data.ctx,
    signal: new AbortController().signal, // the worker terminates the thread instead
    softTimeout: soft.signal,
    log,
    progress: unavailable("ctx.progress"),
    lock: unavailable("ctx.lock"),
    addToChord: unavailable("ctx.addToChord"),
  };
  return handler.run(data.input, ctx);
};

main().then(
  (value) => port.postMessage({ ok: true, value }),
  (e: unknown) => port.postMessage({ ok: false, error: errorOf(task, e) }),
);
