/**
 * The client: submits canvases and reads runs back, typed.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto";
import { type Outcome, shapeValue } from "./Args.ts";
import type { Canvas } from "./Canvas.ts";
import { decode } from "./Codec.ts";
import { compile, type Dag, flatten } from "./Dag.ts";
import { ResultTimeout, RunFailed, RunNotFound } from "./Errors.ts";
import type { RunRecord } from "./Machine.ts";
import type { RunSnapshot, Store } from "./Store.ts";
import { decodeWith } from "./Task.ts";

/** Options of one submission. Durations are ms. */
export interface SubmitOptions {
  /** The run's id; default a new time-ordered id. Must be unique (use `idempotencyKey` to deduplicate). */
  readonly runId?: string;
  /** A second submission with the same key within the window returns the first run. */
  readonly idempotencyKey?: string;
  /** Window of the idempotency key. Default 24 h. */
  readonly idempotencyWindowMs?: number;
  /** How long the run is kept after it ends. Default 7 days. */
  readonly retentionMs?: number;
  readonly tags?: ReadonlyArray<string>;
}

/** A submitted run. */
export interface RunHandle<Out> {
  readonly runId: string;
  /** True when an idempotency key matched an earlier run. */
  readonly existing: boolean;
  /**
   * Waits for the run to end and returns its typed output.
   *
   * @throws RunFailed when the run ends failed or cancelled.
   * @throws ResultTimeout after `timeout` ms (default 60 000).
   */
  result(opts?: { readonly timeout?: number }): Promise<Out>;
  /** The run's record (status, counts, timestamps). */
  status(): Promise<RunRecord>;
}

/** A client bound to a store. */
export interface Client {
  /**
   * Compiles and submits a canvas.
   *
   * @throws InvalidCanvas / InvalidInput before anything is written.
   */
  submit<Out>(canvas: Canvas<unknown, Out>, opts?: SubmitOptions): Promise<RunHandle<Out>>;
  /** The run with every node. @throws RunNotFound */
  get(runId: string): Promise<RunSnapshot>;
  /** Cancels a run; false when it had already ended. */
  cancel(runId: string): Promise<boolean>;
}

/** Creates a client. `now` is the clock (epoch ms). */
export const createClient = (store: Store, now: () => number = Date.now): Client => {
  const get = async (runId: string) => {
    const snap = await store.getRun(runId);
    if (!snap) throw new RunNotFound({ runId });
    return snap;
  };

  const output = async (runId: string, dag: Dag): Promise<unknown> => {
    const snap = await get(runId);
    const outcomes = new Map<number, Outcome>();
    for (const id of flatten(dag.output)) {
      const node = snap.nodes[id]!;
      if (node.state !== "succeeded") {
        outcomes.set(id, {
          ok: false,
          error: node.error ?? { tag: node.state, message: `node ${node.state}`, retryable: false },
        });
        continue;
      }
      const bytes = await store.getResult(runId, id);
      const decoded =
        bytes === undefined ? undefined : decodeWith(dag.tasks[id]!.output, decode(bytes));
      if (!decoded?.ok) throw new Error(`result of node ${id} cannot be decoded`);
      outcomes.set(id, { ok: true, value: decoded.value });
    }
    return shapeValue(dag.output, (id) => outcomes.get(id)!);
  };

  return {
    submit: async <Out>(canvas: Canvas<unknown, Out>, opts: SubmitOptions = {}) => {
      const dag = compile(canvas);
      const res = await store.submit({
        runId: opts.runId ?? `${now().toString(36)}-${randomUUID().slice(0, 13).replace("-", "")}`,
        dag,
        tags: opts.tags ?? [],
        ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
        idempotencyWindowMs: opts.idempotencyWindowMs ?? 86_400_000,
        retentionMs: opts.retentionMs ?? 7 * 86_400_000,
        now: now(),
      });
      const runId = res.runId;
      return {
        runId,
        existing: res.existing,
        status: async () => (await get(runId)).run,
        result: async ({ timeout = 60_000 } = {}) => {
          const run = await store.waitForRun(runId, timeout);
          if (!run) throw new ResultTimeout({ runId, timeoutMs: timeout });
          if (run.status !== "succeeded")
            throw new RunFailed({ runId, status: run.status, error: run.error });
          return (await output(runId, dag)) as Out;
        },
      };
    },
    get,
    cancel: (runId) => store.cancel(runId, { now: now() }),
  };
};
