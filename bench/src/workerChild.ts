/**
 * The child side of `workerProcesses.ts`, shared by the worker entries
 * (`weftWorker.ts`, `bullmqWorker.ts`): reads the options, reports to the
 * bench process over IPC, answers its usage requests and stops on request.
 */
import type { TaskReporter } from "./system.ts";
import type { ChildOptions, ToChild, ToParent } from "./workerProcesses.ts";

const send = (m: ToParent): void => {
  process.send?.(m);
};

/** The options the bench process passed in `BENCH_CHILD`. */
export const childOptions = (): ChildOptions => {
  const raw = process.env.BENCH_CHILD;
  if (!raw || !process.send) throw new Error("a bench worker process is spawned by the bench");
  return JSON.parse(raw) as ChildOptions;
};

let hits = 0;
let flushing = false;
const flush = () => {
  flushing = false;
  if (hits === 0) return;
  send({ t: "hits", n: hits });
  hits = 0;
};

/**
 * Reports to the bench process: finished tasks once per turn of the event
 * loop (one message per batch), failures and latency-task starts at once.
 */
export const reporter: TaskReporter = {
  hit: (n = 1) => {
    hits += n;
    if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  },
  fail: (error) => {
    flush();
    send({ t: "fail", message: error.message });
  },
  started: (i, at) => send({ t: "started", i, at }),
};

/**
 * Tells the bench process the workers run, then answers usage requests with
 * this process's CPU and `counts()`, and on `stop` runs `stop` and exits.
 */
export const serve = (
  counts: () => ReadonlyMap<string, number>,
  stop: () => Promise<void>,
): void => {
  let stopping = false;
  const exit = () => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.on("message", (raw) => {
    const m = raw as ToChild;
    if (m.t === "usage") {
      flush();
      const cpu = process.cpuUsage();
      send({ t: "usage", id: m.id, cpuMs: (cpu.user + cpu.system) / 1_000, counts: [...counts()] });
    } else if (m.t === "stop") {
      flush();
      exit();
    }
  });
  // the bench process is gone: stop too
  process.on("disconnect", exit);
  send({ t: "ready" });
};
