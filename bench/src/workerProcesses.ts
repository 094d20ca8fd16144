/**
 * `BENCH_PROCESSES=N`: a system's workers in N child processes instead of the
 * bench process. Each child runs a system's worker entry (`weftWorker.ts`,
 * `bullmqWorker.ts`) through tsx, with this process's `--conditions` (none
 * by default: Weft's built packages, as an installed user runs them), and talks
 * to this process over the IPC channel: it reports finished tasks (in
 * batches), failures and latency-task starts to the instance's tracker, and
 * answers usage requests with its CPU time and client-side command counts,
 * so that the bench process can take before/after differences as it does for
 * itself. The protocol's messages are {@link ToParent} and {@link ToChild}.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { InstanceOptions, RemoteUsage } from "./system.ts";

/** What a worker process needs, passed as JSON in `BENCH_CHILD`. */
export interface ChildOptions {
  readonly url: string;
  readonly prefix: string | undefined;
  readonly workers: number;
  readonly concurrency: number;
}

/** Messages from a worker process. */
export type ToParent =
  | { readonly t: "ready" }
  | { readonly t: "hits"; readonly n: number }
  | { readonly t: "fail"; readonly message: string }
  | { readonly t: "started"; readonly i: number; readonly at: number }
  | {
      readonly t: "usage";
      readonly id: number;
      readonly cpuMs: number;
      readonly counts: ReadonlyArray<readonly [string, number]>;
    };

/** Messages to a worker process. */
export type ToChild = { readonly t: "usage"; readonly id: number } | { readonly t: "stop" };

/**
 * Node's arguments for a bench child running a `.ts` entry through tsx: this
 * process's `--conditions` (none from `npm run bench`, so that Weft resolves
 * to its built `dist/`; `--conditions=@weft/source` when the bench itself
 * was started on the sources), then tsx.
 */
export const childNodeArgs = (file: string): string[] => [
  ...process.execArgv.filter((a) => a.startsWith("--conditions")),
  "--import",
  "tsx",
  file,
];

/** Time a worker process gets to start (tsx compiles its sources), ms. */
const READY_TIMEOUT_MS = 60_000;

/** The worker processes of one instance. */
export class WorkerProcesses {
  private nextId = 0;
  private readonly answers = new Map<number, RemoteUsage[]>();
  private readonly waiting = new Map<
    number,
    { resolve: (u: RemoteUsage) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly children: ReadonlyArray<ChildProcess>) {}

  /**
   * Spawns `opts.processes` processes of `entry` (a file next to this one)
   * and resolves when every one has its workers running; rejects when one
   * exits or is not ready within a minute (the others are killed).
   */
  static async start(entry: string, opts: InstanceOptions): Promise<WorkerProcesses> {
    const file = fileURLToPath(new URL(entry, import.meta.url));
    const child: ChildOptions = {
      url: opts.url,
      prefix: opts.prefix,
      workers: opts.workers,
      concurrency: opts.concurrency,
    };
    const children = Array.from({ length: opts.processes }, () =>
      spawn(process.execPath, childNodeArgs(file), {
        env: { ...process.env, BENCH_CHILD: JSON.stringify(child) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    const procs = new WorkerProcesses(children);
    const tracker = opts.tracker;
    const ready = children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`worker process ${entry} not ready after 60 s`)),
            READY_TIMEOUT_MS,
          );
          c.once("exit", (code, signal) => {
            clearTimeout(timer);
            const why = `worker process ${entry} exited (${signal ?? code})`;
            reject(new Error(why));
            tracker.fail(new Error(why));
            for (const w of procs.waiting.values()) w.reject(new Error(why));
            procs.waiting.clear();
          });
          c.on("message", (raw) => {
            const m = raw as ToParent;
            switch (m.t) {
              case "ready":
                clearTimeout(timer);
                resolve();
                return;
              case "hits":
                tracker.hit(m.n);
                return;
              case "fail":
                tracker.fail(new Error(m.message));
                return;
              case "started":
                tracker.started(m.i, m.at);
                return;
              case "usage":
                procs.answer(m);
                return;
            }
          });
        }),
    );
    try {
      await Promise.all(ready);
    } catch (e) {
      await procs.close();
      throw e;
    }
    return procs;
  }

  private answer(m: Extract<ToParent, { t: "usage" }>): void {
    const got = this.answers.get(m.id) ?? [];
    got.push({ cpuMs: m.cpuMs, counts: new Map(m.counts) });
    this.answers.set(m.id, got);
    if (got.length < this.children.length) return;
    this.answers.delete(m.id);
    const counts = new Map<string, number>();
    for (const u of got) for (const [k, v] of u.counts) counts.set(k, (counts.get(k) ?? 0) + v);
    this.waiting.get(m.id)?.resolve({ cpuMs: got.reduce((a, u) => a + u.cpuMs, 0), counts });
    this.waiting.delete(m.id);
  }

  /**
   * CPU and command counts of all worker processes so far; each first sends
   * the finished tasks it still holds. Rejects when a process has exited.
   */
  usage(): Promise<RemoteUsage> {
    const id = this.nextId++;
    if (this.children.some((c) => !c.connected)) {
      return Promise.reject(new Error("a worker process has exited"));
    }
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      for (const c of this.children) c.send({ t: "usage", id } satisfies ToChild);
    });
  }

  /** Asks every process to stop its workers and exit, and waits for the exits (kills after 10 s). */
  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill("SIGKILL"), 10_000);
            c.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            if (c.connected) c.send({ t: "stop" } satisfies ToChild);
            else c.kill("SIGTERM");
          }),
      ),
    );
  }
}
