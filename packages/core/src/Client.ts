/**
 * The client: submits canvases and reads runs back, typed.
 */
import { randomFillSync } from "node:crypto";
import { Schema } from "effect";
import { shapeValue } from "./Args.ts";
import {
  type Canvas,
  type CanvasNode,
  MAX_TIMER_MS,
  signature,
  type TaskOptions,
  type TaskRef,
} from "./Canvas.ts";
import { decode } from "./Codec.ts";
import { compile, type Dag, type DagNode, flatten, type Shape } from "./Dag.ts";
import { described } from "./Described.ts";
import {
  InvalidCanvas,
  InvalidInput,
  InvalidSubmitOptions,
  InvalidWaitOptions,
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
import { encodeHeaders, type RunHeaders } from "./Headers.ts";
import type { NodeState, Progress, RedriveRefusal, RunRecord, RunStatus } from "./Machine.ts";
import { RedriveRefused, type RedriveRequest } from "./Redrive.ts";
import {
  checkStore,
  type IdempotencyReuse,
  type RunOutput,
  type RunSnapshot,
  type Store,
  type Submission,
} from "./Store.ts";
import { type AnyTask, checkTaskName, decodeWith, type OutputOf } from "./Task.ts";
import { failureOf } from "./TaskErrors.ts";

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
  /**
   * Holds the run's nodes for this many ms from now: its roots wait in
   * their queues' delayed sets (in the store, never in a worker's memory)
   * until then (Celery's `countdown`, BullMQ's `delay`, Temporal's start
   * delay). A finite number ≥ 0. Not with `at`.
   */
  readonly delayMs?: number;
  /** Holds the run's nodes until this time: epoch ms or a `Date` (Celery's `eta`). Not with `delayMs`. */
  readonly at?: number | Date;
  /**
   * A node of the run not started by this time (epoch ms or a `Date`) ends
   * `expired`: its dependents are skipped and the run fails with an
   * `Expired` error (Celery's `expires`). Running nodes finish. Not with `expiresInMs`.
   */
  readonly expiresAt?: number | Date;
  /** As `expiresAt`, this many ms from now: a finite number ≥ 1. */
  readonly expiresInMs?: number;
  /**
   * Metadata for the run's handlers (Celery's `apply_async(headers=...)`):
   * a plain object of plain data, at most `MAX_HEADERS_BYTES` (8 KiB)
   * msgpack-encoded, stored once with the run and visible to every node as
   * `ctx.headers`. Not part of the run's fingerprint: an idempotent resubmit
   * with other headers returns the first run, with its headers.
   */
  readonly headers?: RunHeaders;
}

/**
 * Options of a submission by task name ({@link Client.submitByName}): those
 * of {@link SubmitOptions}, and the options a declaration would give the
 * node, since the producer has none. Unset `retry` fields and `timeoutMs`
 * come from the declaration of the worker that runs the node (then the
 * worker's defaults); `queue` and `priority` are fixed here, at submit.
 * The time options (`delayMs`, `at`, `expiresAt`, `expiresInMs`) are the
 * run's, as in {@link SubmitOptions}: for a one-node run they hold its node.
 */
export interface SubmitByNameOptions
  extends SubmitOptions,
    Omit<TaskOptions, "delayMs" | "notBefore" | "expiresAt" | "expiresInMs"> {}

/**
 * A run's progress as a status endpoint shows it: its status, how many of
 * its nodes ended, and each node's state, attempts and last reported
 * progress (only while it runs: a store drops it when the node ends).
 */
export interface RunProgress {
  readonly runId: string;
  readonly status: RunStatus;
  /** Number of nodes. */
  readonly total: number;
  /** Nodes in a terminal state. */
  readonly ended: number;
  /** Every node in id order. */
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly task: string;
    readonly state: NodeState;
    /** Attempts started so far. */
    readonly attempts: number;
    /** What the handler last reported through `ctx.progress`, while the node runs. */
    readonly progress?: Progress;
  }>;
}

/**
 * The run's own time limits from submit options, epoch ms.
 *
 * @throws InvalidSubmitOptions naming the option when `delayMs` is not a
 *   finite number ≥ 0, `expiresInMs` not one ≥ 1, `at` not a finite epoch
 *   ms ≥ 0, `expiresAt` not one ≥ 1 (or either not a valid `Date`), or both of `delayMs` and `at`
 *   (or of `expiresAt` and `expiresInMs`) are given.
 */
export const runTiming = (
  opts: SubmitOptions,
  now: number,
): { readonly notBefore?: number; readonly expiresAt?: number } => {
  const refuse = (option: string, value: unknown, allowed: string): never => {
    throw new InvalidSubmitOptions({
      reason: `option ${option} must be ${allowed}, got ${value instanceof Date ? "an invalid Date" : String(value)}`,
    });
  };
  const ms = (option: string, v: unknown, min: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === "number" && Number.isFinite(v) && v >= min) return v;
    return refuse(option, v, `a finite number of ms ≥ ${min}`);
  };
  const time = (option: string, v: unknown, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const t = v instanceof Date ? v.getTime() : v;
    if (typeof t === "number" && Number.isFinite(t) && t >= min) return t;
    return refuse(option, v, `an epoch ms ≥ ${min} or a valid Date`);
  };
  if (opts.delayMs !== undefined && opts.at !== undefined)
    throw new InvalidSubmitOptions({ reason: "give one of delayMs and at, not both" });
  if (opts.expiresAt !== undefined && opts.expiresInMs !== undefined)
    throw new InvalidSubmitOptions({ reason: "give one of expiresAt and expiresInMs, not both" });
  const delay = ms("delayMs", opts.delayMs, 0);
  const expiresIn = ms("expiresInMs", opts.expiresInMs, 1);
  const notBefore = delay === undefined ? time("at", opts.at, 0) : now + delay;
  const expiresAt =
    expiresIn === undefined ? time("expiresAt", opts.expiresAt, 1) : now + expiresIn;
  return {
    ...(notBefore === undefined || notBefore <= now ? {} : { notBefore }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
};

/**
 * Checks the submit options that are not times (see {@link runTiming}): a
 * JavaScript caller gets no type check, and the store would take a bad one
 * as it is (a `NaN` retention, a string for tags) or fail with a raw error.
 *
 * @throws InvalidSubmitOptions naming the option when `opts` is not an
 *   object, `runId` or `idempotencyKey` is not a non-empty string,
 *   `idempotencyWindowMs` or `retentionMs` not an integer of ms ≥ 0,
 *   `idempotencyReuse` not `"return-existing"` or `"allow-if-failed"`, or
 *   `tags` not an array of non-empty strings.
 */
const checkRunOptions = (opts: SubmitOptions): void => {
  const refuse = (option: string, value: unknown, allowed: string): never => {
    throw new InvalidSubmitOptions({
      reason: `option ${option} must be ${allowed}, got ${described(value)}`,
    });
  };
  if (typeof opts !== "object" || opts === null || Array.isArray(opts))
    throw new InvalidSubmitOptions({
      reason: `the options must be an object ({ idempotencyKey, delayMs, ... }), got ${described(opts)}`,
    });
  const o = opts as Record<keyof SubmitOptions, unknown>;
  for (const k of ["runId", "idempotencyKey"] as const)
    if (o[k] !== undefined && !(typeof o[k] === "string" && o[k] !== ""))
      refuse(k, o[k], "a non-empty string");
  for (const k of ["idempotencyWindowMs", "retentionMs"] as const)
    if (o[k] !== undefined && !(Number.isSafeInteger(o[k]) && (o[k] as number) >= 0))
      refuse(k, o[k], "an integer number of ms ≥ 0");
  const reuse = o.idempotencyReuse;
  if (reuse !== undefined && reuse !== "return-existing" && reuse !== "allow-if-failed")
    refuse("idempotencyReuse", reuse, `"return-existing" or "allow-if-failed"`);
  const tags = o.tags;
  if (tags === undefined) return;
  if (!Array.isArray(tags)) refuse("tags", tags, "an array of non-empty strings");
  (tags as unknown[]).forEach((t, i) => {
    if (!(typeof t === "string" && t !== "")) refuse(`tags[${i}]`, t, "a non-empty string");
  });
};

/** Random bytes are drawn from a pool of this many, refilled when used up. */
const RANDOM_POOL = 4_096;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

/**
 * `bytes` random bytes (at most {@link RANDOM_POOL}) as lowercase hex, from
 * a pool of entropy filled 4 KiB at a time (as Node's `randomUUID` does:
 * `randomBytes` asks the system on every call), each byte used once.
 */
const randomHex = (bytes: number): string => {
  if (randomAt + bytes > randomPool.length) {
    randomPool = randomFillSync(Buffer.allocUnsafe(RANDOM_POOL));
    randomAt = 0;
  }
  randomAt += bytes;
  return randomPool.toString("hex", randomAt - bytes, randomAt);
};

/** The timing of a submission without time options. */
const NO_TIMING: ReturnType<typeof runTiming> = {};

/** A submitted run, or one reattached by id with {@link Client.handle}. */
export interface RunHandle<Out> {
  readonly runId: string;
  /**
   * True when an idempotency key or the run id matched an earlier run; always
   * true for a handle from {@link Client.handle}.
   */
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
   * @throws InvalidWaitOptions at once when `timeout` is not a number of ms
   *   from 0 to `MAX_TIMER_MS` (about 24.8 days), or `waitForQuiet` not a boolean.
   * @throws RunNotFound at once when the run does not exist (or expired).
   * @throws ResultUndecodable when a node's task is not in this canvas or its bytes do not decode.
   */
  result(opts?: { readonly timeout?: number; readonly waitForQuiet?: boolean }): Promise<Out>;
  /** The run's record (status, counts, timestamps). @throws RunNotFound */
  status(): Promise<RunRecord>;
  /** The run's status and each node's state and reported progress. @throws RunNotFound */
  progress(): Promise<RunProgress>;
  /**
   * Cancels the run (queued nodes cancelled, running handlers signalled);
   * false when it had already ended.
   */
  cancel(): Promise<boolean>;
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
   * @throws InvalidCanvas / InvalidInput / InvalidSubmitOptions before anything is written.
   * @throws DuplicateRun when `runId` names a run of another canvas or input.
   * @throws IdempotencyConflict when the key names a run of another canvas or input.
   */
  submit<Out>(canvas: Canvas<unknown, Out>, opts?: SubmitOptions): Promise<RunHandle<Out>>;
  /**
   * Submits a one-node run of the task named `task` on `input`, without its
   * declaration: another service starts work knowing only the task's name
   * (Celery's `send_task`). The input is checked here only for being plain
   * data; the worker that runs the node decodes it with its registered
   * task's input schema and fails the node, without retrying, with an
   * `InvalidInput` naming the path of each bad field (the worker goes on).
   * The node goes to `opts.queue` (default `"default"`: give the queue the
   * task's declaration routes it to); until a worker with the task serves
   * that queue, it waits. The result is the output as the worker encoded
   * it (`unknown`): reattach with `handle(runId, task)` where the
   * declaration is known to get it decoded and typed.
   *
   * @throws InvalidCanvas when `task` is not 1–128 characters of
   *   `[A-Za-z0-9_.:-]` or an option is out of range (naming the option).
   * @throws InvalidInput when `input` is not plain data (a function, a
   *   class instance, a cycle, nested too deeply), before anything is written.
   * @throws DuplicateRun / IdempotencyConflict as {@link Client.submit}.
   * @example
   * const run = await client.submitByName("email.send", { to: "ada@example.com" }, {
   *   queue: "emails",
   *   idempotencyKey: "welcome:ada@example.com",
   * })
   */
  submitByName(
    task: string,
    input: unknown,
    opts?: SubmitByNameOptions,
  ): Promise<RunHandle<unknown>>;
  /**
   * Submits many canvases, each its own run (BullMQ's `addBulk`, Celery's
   * bulk `apply_async`), and returns one handle per canvas, in order. The
   * store writes several small runs per round trip (the Redis store: about
   * 250 nodes per call), so this is much cheaper than as many `submit`s.
   *
   * `opts` is one {@link SubmitOptions} for every run, or an array of one
   * per canvas (as addBulk takes each job's own `opts`). Shared options
   * cannot name a `runId` or `idempotencyKey` (each run needs its own):
   * give an array for those.
   *
   * Every canvas is compiled and every option checked first: a refused one
   * rejects the call before anything is written, its error naming the
   * canvas's index (`canvases[3]: ...`) and, for an input, the field path.
   * Each run is then written as `submit` writes it (its own atomic write,
   * idempotency key and run id rules). When one run is refused
   * (`DuplicateRun`, `IdempotencyConflict`) the call rejects with the first
   * such error, in canvas order, after the other runs are written: calling
   * again with the same run ids or idempotency keys returns them
   * (`existing: true`). An empty array returns `[]`.
   *
   * @throws InvalidCanvas / InvalidInput / InvalidSubmitOptions naming the
   *   canvas's index, before anything is written.
   * @throws DuplicateRun / IdempotencyConflict / SubmitInterrupted of the first refused run.
   * @example
   * const runs = await client.submitMany(users.map((u) => sendEmail.si({ to: u.email })))
   * const keyed = await client.submitMany(
   *   orders.map((o) => charge.si(o)),
   *   orders.map((o) => ({ idempotencyKey: `charge:${o.id}` })),
   * )
   */
  submitMany<Out>(
    canvases: ReadonlyArray<Canvas<unknown, Out>>,
    opts?: SubmitOptions | ReadonlyArray<SubmitOptions>,
  ): Promise<ReadonlyArray<RunHandle<Out>>>;
  /**
   * Submits many one-node runs by task name (see {@link Client.submitByName}),
   * as {@link Client.submitMany} submits canvases: one handle per item, in
   * order; every item checked first (an error names `items[i]`), each run
   * written as `submitByName` writes it, the call rejecting with the first
   * refused run's error after the others are written.
   *
   * @throws InvalidCanvas / InvalidInput naming the item's index, before anything is written.
   * @throws DuplicateRun / IdempotencyConflict / SubmitInterrupted of the first refused run.
   * @example
   * await client.submitManyByName(
   *   emails.map((to) => ({ task: "email.send", input: { to }, opts: { queue: "emails" } })),
   * )
   */
  submitManyByName(
    items: ReadonlyArray<{
      readonly task: string;
      readonly input: unknown;
      readonly opts?: SubmitByNameOptions;
    }>,
  ): Promise<ReadonlyArray<RunHandle<unknown>>>;
  /**
   * A handle on a run another process submitted, typed by the canvas (or
   * the one task) it was submitted with: a status endpoint reads a run by
   * id and returns its typed result. The canvas only supplies output
   * schemas, looked up by task name; its bound inputs are neither checked
   * nor used, so any input will do. With a task, the run's output must be
   * one node of that task (a `submitByName` run, or a chain ending in it).
   *
   * @throws RunNotFound when the run does not exist (or expired).
   * @example
   * const run = await client.handle(req.params.id, summarize)
   * return { status: (await run.status()).status, result: await run.result({ timeout: 0 }) }
   */
  handle<Out>(runId: string, canvas: Canvas<unknown, Out>): Promise<RunHandle<Out>>;
  handle<T extends AnyTask>(runId: string, task: T): Promise<RunHandle<OutputOf<T>>>;
  /** The run with every node. @throws RunNotFound */
  get(runId: string): Promise<RunSnapshot>;
  /** Cancels a run; false when it had already ended. */
  cancel(runId: string): Promise<boolean>;
  /**
   * Re-drives a run that ended `failed` or `cancelled` once every node has
   * ended (docs/concepts.md, "Re-driving a run"; Temporal's reset, BullMQ's
   * retry of failed jobs): every succeeded node keeps its result, every
   * node keeps its attempt history, and the failed, skipped, cancelled and
   * expired nodes run again with a fresh retry budget. With `req.input`,
   * the failed node (or `req.node`) runs with that input, validated by
   * `req.task`'s input schema when given.
   *
   * @throws RunNotFound when the run does not exist.
   * @throws RedriveRefused when it has not ended, a node is still running,
   *   it succeeded, or the node to edit does not run again (nothing changed).
   * @throws InvalidInput when the edited input is refused (nothing changed).
   * @example
   * await client.redrive(runId)
   * await client.redrive(runId, { task: charge, input: { cents: 500 } })
   */
  redrive<T extends AnyTask>(runId: string, req?: RedriveRequest<T>): Promise<void>;
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

/**
 * Creates a client on `store` (what `await RedisStore.connect(url)` or `new
 * MemoryStore()` gives). `now` is the clock (epoch ms).
 *
 * @throws InvalidStore when `store` is not a store (a Promise not awaited, an options object).
 * @throws InvalidSubmitOptions when `now` is not a function (a clock, epoch ms).
 */
export const createClient = (store: Store, now: () => number = Date.now): Client => {
  checkStore(store, "createClient");
  if (typeof now !== "function")
    throw new InvalidSubmitOptions({
      reason: `createClient's second argument is its clock, a function returning epoch ms (() => Date.now()), got ${described(now)}`,
    });
  const get = async (runId: string) => {
    const snap = await store.getRun(runId);
    if (!snap) throw new RunNotFound({ runId });
    return snap;
  };

  // decodes with the run's own stored shape and task names; `of` only
  // supplies schemas, looked up by task name
  // the output nodes of the canvas, when its shape is at hand: read with the stored shape
  const expectOf = (of: Decoding): { expect?: ReadonlyArray<number> } => {
    const shape = of.shape;
    if (typeof shape === "function") return {};
    // (a task's or a chain's output: one node)
    if (typeof shape === "number") return ONE_NODE[shape] ?? { expect: [shape] };
    let expect = EXPECTED.get(shape);
    if (expect === undefined) {
      expect = { expect: flatten(shape, false) };
      EXPECTED.set(shape, expect);
    }
    return expect;
  };

  // `read`: the output as the wait read it (Store.waitForOutput), if it did
  const output = async (runId: string, of: Decoding, read?: RunOutput): Promise<unknown> => {
    // the output nodes alone when the store reads them so (Store.getOutput), else the whole run
    const lean =
      read ?? (store.getOutput ? await store.getOutput(runId, expectOf(of).expect) : undefined);
    if ((read || store.getOutput) && !lean) throw new RunNotFound({ runId });
    const snap: RunOutput | RunSnapshot = lean?.output !== undefined ? lean : await get(runId);
    const shape = snap.output ?? (typeof of.shape === "function" ? of.shape() : of.shape);
    const resultOf = (node: RunOutput["nodes"][number]): Promise<Uint8Array | undefined> =>
      snap === lean ? Promise.resolve(node.result) : store.getResult(runId, node.id);
    // the nodes whose outputs form the value (not those an empty group only waits on)
    const ids = flatten(shape, false);
    if (of.single && typeof shape !== "number") {
      throw new ResultUndecodable({
        runId,
        nodeId: ids[0] ?? 0,
        reason: `the run's output is the outputs of ${ids.length} nodes (a group or a chord header), not one task's; reattach with the run's canvas`,
      });
    }
    const tasks = tasksByName(of.tasks);
    const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
    const outcomes = new Map<number, Settled<unknown>>();
    for (const id of ids) {
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
      const bytes = await resultOf(node);
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

  // the failing node's error decoded by the schema its task declares for it (docs/errors.md, "Typed errors")
  const declaredFailure = async (
    runId: string,
    run: RunRecord,
    of: Decoding,
  ): Promise<{ failure?: unknown }> => {
    if (run.error?.data === undefined || run.failedNode === undefined) return {};
    const node = (await store.getRun(runId))?.nodes.find((n) => n.id === run.failedNode);
    const task = node && tasksByName(of.tasks).get(node.spec.task);
    if (task === undefined || task === "ambiguous" || !task.errors?.length) return {};
    const failure = failureOf(task, run.error);
    return failure === undefined ? {} : { failure };
  };

  const handleOf = <Out>(runId: string, existing: boolean, of: Decoding): RunHandle<Out> => ({
    runId,
    existing,
    status: async () => (await get(runId)).run,
    progress: async () => progressOf(await get(runId)),
    cancel: () => store.cancel(runId, { now: now() }),
    watch: (o = {}) => watchRun(store, runId, o),
    result: async ({ timeout = 60_000, waitForQuiet = false } = {}) => {
      // (from JavaScript: a string from an environment variable or NaN would wait forever)
      if (!(typeof timeout === "number" && timeout >= 0 && timeout <= MAX_TIMER_MS))
        throw new InvalidWaitOptions({
          reason: `timeout must be a number of ms from 0 to ${MAX_TIMER_MS}, got ${described(timeout)}`,
        });
      if (typeof waitForQuiet !== "boolean")
        throw new InvalidWaitOptions({
          reason: `waitForQuiet must be true or false, got ${described(waitForQuiet)}`,
        });
      // the output read with the run's last read, where the store can (Store.waitForOutput)
      const waited: { run: RunRecord; output?: RunOutput } | undefined = store.waitForOutput
        ? await store.waitForOutput(runId, timeout, { quiet: waitForQuiet, ...expectOf(of) })
        : await store
            .waitForRun(runId, timeout, { quiet: waitForQuiet })
            .then((run) => (run ? { run } : undefined));
      const run = waited?.run;
      if (!run) throw new ResultTimeout({ runId, timeoutMs: timeout });
      if (run.status !== "succeeded") {
        throw new RunFailed({
          runId,
          status: run.status,
          error: run.error,
          ...(run.failedNode === undefined ? {} : { nodeId: run.failedNode }),
          ...(await declaredFailure(runId, run, of)),
        });
      }
      return (await output(runId, of, waited?.output)) as Out;
    },
  });

  // the submission of a compiled canvas at `at`: checks the options, encodes the headers
  const submission = (dag: Dag, opts: SubmitOptions, at: number): Submission => {
    checkRunOptions(opts);
    // most submissions set no time option: no checks to run, nothing to spread
    const timing =
      opts.delayMs === undefined &&
      opts.at === undefined &&
      opts.expiresAt === undefined &&
      opts.expiresInMs === undefined
        ? NO_TIMING
        : runTiming(opts, at);
    const headers = opts.headers === undefined ? undefined : encodeHeaders(opts.headers);
    // a run id made here, at random (6 bytes: 12 hex digits after the time), names this call:
    // its nonce is "" (Submission.nonce); a run id given needs a nonce of its own (5 bytes)
    const random = randomHex(opts.runId === undefined ? 6 : 5);
    const sub: { -readonly [K in keyof Submission]: Submission[K] } = {
      runId: opts.runId ?? `${at.toString(36)}-${random}`,
      dag,
      tags: opts.tags ?? [],
      idempotencyWindowMs: opts.idempotencyWindowMs ?? 86_400_000,
      retentionMs: opts.retentionMs ?? 7 * 86_400_000,
      now: at,
      // only a run id given or an idempotency key lets another submission meet this run and
      // compare canvases: a random id needs no fingerprint (its hash and 34 bytes per run saved)
      fingerprint:
        opts.runId === undefined && opts.idempotencyKey === undefined ? "" : fingerprint(dag),
      nonce: opts.runId === undefined ? "" : random,
    };
    // the optional fields assigned when set (V8 builds a literal with spreads on a slow path)
    if (timing.notBefore !== undefined) sub.notBefore = timing.notBefore;
    if (timing.expiresAt !== undefined) sub.expiresAt = timing.expiresAt;
    if (headers !== undefined) sub.headers = headers;
    if (opts.idempotencyKey !== undefined) sub.idempotencyKey = opts.idempotencyKey;
    if (opts.idempotencyReuse !== undefined) sub.idempotencyReuse = opts.idempotencyReuse;
    return sub;
  };

  const submitDag = async <Out>(
    dag: Dag,
    opts: SubmitOptions,
    of: Decoding,
  ): Promise<RunHandle<Out>> => {
    const res = await store.submit(submission(dag, opts, now()));
    return handleOf<Out>(res.runId, res.existing, of);
  };

  // the runs of a submitMany call, checked: one handle each, or the first refused run's error
  const submitAll = async <Out>(
    prepared: ReadonlyArray<{ readonly sub: Submission; readonly of: Decoding }>,
  ): Promise<ReadonlyArray<RunHandle<Out>>> => {
    if (prepared.length === 0) return [];
    const results = await store.submitMany(prepared.map((p) => p.sub));
    const handles: Array<RunHandle<Out>> = [];
    for (const r of results) if (!r.ok) throw r.error;
    for (const [i, r] of results.entries())
      if (r.ok) handles.push(handleOf<Out>(r.runId, r.existing, prepared[i]!.of));
    return handles;
  };

  return {
    // async: a canvas that does not compile rejects, never throws synchronously
    submit: async <Out>(canvas: Canvas<unknown, Out>, opts: SubmitOptions = {}) => {
      const dag = compile(canvas);
      return submitDag<Out>(dag, opts, {
        tasks: dag.tasks,
        shape: dag.output,
        single: false,
      });
    },
    submitMany: async <Out>(
      canvases: ReadonlyArray<Canvas<unknown, Out>>,
      opts: SubmitOptions | ReadonlyArray<SubmitOptions> = {},
    ) => {
      if (!Array.isArray(canvases))
        throw new InvalidCanvas({
          reason: `submitMany takes an array of canvases ([t.si(input), ...]), got ${described(canvases)}`,
        });
      const each = optionsOf(canvases.length, opts);
      const at = now();
      // every canvas compiled and every option checked before anything is written
      const prepared = canvases.map((canvas, i) => {
        try {
          const dag = compile(canvas);
          const of: Decoding = { tasks: dag.tasks, shape: dag.output, single: false };
          return { sub: submission(dag, each(i), at), of };
        } catch (e) {
          throw atIndex(e, i);
        }
      });
      return submitAll<Out>(prepared);
    },
    submitByName: async (name, input, opts = {}) => {
      const { dag, opts: submitOpts, ref } = byNameDag(name, input, opts);
      return submitDag<unknown>(dag, submitOpts, { tasks: [ref], shape: 0, single: true });
    },
    submitManyByName: async (items) => {
      if (!Array.isArray(items))
        throw new InvalidCanvas({
          reason: `submitManyByName takes an array of { task, input, opts? }, got ${described(items)}`,
        });
      const at = now();
      const prepared = items.map((item, i) => {
        try {
          if (typeof item !== "object" || item === null)
            throw new InvalidCanvas({
              reason: `not a { task, input, opts? } item, got ${described(item)}`,
            });
          const { dag, opts, ref } = byNameDag(item.task, item.input, item.opts ?? {});
          return {
            sub: submission(dag, opts, at),
            of: { tasks: [ref], shape: 0, single: true },
          };
        } catch (e) {
          throw atIndex(e, i, "items");
        }
      });
      return submitAll<unknown>(prepared);
    },
    handle: (async (runId: string, of: Canvas<unknown, unknown> | AnyTask) => {
      await get(runId); // RunNotFound at once
      const decoding: Decoding = isTask(of)
        ? { tasks: [of], shape: 0, single: true }
        : {
            tasks: tasksOf(of.node),
            // runs written before the output shape was stored: the canvas's own
            shape: () => compile(of).output,
            single: false,
          };
      return handleOf(runId, true, decoding);
    }) as Client["handle"],
    get,
    cancel: (runId) => store.cancel(runId, { now: now() }),
    redrive: (runId, req = {}) => redrive(store, runId, req as RedriveRequest, now()),
    events: (opts = {}) => followEvents(store, opts),
    watch: (runId, opts = {}) => watchRun(store, runId, opts),
  };
};

/**
 * The one-node DAG of a submission by task name, and its run's options:
 * see {@link Client.submitByName}.
 *
 * @throws InvalidCanvas for a bad task name or an unknown or bad option.
 * @throws InvalidInput when the input is not plain data.
 */
const byNameDag = (
  name: string,
  input: unknown,
  opts: SubmitByNameOptions,
): { readonly dag: Dag; readonly opts: SubmitOptions; readonly ref: TaskRef } => {
  checkTaskName(name);
  checkRunOptions(opts);
  const {
    runId,
    idempotencyKey,
    idempotencyWindowMs,
    idempotencyReuse,
    retentionMs,
    tags,
    delayMs,
    at,
    expiresAt,
    expiresInMs,
    headers,
    ...options
  } = opts;
  const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
  if (unknown.length > 0) {
    throw new InvalidCanvas({
      reason: `submitByName("${name}"): unknown option ${unknown.map((k) => JSON.stringify(k)).join(", ")} (known: ${[...SUBMIT_KEYS, ...OPTION_KEYS].join(", ")})`,
    });
  }
  const ref = byName(name);
  // compile checks the options (naming the bad one) and that the input is plain data
  const dag = compile(signature(ref, { kind: "immutable" }, input, options));
  const submitOpts: SubmitOptions = {
    ...(runId === undefined ? {} : { runId }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    ...(idempotencyWindowMs === undefined ? {} : { idempotencyWindowMs }),
    ...(idempotencyReuse === undefined ? {} : { idempotencyReuse }),
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(tags === undefined ? {} : { tags }),
    ...(delayMs === undefined ? {} : { delayMs }),
    ...(at === undefined ? {} : { at }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(expiresInMs === undefined ? {} : { expiresInMs }),
    ...(headers === undefined ? {} : { headers }),
  };
  return { dag, opts: submitOpts, ref };
};

/**
 * The options of each canvas of a `submitMany` call: one object for all,
 * without `runId` or `idempotencyKey` when there are several canvases (each
 * run needs its own), or one object per canvas.
 *
 * @throws InvalidSubmitOptions when a shared object names a run id or key,
 *   or the array's length is not the number of canvases.
 */
const optionsOf = (
  count: number,
  opts: SubmitOptions | ReadonlyArray<SubmitOptions>,
): ((i: number) => SubmitOptions) => {
  if (typeof opts !== "object" || opts === null)
    throw new InvalidSubmitOptions({
      reason: `submitMany's options must be an object for every canvas or an array of one per canvas, got ${described(opts)}`,
    });
  if (isOptionsList(opts)) {
    if (opts.length !== count)
      throw new InvalidSubmitOptions({
        reason: `submitMany: ${opts.length} options for ${count} canvases; give one options object per canvas, or one object for all`,
      });
    return (i) => opts[i]!;
  }
  if (count > 1) {
    const shared = (["runId", "idempotencyKey"] as const).filter((k) => opts[k] !== undefined);
    if (shared.length > 0)
      throw new InvalidSubmitOptions({
        reason: `submitMany: ${shared.join(" and ")} in the options of every canvas would name one run; give an array of options, one per canvas`,
      });
  }
  return () => opts;
};

const isOptionsList = (
  opts: SubmitOptions | ReadonlyArray<SubmitOptions>,
): opts is ReadonlyArray<SubmitOptions> => Array.isArray(opts);

/** A refused canvas's (or item's) error with its index (`canvases[i]`, `items[i]`) in its text. */
const atIndex = (e: unknown, i: number, list = "canvases"): unknown => {
  const at = `${list}[${i}]`;
  if (e instanceof InvalidInput)
    return new InvalidInput({ task: e.task, detail: `${at}: ${e.detail}` });
  if (e instanceof InvalidCanvas) return new InvalidCanvas({ reason: `${at}: ${e.reason}` });
  if (e instanceof InvalidSubmitOptions)
    return new InvalidSubmitOptions({ reason: `${at}: ${e.reason}` });
  return e;
};

/**
 * How a handle decodes its run's output: the tasks whose output schemas it
 * knows, the output shape to use when the stored run has none, and whether
 * the output must be one node (a handle typed by a task).
 */
interface Decoding {
  readonly tasks: ReadonlyArray<TaskRef>;
  /** A thunk where the shape costs a compile (a handle on a canvas). */
  readonly shape: Shape | (() => Shape);
  readonly single: boolean;
}

/**
 * The stand-in declaration of a task submitted by name: any input (the
 * worker's declaration decodes it), the output as the worker encoded it.
 */
const byName = (name: string): TaskRef => ({
  name,
  input: Schema.Unknown,
  output: Schema.Unknown,
  options: {},
});

/** The fields of {@link SubmitOptions} and of {@link TaskOptions}, for refusing a misspelt one. */
const SUBMIT_KEYS: ReadonlyArray<keyof SubmitOptions> = [
  "runId",
  "idempotencyKey",
  "idempotencyWindowMs",
  "idempotencyReuse",
  "retentionMs",
  "tags",
  "delayMs",
  "at",
  "expiresAt",
  "expiresInMs",
  "headers",
];
const OPTION_KEYS: ReadonlySet<string> = new Set<keyof TaskOptions>([
  "queue",
  "priority",
  "timeoutMs",
  "softTimeoutMs",
  "isolate",
  "retry",
  "rateLimit",
  "concurrency",
]);

const isTask = (of: Canvas<unknown, unknown> | AnyTask): of is AnyTask =>
  (of as { _tag?: unknown })._tag === "Task";

/**
 * Every task of a canvas, in declaration order, without compiling it (so
 * its bound inputs are not checked). A node met twice (a hand-built canvas
 * with a cycle) is walked once.
 */
const tasksOf = (root: CanvasNode): TaskRef[] => {
  const out: TaskRef[] = [];
  const seen = new Set<CanvasNode>();
  const stack: CanvasNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    switch (node.kind) {
      case "sig":
        out.push(node.task);
        break;
      case "chain":
        stack.push(...[...node.steps].reverse());
        break;
      case "group":
        stack.push(...[...node.members].reverse());
        break;
      case "chord":
        stack.push(node.body, node.header);
        break;
    }
  }
  return out;
};

const progressOf = (snap: RunSnapshot): RunProgress => ({
  runId: snap.run.id,
  status: snap.run.status,
  total: snap.run.total,
  ended: snap.run.ended,
  nodes: snap.nodes.map((n) => ({
    id: n.id,
    task: n.spec.task,
    state: n.state,
    attempts: n.attempts,
    ...(n.progress === undefined ? {} : { progress: n.progress }),
  })),
});

/** Tasks by name; a name shared by tasks with different output schemas is ambiguous. */
const tasksByName = (tasks: ReadonlyArray<TaskRef>): ReadonlyMap<string, TaskRef | "ambiguous"> => {
  const known = BY_NAME.get(tasks);
  if (known !== undefined) return known;
  const out = new Map<string, TaskRef | "ambiguous">();
  for (const t of tasks) {
    const seen = out.get(t.name);
    if (seen === undefined) out.set(t.name, t);
    else if (seen !== "ambiguous" && seen !== t && seen.output !== t.output)
      out.set(t.name, "ambiguous");
  }
  BY_NAME.set(tasks, out);
  return out;
};

/**
 * {@link tasksByName}'s map of each list of tasks (a canvas's, shared by the
 * handles of its runs): made once, not at every `result()`.
 */
const BY_NAME = new WeakMap<ReadonlyArray<TaskRef>, ReadonlyMap<string, TaskRef | "ambiguous">>();

/** The output nodes of each output shape of a group or chord a handle waits with (`expectOf`): flattened once. */
const EXPECTED = new WeakMap<Exclude<Shape, number>, { expect: ReadonlyArray<number> }>();

/** `expectOf` for an output of one node, the first 1,024 node ids: made once. */
const ONE_NODE: ReadonlyArray<{ expect: ReadonlyArray<number> }> = Array.from(
  { length: 1_024 },
  (_, n) => ({ expect: [n] }),
);

// re-driving a run (Client.redrive)

const DETAIL: Record<RedriveRefusal | "bad-node", string> = {
  "not-ended": "it has not ended (pending or running): cancel it first",
  "not-quiet": "a node of it is still running: wait until every node has ended",
  succeeded: "it succeeded: there is nothing to run again",
  "bad-node": "the node to edit is not a node that runs again",
};

const refused = (runId: string, reason: RedriveRefusal | "bad-node", detail = DETAIL[reason]) =>
  new RedriveRefused({ runId, reason, detail });

/** Node `node`'s spec with `input` as its whole input, validated by `task` (or as plain data). */
const editedSpec = (spec: DagNode, task: TaskRef, input: unknown): DagNode => {
  if (task.name !== spec.task)
    throw new InvalidInput({
      task: task.name,
      detail: `node ${spec.id} runs task ${spec.task}, not ${task.name}`,
    });
  const bound = compile(signature(task, { kind: "immutable" }, input)).nodes[0]!.bound;
  return { ...spec, bind: { kind: "immutable" }, bound, arg: null };
};

/**
 * Re-drives run `runId` at `now` (epoch ms): see {@link RedriveRequest}.
 *
 * @throws RunNotFound when the run does not exist.
 * @throws RedriveRefused when it cannot be re-driven (nothing changed).
 * @throws InvalidInput when `input` fails the task's input schema, is not
 *   plain data, or `task` is not the node's task (before anything is written).
 */
const redrive = async (
  store: Store,
  runId: string,
  req: RedriveRequest,
  now: number,
): Promise<void> => {
  const snap = await store.getRun(runId);
  if (!snap) throw new RunNotFound({ runId });
  let edit: { node: number; spec: DagNode } | undefined;
  if (req.input !== undefined) {
    const node = req.node ?? snap.run.failedNode;
    if (node === undefined)
      throw refused(runId, "bad-node", "no node failed the run: name the node to edit");
    const n = snap.nodes[node];
    if (!Number.isInteger(node) || n === undefined || n.state === "succeeded")
      throw refused(
        runId,
        "bad-node",
        `node ${node} ${n === undefined ? "is not a node of the run" : "succeeded: it does not run again"}`,
      );
    const task: TaskRef = req.task ?? {
      name: n.spec.task,
      input: Schema.Unknown,
      output: Schema.Unknown,
      options: {},
    };
    edit = { node, spec: editedSpec(n.spec, task, req.input) };
  } else if (req.node !== undefined) {
    throw new InvalidInput({
      task: req.task?.name ?? "",
      detail: "redrive: `node` names the node to run with an edited `input`; give `input` too",
    });
  }
  const r = await store.redrive(runId, { now, ...(edit ? { edit } : {}) });
  if (r.ok) return;
  if (r.reason === "not-found") throw new RunNotFound({ runId });
  throw refused(runId, r.reason);
};
