/**
 * The entry of a worker thread that runs one attempt's handler (see
 * `Thread.ts`): imports the handler from the module `workerData` names,
 * runs it on the input with a context of its own, and posts back its output
 * or what it threw. `ctx.softTimeout` aborts when the worker forwards the
 * soft limit; `ctx.progress` and `ctx.lock` are not available in a thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { pino } from "pino";
import type { BoundHandler, TaskContext } from "./Handler.ts";
import { SoftTimeLimitExceeded } from "./SoftTimeout.ts";

interface Data {
  readonly module: string;
  readonly export: string;
  readonly task: string;
  readonly input: unknown;
  readonly logLevel: string;
  readonly ctx: Pick<TaskContext, "runId" | "nodeId" | "task" | "attempt" | "idempotencyKey"> & {
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

const errorOf = (e: unknown) => {
  if (!(e instanceof Error))
    return {
      tag: "NonErrorThrown",
      message: `handler threw a non-Error value: ${String(e)}`,
      retryable: true,
    };
  const tagged = (e as { _tag?: unknown })._tag;
  const flag = (e as { retryable?: unknown }).retryable;
  return {
    tag: typeof tagged === "string" ? tagged : e.name || "Error",
    message: e.message,
    ...(e.stack === undefined ? {} : { stack: e.stack }),
    ...(typeof flag === "boolean" ? { retryable: flag } : {}),
  };
};

const main = async () => {
  const mod = (await import(data.module)) as Record<string, unknown>;
  const exported = mod[data.export];
  const list = (Array.isArray(exported) ? exported : [exported]) as BoundHandler[];
  const handler = list.find((h) => h?.task?.name === data.task);
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
  };
  return handler.run(data.input, ctx);
};

main().then(
  (value) => port.postMessage({ ok: true, value }),
  (e: unknown) => port.postMessage({ ok: false, error: errorOf(e) }),
);
