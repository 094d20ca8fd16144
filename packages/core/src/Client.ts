/**
 * The client: submits canvases and reads runs back, typed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { shapeValue } from "./Args.ts";
import type { Canvas, TaskRef } from "./Canvas.ts";
import { decode } from "./Codec.ts";
import { compile, type Dag, flatten } from "./Dag.ts";
import {
  MissingResult,
  missingResultInfo,
  ResultTimeout,
  ResultUndecodable,
  RunFailed,
  RunNotFound,
  type Settled,
} from "./Errors.ts";
import { type EventsOptions, followEvents, watchRun } from "./EventStream.ts";
import type { WeftEvent } from "./Events.ts";
import { fingerprint } from "./Fingerprint.ts";
import type { RunRecord } from "./Machine.ts";
import type { IdempotencyReuse, RunSnapshot, Store } from "./Store.ts";
import { decodeWith } from "./Task.ts";

/** Options of one submission. Durations are ms. */
export interface SubmitOptions {
  /**
   * The run's id; default a new time-ordered id. Submitting the same canvas
   * and input again under the same id returns that run (`existing: true`),
   * so a caller that retries after an error with the id it chose never runs
   * the work twice; another canvas or input under a taken id is a
   * `DuplicateRun`.
   */
  readonly runId?: string;
  /**
   * A second submission with the same key within the window returns the
   * first run while that run exists (once it expired after its retention,
   * the key is free). The same key with another canvas or input is an
   * `IdempotencyConflict` naming the existing run.
   */
  readonly idempotencyKey?: string;
  /** Window of the idempotency key. Default 24 h. */
  readonly idempotencyWindowMs?: number;
  /**
   * What a key whose run ended failed or was cancelled does:
   * `"return-existing"` (default) returns that run; `"allow-if-failed"`
   * starts a new run and moves the key to it (Temporal's
   * ALLOW_DUPLICATE_FAILED_ONLY).
   */
  readonly idempotencyReuse?: IdempotencyReuse;
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
   * Waits for the run to end and returns its typed output, decoded with the
   * run's own stored DAG (its output shape and each node's task, whose
   * schema is looked up by name in this handle's canvas).
   *
   * By default it rejects as soon as the run is failed or cancelled, while
   * nodes that were already running may still be finishing; with
   * `waitForQuiet: true` it waits until every node has ended first.
   *
   * @throws RunFailed when the run ends failed or cancelled.
   * @throws ResultTimeout after `timeout` ms (default 60 000).
   * @throws RunNotFound at once when the run does not exist (or expired).
   * @throws ResultUndecodable when a node's task is not in this canvas or its bytes do not decode.
   */
  result(opts?: { readonly timeout?: number; readonly waitForQuiet?: boolean }): Promise<Out>;
  /** The run's record (status, counts, timestamps). */
  status(): Promise<RunRecord>;
  /**
   * The run's events (docs/events.md), from the oldest the store keeps, then
   * live, ending after its `run-ended` event; `signal` stops it early.
   *
   * @example
   * for await (const e of run.watch()) console.log(e.kind, "nodeId" in e ? e.nodeId : "")
   *
   * @throws RunNotFound when the run does not exist.
   */
  watch(opts?: { readonly signal?: AbortSignal }): AsyncIterable<WeftEvent>;
}

/** A client bound to a store. */
export interface Client {
  /**
   * Compiles and submits a canvas. Safe to retry: see {@link SubmitOptions.runId}
   * and {@link SubmitOptions.idempotencyKey}.
   *
   * @throws InvalidCanvas / InvalidInput before anything is written.
   * @throws DuplicateRun when `runId` names a run of another canvas or input.
   * @throws IdempotencyConflict when the key names a run of another canvas or input.
   */
  submit<Out>(canvas: Canvas<unknown, Out>, opts?: SubmitOptions): Promise<RunHandle<Out>>;
  /** The run with every node. @throws RunNotFound */
  get(runId: string): Promise<RunSnapshot>;
  /** Cancels a run; false when it had already ended. */
  cancel(runId: string): Promise<boolean>;
  /**
   * Node and run events (docs/events.md), of every run or of `opts.runId`,
   * from `opts.after` (default the oldest kept), then live until
   * `opts.signal` aborts or the loop breaks.
   *
   * @example
   * const ac = new AbortController()
   * for await (const e of client.events({ signal: ac.signal })) if (e.kind === "failed") alert(e)
   *
   * @throws InvalidEventCursor when `opts.after` is not a cursor of the store.
   */
  events(opts?: EventsOptions): AsyncIterable<WeftEvent>;
  /** The events of run `runId` until it ends: see {@link RunHandle.watch}. */
  watch(runId: string, opts?: { readonly signal?: AbortSignal }): AsyncIterable<WeftEvent>;
}

/** Creates a client. `now` is the clock (epoch ms). */
export const createClient = (store: Store, now: () => number = Date.now): Client => {
  const get = async (runId: string) => {
    const snap = await store.getRun(runId);
    if (!snap) throw new RunNotFound({ runId });
    return snap;
  };

  // decodes with the run's own stored shape and task names; the handle's
  // canvas only supplies schemas, looked up by task name
  const output = async (runId: string, dag: Dag): Promise<unknown> => {
    const snap = await get(runId);
    const shape = snap.output ?? dag.output;
    const tasks = tasksByName(dag.tasks);
    const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
    const outcomes = new Map<number, Settled<unknown>>();
    for (const id of flatten(shape)) {
      const node = nodes.get(id);
      if (!node) {
        throw new ResultUndecodable({ runId, nodeId: id, reason: "the run has no such node" });
      }
      if (node.state !== "succeeded") {
        outcomes.set(id, {
          ok: false,
          error: node.error ?? missingResultInfo(`node ${id} ${node.state}`),
        });
        continue;
      }
      const task = tasks.get(node.spec.task);
      if (!task) {
        throw new ResultUndecodable({
          runId,
          nodeId: id,
          reason: `it ran task "${node.spec.task}", which this canvas does not have; read the run with client.get(${JSON.stringify(runId)}) and decode it with that task's output schema`,
        });
      }
      if (task === "ambiguous") {
        throw new ResultUndecodable({
          runId,
          nodeId: id,
          reason: `this canvas has several tasks named "${node.spec.task}" with different output schemas`,
        });
      }
      const bytes = await store.getResult(runId, id);
      if (bytes === undefined) {
        throw new ResultUndecodable({ runId, nodeId: id, reason: "no result is recorded" });
      }
      let value: unknown;
      try {
        value = decode(bytes);
      } catch (e) {
        throw new ResultUndecodable({
          runId,
          nodeId: id,
          reason: `the recorded bytes are not msgpack (${e instanceof Error ? e.message : String(e)})`,
        });
      }
      const decoded = decodeWith(task.output, value);
      if (!decoded.ok) {
        throw new ResultUndecodable({
          runId,
          nodeId: id,
          reason: `it does not match the output schema of task "${task.name}": ${decoded.detail}`,
        });
      }
      outcomes.set(id, { ok: true, value: decoded.value });
    }
    try {
      return shapeValue(shape, (id) => outcomes.get(id)!);
    } catch (e) {
      // a node of a succeeded run that did not succeed: the store's records disagree
      if (!(e instanceof MissingResult)) throw e;
      throw new ResultUndecodable({ runId, nodeId: e.nodeId, reason: e.message });
    }
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
        ...(opts.idempotencyReuse === undefined ? {} : { idempotencyReuse: opts.idempotencyReuse }),
        retentionMs: opts.retentionMs ?? 7 * 86_400_000,
        now: now(),
        fingerprint: fingerprint(dag),
        nonce: randomBytes(8).toString("hex"),
      });
      const runId = res.runId;
      return {
        runId,
        existing: res.existing,
        status: async () => (await get(runId)).run,
        watch: (o = {}) => watchRun(store, runId, o),
        result: async ({ timeout = 60_000, waitForQuiet = false } = {}) => {
          const run = await store.waitForRun(runId, timeout, { quiet: waitForQuiet });
          if (!run) throw new ResultTimeout({ runId, timeoutMs: timeout });
          if (run.status !== "succeeded")
            throw new RunFailed({ runId, status: run.status, error: run.error });
          return (await output(runId, dag)) as Out;
        },
      };
    },
    get,
    cancel: (runId) => store.cancel(runId, { now: now() }),
    events: (opts = {}) => followEvents(store, opts),
    watch: (runId, opts = {}) => watchRun(store, runId, opts),
  };
};

/** Tasks by name; a name shared by tasks with different output schemas is ambiguous. */
const tasksByName = (tasks: ReadonlyArray<TaskRef>): Map<string, TaskRef | "ambiguous"> => {
  const out = new Map<string, TaskRef | "ambiguous">();
  for (const t of tasks) {
    const seen = out.get(t.name);
    if (seen === undefined) out.set(t.name, t);
    else if (seen !== "ambiguous" && seen !== t && seen.output !== t.output)
      out.set(t.name, "ambiguous");
  }
  return out;
};
