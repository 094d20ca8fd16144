/**
 * The worker runtime: claims ready nodes from its queues, runs their
 * handlers with bounded concurrency under leases renewed by heartbeat, and
 * records results (fenced) or failures (retried under the node's policy).
 * Bad input never crashes it: an input or output that fails its schema, a
 * corrupt record or a non-Error throw fails that node with a readable reason
 * and the worker goes on; a node whose task it has no handler for is parked
 * for a worker that has one (docs/operations.md, "Unknown tasks").
 *
 * It registers itself in the store's worker registry (`weft workers`) with
 * the attempts it finished per queue in the last minute (`Throughput`),
 * subscribes to the store's signals so that a cancelled run's handlers are
 * aborted at once, and waits for work with one outstanding `waitForWork` at
 * a time, sleeping no longer than the next due retry.
 *
 * The parts live apart: one attempt of a node is `attemptNow` (`Attempt`),
 * keeping leases by heartbeat is `renewLeases` (`Leases`), and what the
 * worker logs about store outages is `WorkerLog`. `startWorker` keeps the
 * claim loop, the slots, the heartbeats, the store's signals and stopping.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { type AttemptEnv, type AttemptResult, attemptNow } from "./Attempt.ts";
import { AttemptAbort } from "./AttemptAbort.ts";
import { checkRetryDefaults, isQueueName, MAX_TIMER_MS } from "./Canvas.ts";
import { type Clock, liveClock } from "./Clock.ts";
import { type CompletionReceiver, completions } from "./Completions.ts";
import type { Dag } from "./Dag.ts";
import { deferred } from "./Deferred.ts";
import { described } from "./Described.ts";
import {
  type ErrorInfo,
  ErrorTag,
  InvalidWorkerOptions,
  StoreUnavailable,
  WorkerStopping,
} from "./Errors.ts";
import type { BoundHandler } from "./Handler.ts";
import { askSpan, attemptInfo, callHook } from "./HookCalls.ts";
import type { AttemptInfo, WorkerHooks } from "./Hooks.ts";
import { leaseEndReason, renewLeases } from "./Leases.ts";
import { mapHandler } from "./Map.ts";
import { policyOf } from "./Policy.ts";
import { delay, type RetryPolicy, shouldRetry } from "./Retry.ts";
import {
  type Claim,
  checkStore,
  limitedQueues,
  type RateLimit,
  type ReportResult,
  type Store,
  type StoreSignal,
  type WorkerInfo,
} from "./Store.ts";
import { storeBackoffMs } from "./StoreBackoff.ts";
import { finishedWindow } from "./Throughput.ts";
import { loggerOption, logRefusal, outageLog, workerLogger } from "./WorkerLog.ts";

/** Worker options. Durations are ms. */
export interface WorkerOptions {
  readonly store: Store;
  /** Handlers made with `handle(task, fn)`, at most one per task name. */
  readonly handlers: ReadonlyArray<BoundHandler>;
  /** Queues to consume, a non-empty array of queue names. Default `["default"]`. */
  readonly queues?: ReadonlyArray<string>;
  /** How many attempts run at once, an integer >= 1. Default 8. */
  readonly concurrency?: number;
  /**
   * How many nodes the worker may hold leased beyond those it runs, each
   * waiting for a slot (Celery's prefetch, RabbitMQ's prefetch count): it
   * claims for its free slots plus this many, so that Redis works on the
   * next batch while the worker runs this one. One claim call asks for at
   * most `concurrency` + min(8 × `concurrency`, 128) nodes; a larger
   * prefetch is claimed in several calls. A held node is started
   * (its lease renewed by heartbeat, released at stop) and no other worker
   * can take it meanwhile, so the worker prefetches only while its recent
   * attempts averaged under 10 ms (moving average, weight 1/8 for the
   * newest): a worker busy with long attempts holds nothing back from idle
   * ones, and a node held a whole heartbeat period goes back to its queue.
   * Default two claim calls' worth less the slots: `concurrency` + 2 ×
   * min(8 × `concurrency`, 128) (272 for a concurrency of 16), so that
   * Redis answers one claim while the worker runs the nodes of the other;
   * 0 claims only for free slots (docs/lifecycle.md, "Prefetch").
   */
  readonly prefetch?: number;
  /**
   * Lease length; a node whose worker stops heartbeating is re-delivered
   * after it. Default 30 000. `leaseMs`, `heartbeatMs` and `idleMs` are
   * numbers of ms from 1 to `MAX_TIMER_MS` (about 24.8 days).
   */
  readonly leaseMs?: number;
  /** Heartbeat period, less than `leaseMs`. Default `leaseMs / 3`. */
  readonly heartbeatMs?: number;
  /**
   * Longest an idle worker waits before claiming again. Default 1 000. The
   * wait ends at once when the store signals work (a node made ready or
   * parked, a retry scheduled), when one of its own handlers ends, or when
   * the earliest retry on its queues becomes due: `idleMs` only bounds how
   * long a missed signal can delay work.
   */
  readonly idleMs?: number;
  /**
   * Retry defaults applied under each task's own policy, checked as a task's
   * `retry` option is (see `checkOptions`). `maxStalls` does not apply here:
   * it is fixed at submit.
   */
  readonly retryDefaults?: Partial<RetryPolicy>;
  /**
   * Rate limits by queue (`{ email: { limit: 10, intervalMs: 1_000 } }`):
   * held across every worker sharing the store, in the store's claim (see
   * `ClaimRequest.rateLimits`, docs/schedules.md). Give every worker of a
   * queue the same limit.
   */
  readonly rateLimits?: Readonly<Record<string, RateLimit>>;
  /** The worker's id in the registry and the log, a non-empty string. Default `<host>:<pid>:<random>`. */
  readonly workerId?: string;
  /**
   * A pino logger. Default: pino at `WEFT_LOG_LEVEL` (default `info`) on
   * stdout; `false`: no log at all. Anything else (`true`, a level name,
   * `console`) is refused.
   */
  readonly logger?: Logger | false;
  /** Clock to read and sleep on. Default the live clock; simulations pass a virtual one. */
  readonly clock?: Clock;
  /** Random source for jitter, `[0, 1)`. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * Called around each attempt (Celery's signals, Temporal's interceptors):
   * `onAttemptStart`, `onAttemptEnd`, `onNodeFailed`, `wrapHandler`. A hook
   * that throws or rejects is logged and never fails the attempt (see `WorkerHooks`).
   */
  readonly hooks?: WorkerHooks;
}

/**
 * A worker prefetches ({@link WorkerOptions.prefetch}) only while its
 * attempts' moving average (weight 1/8 for the newest) is under this many ms.
 */
const PREFETCH_BELOW_MS = 10;

/**
 * Nodes one claim call asks for per slot beyond the free slots, up to
 * {@link PREFETCH_MAX}: a claim asks for the free slots and eight times the
 * concurrency more, so that Redis works on the worker's next claim and
 * completions while it runs the held nodes (docs/benchmarks.md, "A deeper
 * prefetch": 3 until 2026-12-04).
 */
const PREFETCH_PER_SLOT = 8;

/**
 * The most nodes one claim call asks for beyond the worker's concurrency:
 * it bounds the nodes one call starts (each costs Redis about 10 µs of Lua),
 * as a wide chord's claims must stay well under 20 ms of Redis time.
 */
const PREFETCH_MAX = 128;

/**
 * Claim calls' worth of nodes a worker holds by default (running and
 * held): two, so that Redis answers one claim while the worker runs the
 * nodes of the other, double buffering. With one, the worker ran a claim's
 * nodes, sent their completions and its next claim, and waited for the
 * answer, Redis idle meanwhile: a worker alone on a backlog of 10,000
 * chord members did 1.5× the tasks per second with two, on 20,000 plain
 * jobs 1.2× (docs/benchmarks.md, "Since 14:16 UTC on 2026-12-07").
 */
const PREFETCH_CLAIMS = 2;

/** The most nodes one claim call of a worker of `concurrency` slots asks for. */
const claimMaxOf = (concurrency: number): number =>
  concurrency + Math.min(PREFETCH_PER_SLOT * concurrency, PREFETCH_MAX);

/** A running worker. */
export interface Worker {
  readonly id: string;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
  /** How many attempts this worker runs now (at most its `concurrency`). */
  readonly activeCount: () => number;
  /**
   * Stops claiming, waits up to `graceMs` (default 10 000; `Infinity`: no
   * limit) for running handlers, then aborts the rest and releases their
   * nodes for re-delivery. Rejects with `InvalidWorkerOptions`, stopping
   * nothing, when `graceMs` is not a number >= 0.
   */
  stop(graceMs?: number): Promise<void>;
}

/** What every attempt of a worker shares: its `AttemptEnv` but the logger, and the worker's own logger. */
interface WorkerEnv extends Omit<AttemptEnv, "log"> {
  readonly logger: Logger;
  /** What a slot's completion was answered with (see `CompletionReceiver`). */
  readonly reported: (slot: Slot, report: ReportResult) => void;
  /** The error of the call that carried a slot's completion. */
  readonly unreported: (slot: Slot, error: unknown) => void;
}

/**
 * One of the worker's `concurrency` places: the attempt it runs now, how to
 * stop it, and the `AttemptEnv` it runs in (the worker's, with the node's
 * logger); then, after a success, the completion on its way and whom the
 * worker's completions tell how it ended. One object per attempt: a worker
 * runs thousands a second.
 */
class Slot implements AttemptEnv, CompletionReceiver {
  /** Aborts the attempt of `claim`: its reason is the attempt's error. */
  readonly abort = new AttemptAbort();
  /** Its node was released at shutdown: whatever the attempt ends with is not reported. */
  released = false;
  /** The completion sent (its result and trace span) and when it was first sent: what a retry sends again. */
  result: Uint8Array | undefined;
  span: string | undefined;
  sentAt = 0;
  private child: Logger | undefined;

  constructor(
    readonly claim: Claim,
    private readonly worker: WorkerEnv,
  ) {}

  get store(): Store {
    return this.worker.store;
  }
  get clock(): Clock {
    return this.worker.clock;
  }
  get workerId(): string {
    return this.worker.workerId;
  }
  get wrapHandler(): WorkerHooks["wrapHandler"] {
    return this.worker.wrapHandler;
  }
  get retryDefaults(): Partial<RetryPolicy> | undefined {
    return this.worker.retryDefaults;
  }

  reported(report: ReportResult): void {
    this.worker.reported(this, report);
  }
  failed(error: unknown): void {
    this.worker.unreported(this, error);
  }

  /** The node's logger (runId, nodeId, task, attempt), made on first use: a child logger costs a few µs. */
  log(): Logger {
    const claim = this.claim;
    this.child ??= this.worker.logger.child({
      runId: claim.runId,
      nodeId: claim.nodeId,
      task: claim.spec.task,
      attempt: claim.attempt,
    });
    return this.child;
  }
}

/** A task's `retryIf` predicate, where one that throws counts as "do not retry". */
const allows = (retryIf: ((e: ErrorInfo) => boolean) | undefined, error: ErrorInfo): boolean => {
  try {
    return retryIf?.(error) ?? true;
  } catch {
    return false;
  }
};

const keyOf = (c: Claim) => `${c.runId}:${c.nodeId}`;

/**
 * Checks `startWorker`'s `handlers` (a JavaScript caller gets no type
 * check): an array of handlers bound with `handle(task, fn)`, one per task
 * name. A handler is `{ task: { name: string }, run: function }`.
 *
 * @throws InvalidWorkerOptions naming what was given: not an array, the
 *   index of an entry that is not a handler (a task passed itself, an
 *   unprovided `handleEffect` handler), or a task name bound twice.
 */
const checkHandlers = (handlers: unknown): void => {
  const refuse = (reason: string) => new InvalidWorkerOptions({ reason });
  if (!Array.isArray(handlers))
    throw refuse(
      `handlers must be an array of handlers made with handle(task, fn), got ${described(handlers)}`,
    );
  const seen = new Map<string, number>();
  handlers.forEach((h: unknown, i) => {
    const at = `handlers[${i}]`;
    const o = (typeof h === "object" || typeof h === "function") && h !== null ? h : undefined;
    const { task, run, _tag } = (o ?? {}) as { task?: unknown; run?: unknown; _tag?: unknown };
    const name = (task as { name?: unknown } | null | undefined)?.name;
    if (
      typeof run === "function" &&
      typeof task === "object" &&
      task !== null &&
      typeof name === "string"
    ) {
      const first = seen.get(name);
      if (first !== undefined)
        throw refuse(
          `handlers[${first}] and ${at} both handle task ${JSON.stringify(name)}: give one handler per task`,
        );
      seen.set(name, i);
      return;
    }
    const own = (o as { name?: unknown; s?: unknown; si?: unknown } | undefined) ?? {};
    if (
      typeof own.name === "string" &&
      (typeof own.s === "function" || typeof own.si === "function")
    )
      throw refuse(
        `${at} is the task ${JSON.stringify(own.name)} itself, not a handler: pass handle(task, fn), not the task itself`,
      );
    if (_tag === "EffectHandler")
      throw refuse(
        `${at} is a handleEffect handler${typeof name === "string" ? ` of task ${JSON.stringify(name)}` : ""}, whose services startWorker cannot provide: start it with startWorkerScoped or WeftWorker.layer`,
      );
    if (typeof run === "function")
      throw refuse(
        `${at} has no task (its task is ${described(task)}): handle(task, fn) needs a task declared with task(...)`,
      );
    throw refuse(`${at} is not a handler made with handle(task, fn), got ${described(h)}`);
  });
};

/**
 * Checks `startWorker`'s options but `store`, `handlers`, `retryDefaults`,
 * `prefetch` and `rateLimits` (a JavaScript caller gets no type check): a
 * `NaN` concurrency would run nothing, a `NaN` or non-finite duration would
 * sleep 1 ms (a busy loop on the store), a queue name that is not one would
 * never be claimed from.
 *
 * @throws InvalidWorkerOptions naming the option, what it got and what is allowed.
 */
const checkWorkerOptions = (opts: WorkerOptions): void => {
  const refuse = (option: string, value: unknown, allowed: string): never => {
    throw new InvalidWorkerOptions({
      reason: `${option} must be ${allowed}, got ${described(value)}`,
    });
  };
  const ms = (option: "leaseMs" | "heartbeatMs" | "idleMs") => {
    const v: unknown = opts[option];
    if (v !== undefined && !(typeof v === "number" && v >= 1 && v <= MAX_TIMER_MS))
      refuse(option, v, `a number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days)`);
  };
  const c: unknown = opts.concurrency;
  if (c !== undefined && !(Number.isInteger(c) && (c as number) >= 1))
    refuse("concurrency", c, "an integer >= 1");
  ms("leaseMs");
  ms("heartbeatMs");
  ms("idleMs");
  if (opts.heartbeatMs !== undefined && opts.heartbeatMs >= (opts.leaseMs ?? 30_000))
    throw new InvalidWorkerOptions({
      reason: `heartbeatMs (${opts.heartbeatMs}) must be less than leaseMs (${opts.leaseMs ?? 30_000}): a lease must be renewed before it expires`,
    });
  const queues: unknown = opts.queues;
  if (queues !== undefined) {
    if (!Array.isArray(queues) || queues.length === 0)
      refuse("queues", queues, `a non-empty array of queue names (["default"])`);
    (queues as unknown[]).forEach((q, i) => {
      if (!isQueueName(q))
        refuse(`queues[${i}]`, q, "a queue name: 1–128 characters of [A-Za-z0-9_.:-]");
    });
  }
  const id: unknown = opts.workerId;
  if (id !== undefined && !(typeof id === "string" && id !== ""))
    refuse("workerId", id, "a non-empty string");
  const clock = opts.clock as Partial<Record<keyof Clock, unknown>> | undefined;
  if (
    clock !== undefined &&
    !(typeof clock?.now === "function" && typeof clock.sleep === "function")
  )
    refuse("clock", clock, "a Clock: { now(), sleep(ms, signal) }");
  if (opts.random !== undefined && typeof opts.random !== "function")
    refuse("random", opts.random, "a function returning a number in [0, 1)");
};

/**
 * Starts a worker.
 *
 * @throws InvalidWorkerOptions when `opts` is not an object, `handlers` is not an array, one of
 *   its entries is not a handler made with `handle(task, fn)` (a task
 *   passed itself, a `handleEffect` handler, which only
 *   `startWorkerScoped` can provide; the message gives its index), two
 *   entries handle the same task name (the message names it),
 *   `retryDefaults` holds a field out of range (the same ranges as a task's
 *   `retry` option), a rate limit is not two integers >= 1, `prefetch`
 *   is not an integer >= 0, `concurrency` not an integer >= 1, `leaseMs`,
 *   `heartbeatMs` or `idleMs` not a number of ms from 1 to `MAX_TIMER_MS`
 *   (or `heartbeatMs` not below `leaseMs`), `queues` not a non-empty array
 *   of queue names, `workerId` not a non-empty string, `clock` not a Clock,
 *   `random` not a function, or `logger` neither a pino logger nor `false`.
 * @throws InvalidStore when `store` is not a store (a Promise not awaited).
 *
 * @example
 * const worker = startWorker({ store, handlers, queues: ["default"], concurrency: 4 })
 * process.on("SIGTERM", () => worker.stop())
 */
export const startWorker = (opts: WorkerOptions): Worker => {
  if (typeof opts !== "object" || opts === null)
    throw new InvalidWorkerOptions({
      reason: `startWorker takes an options object ({ store, handlers, ... }), got ${described(opts)}`,
    });
  checkStore(opts.store, "startWorker's store option");
  checkHandlers(opts.handlers);
  checkWorkerOptions(opts);
  const baseLogger = loggerOption(opts.logger, "logger");
  if (opts.retryDefaults !== undefined) checkRetryDefaults(opts.retryDefaults);
  if (opts.prefetch !== undefined && !(Number.isInteger(opts.prefetch) && opts.prefetch >= 0))
    throw new InvalidWorkerOptions({
      reason: `prefetch must be an integer >= 0, got ${String(opts.prefetch)}`,
    });
  if (opts.rateLimits !== undefined) {
    // checked as the claim checks them, naming the queue
    limitedQueues({
      workerId: "",
      queues: Object.keys(opts.rateLimits),
      max: 0,
      leaseMs: 0,
      now: 0,
      rateLimits: opts.rateLimits,
    });
  }
  const store = opts.store;
  const queues = opts.queues ?? ["default"];
  const handedQueues = queues.filter((q) => opts.rateLimits?.[q] === undefined);
  const concurrency = opts.concurrency ?? 8;
  const claimMax = claimMaxOf(concurrency);
  const prefetch = opts.prefetch ?? PREFETCH_CLAIMS * claimMax - concurrency;
  const leaseMs = opts.leaseMs ?? 30_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.floor(leaseMs / 3));
  const idleMs = opts.idleMs ?? 1_000;
  const clock = opts.clock ?? liveClock;
  const now = () => clock.now();
  const random = opts.random ?? Math.random;
  const id = opts.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const log = workerLogger(baseLogger, id);
  // the completions of one turn go together (docs/lifecycle.md, "How a worker sends completions and claims")
  // the claim for the slots they freed follows them in the same round trip (`onSend`)
  const complete = completions(
    store,
    () => ({
      now: now(),
      workerId: id,
      // a dependent on a rate-limited queue is claimed through the limit, never handed here
      queues: handedQueues,
      leaseMs,
    }),
    { onSend: () => claimWanted && wakeLoop() },
  );
  const handlers = new Map(opts.handlers.map((h) => [h.task.name, h]));
  const hooks: WorkerHooks = opts.hooks ?? {};
  const observed =
    hooks.onAttemptStart !== undefined ||
    hooks.onAttemptEnd !== undefined ||
    hooks.attemptSpan !== undefined ||
    hooks.onNodeFailed !== undefined;
  const workerEnv: WorkerEnv = {
    store,
    clock,
    workerId: id,
    logger: log,
    reported: (slot, report) => reported(slot, report),
    unreported: (slot, error) => unreported(slot, error),
    ...(opts.retryDefaults === undefined ? {} : { retryDefaults: opts.retryDefaults }),
    ...(hooks.wrapHandler === undefined ? {} : { wrapHandler: hooks.wrapHandler }),
  };
  const tasks = [...handlers.keys()];
  // every worker runs map nodes (the built-in `weft.map`: they replace themselves); it is
  // not listed among the worker's tasks
  if (!handlers.has(mapHandler.task.name)) handlers.set(mapHandler.task.name, mapHandler);
  const info: WorkerInfo = {
    id,
    host: hostname(),
    pid: process.pid,
    queues: [...queues],
    tasks,
    concurrency,
    startedAt: now(),
  };
  // a registration outlives a few missed refreshes (one per heartbeat tick)
  const registryTtlMs = Math.max(5_000, 3 * heartbeatMs);
  const outage = outageLog(log, now);
  /** Runs a background store call: its success ends an outage, its failure is logged through `outage`. */
  const background = (what: string, call: () => Promise<unknown>): Promise<void> =>
    call().then(
      () => outage.ok(),
      (e: unknown) => {
        if (!outage.failed(what, e)) log.warn({ err: e }, `${what} failed`);
      },
    );
  // attempts finished per queue, published with each registration: the queues' throughput
  // costs no command per attempt (docs/dashboard.md, "Throughput")
  const finished = finishedWindow();
  const register = () =>
    background("worker registration", () => {
      const at = now();
      return store.registerWorker(
        { ...info, finished: finished.counts(at) },
        { now: at, ttlMs: registryTtlMs },
      );
    });
  /** The attempts running now: at most `concurrency`. */
  const slots = new Map<Slot, Promise<void>>();
  /**
   * Completions sent and not answered yet, by claim: their slots are free
   * already, their leases are still renewed by heartbeat.
   */
  const reports = new Set<Claim>();
  /** Resolved when `reports` empties, once a stopping worker waits for it. */
  let reportsAnswered: ReturnType<typeof deferred<void>> | undefined;
  const reportEnded = (claim: Claim) => {
    reports.delete(claim);
    if (reports.size === 0) reportsAnswered?.resolve();
  };
  /**
   * Nodes leased while every slot was taken: chain steps a completion
   * leased back (the claim that followed it filled the slot; at most one
   * per completion in flight), and a claim's nodes beyond the free slots
   * (`prefetch`). Each runs when a slot frees, first in line; their leases
   * are renewed meanwhile.
   */
  const handed: Claim[] = [];
  /** When each node of `handed` began to wait for a slot (the worker's clock). */
  const heldSince = new Map<Claim, number>();
  /** Claims taken from `handed` for a freed slot, to start at the next turn (`startHanded`). */
  const starting: Claim[] = [];
  /**
   * The attempts' moving average duration, ms (weight 1/8 for the newest);
   * undefined until one ended. The worker prefetches while it is under
   * PREFETCH_BELOW_MS.
   */
  let attemptMs: number | undefined;
  const timed = (startedAt: number) => {
    const ms = Math.max(0, now() - startedAt);
    attemptMs = attemptMs === undefined ? ms : attemptMs + (ms - attemptMs) / 8;
  };
  let stopping = false;
  // aborted when stop() is called: a report waiting to be sent again stops waiting, and so
  // does the wait for work (`waitForWork`)
  const stopRequested = new AbortController();
  /**
   * Aborted to wake the claim loop from its sleep or wait; the loop takes a
   * fresh one at the start of the turn after a wake-up. Wake-ups before that
   * find it aborted already and cost nothing (an abort dispatches an event:
   * µs, and a busy worker is woken at every completion it sends).
   */
  let wake = new AbortController();
  const wakeLoop = () => {
    // a reason: aborting without one builds a DOMException with a stack
    if (!wake.signal.aborted) wake.abort("wake");
  };
  /** Aborted when the worker has stopped: ends the heartbeat and maintenance loops. */
  const shutdown = new AbortController();

  /** Aborts `slot`'s attempt unless its node was released at shutdown. */
  const abortAttempt = (slot: Slot, why: Error) => {
    if (!slot.released) slot.abort.abort(why);
  };

  /** One heartbeat tick: renews every lease the slots and the reports in flight hold, and the worker's registration. */
  const heartbeat = async () => {
    // a node that waited a whole heartbeat period for a slot goes back to its queue, for an
    // idle worker to take: this worker's slots are busy with long attempts (docs/lifecycle.md,
    // "Prefetch")
    const at = now();
    for (const claim of handed.filter((c) => at - (heldSince.get(c) ?? at) >= heartbeatMs)) {
      dropHanded(claim);
      void store
        .release(claim, { now: at })
        .catch((e: unknown) => log.warn({ err: e, node: keyOf(claim) }, "release failed"));
    }
    const leases = [
      ...[...slots.keys()]
        .filter((slot) => !slot.released)
        .map((slot) => ({ claim: slot.claim, stop: (why: Error) => abortAttempt(slot, why) })),
      // a lost lease of a node whose completion is on its way: the completion answers stale
      ...[...reports].map((claim) => ({ claim, stop: () => undefined })),
      ...handed.map((claim) => ({ claim, stop: () => dropHanded(claim) })),
    ];
    await Promise.all([
      leases.length > 0 &&
        background("heartbeat", () => renewLeases(store, leases, { now: now(), leaseMs })),
      register(),
    ]);
  };
  /** Calls `fn` every `ms` on the worker's clock until the worker has stopped. */
  const repeatEvery = async (ms: number, fn: () => Promise<void>) => {
    while (!shutdown.signal.aborted) {
      await clock.sleep(ms, shutdown.signal);
      if (shutdown.signal.aborted) return;
      await fn();
    }
  };

  // a cancelled run's handlers are aborted as soon as the store says so
  const onSignal = (signal: StoreSignal) => {
    if (signal.kind !== "cancelled") return;
    for (const slot of slots.keys()) {
      if (slot.claim.runId === signal.runId) {
        abortAttempt(slot, leaseEndReason("cancelled"));
      }
    }
  };
  const subscribed = store.subscribe(onSignal).catch((e: unknown) => {
    log.warn({ err: e }, "could not subscribe to store signals; cancellations arrive by heartbeat");
    return undefined;
  });

  const unknownSeen = new Set<string>();
  /** Hands back a node whose task this worker has no handler for, to a worker that has one. */
  const park = async (slot: Slot): Promise<void> => {
    const claim = slot.claim;
    try {
      await store.park(claim, { now: now() });
      const first = !unknownSeen.has(claim.spec.task);
      unknownSeen.add(claim.spec.task);
      slot
        .log()
        [first ? "warn" : "debug"](
          { handles: tasks },
          `no handler for task "${claim.spec.task}" on this worker: node parked for a worker that has one`,
        );
    } catch (e) {
      slot
        .log()
        .error(
          { err: e },
          "could not park a node of an unknown task; the lease will expire and the node be re-delivered",
        );
    }
  };

  /**
   * Runs the slot's claim: parks it, or runs its attempt and reports how it
   * ended. A success frees the slot before its completion is sent (the
   * completion goes on in `reports`); any other end frees it when reported.
   * Never rejects: a crash is logged, and the slot is freed. `attempt` is
   * the attempt `spawn` began at `startedAt`, when it did.
   */
  const runOne = async (
    slot: Slot,
    startedAt: number,
    attempt?: AttemptResult | Promise<AttemptResult>,
  ): Promise<void> => {
    try {
      const claim = slot.claim;
      const handler = handlers.get(claim.spec.task);
      if (!handler) return await park(slot);
      if (attempt === undefined) return await observedAttempt(slot, handler);
      const result = await attempt;
      timed(startedAt);
      if (slot.released) return;
      try {
        if (!result.ok) return await reportFailure(slot, handler, result, undefined);
        if ("replace" in result) return await reportReplace(slot, result.replace);
      } catch (e) {
        return unrecorded(slot, e);
      }
      slots.delete(slot);
      runHanded();
      reportSuccess(slot, result.value, undefined);
    } catch (e) {
      log.error({ err: e, node: keyOf(slot.claim) }, "slot crashed");
    } finally {
      // a success freed its slot already: the loop is woken when its completion is sent
      if (slots.delete(slot) && !runHanded()) wakeLoop();
    }
  };

  /** The attempt of {@link runOne} when hooks listen: they are told of its start and end. */
  const observedAttempt = async (slot: Slot, handler: BoundHandler): Promise<void> => {
    const claim = slot.claim;
    const nodeLog = () => slot.log();
    const attempt = attemptInfo(claim, claim.spec.task, id);
    callHook(nodeLog, "onAttemptStart", hooks.onAttemptStart, attempt);
    const startedAt = now();
    const result = await attemptNow(claim, handler, slot, slot.abort);
    timed(startedAt);
    if (slot.released) return;
    const ended = {
      ...attempt,
      durationMs: Math.max(0, now() - startedAt),
      ...(result.input === undefined ? {} : { input: result.input }),
    };
    try {
      if (result.ok) {
        // asked before onAttemptEnd, which ends the attempt's span
        const span = askSpan(nodeLog, hooks.attemptSpan, attempt);
        callHook(nodeLog, "onAttemptEnd", hooks.onAttemptEnd, {
          ...ended,
          outcome: "succeeded",
          retry: false,
        });
        if ("replace" in result) return await reportReplace(slot, result.replace);
        slots.delete(slot);
        runHanded();
        reportSuccess(slot, result.value, span);
        return;
      }
      await reportFailure(slot, handler, result, ended);
    } catch (e) {
      unrecorded(slot, e);
    }
  };

  /**
   * `call` (a completion or a failure report), again while it rejects with
   * `StoreUnavailable` (the connection lost and not back within its retries),
   * after 100 ms doubling up to 5 s, until it answers, the worker is stopping
   * or `leaseMs` passed since the first try (the lease has expired by then:
   * the node is re-delivered). Both are safe to repeat: a re-sent one answers
   * as the first did (docs/redis-layout.md, "Re-sent scripts"), and the
   * heartbeat renews the node's lease meanwhile, so a short outage does not
   * cost a re-delivery after the lease.
   */
  const recorded = <T>(call: () => Promise<T>): Promise<T> => {
    const since = now();
    // (the first try without an async frame of its own: most calls answer at once)
    return call().catch((e: unknown) => recordedAgain(call, since, e));
  };
  /** {@link recorded}'s tries after the first, which failed with `first`. */
  const recordedAgain = async <T>(
    call: () => Promise<T>,
    since: number,
    first: unknown,
  ): Promise<T> => {
    let e = first;
    for (let failures = 0; ; failures++) {
      if (!(e instanceof StoreUnavailable) || stopping || now() - since >= leaseMs) throw e;
      await clock.sleep(storeBackoffMs(failures), stopRequested.signal);
      try {
        return await call();
      } catch (again) {
        e = again;
      }
    }
  };

  const unrecorded = (slot: Slot, e: unknown) =>
    slot
      .log()
      .error(
        { err: e },
        "could not record the outcome; the lease will expire and the node be re-delivered",
      );

  /**
   * Records a result; a dependent whose one dependency it is (a chain's next
   * step) may be leased back with it and runs here (`take`). The claim is in
   * `reports` until its completion is answered (`reported`) or given up
   * (`unreported`): the worker's completions tell the slot (no promise per
   * completion: allocation the collector pays for).
   */
  const reportSuccess = (slot: Slot, value: Uint8Array, span: string | undefined): void => {
    reports.add(slot.claim);
    slot.result = value;
    slot.span = span;
    slot.sentAt = now();
    complete.to(slot.claim, value, stopping ? 0 : 1, span, slot);
  };
  /** A completion's answer: the node recorded, the next nodes it leased taken; never throws. */
  const reported = (slot: Slot, r: ReportResult) => {
    try {
      if (r.ok) finished.record(slot.claim.spec.queue, "succeeded", now());
      if (!r.ok) logRefusal(slot.log(), r, "completion");
      else if (log.isLevelEnabled("debug")) slot.log().debug("node succeeded");
      if (r.ok) for (const next of r.next) take(next);
    } catch (e) {
      unrecorded(slot, e);
    } finally {
      reportEnded(slot.claim);
    }
  };
  /** A completion whose call failed: sent again as `recorded` does, else logged; never throws. */
  const unreported = (slot: Slot, error: unknown) => {
    const claim = slot.claim;
    // (set by `reportSuccess` before the completion was sent)
    const value = slot.result!;
    recordedAgain(
      () => complete(claim, value, stopping ? 0 : 1, slot.span),
      slot.sentAt,
      error,
    ).then(
      (r) => reported(slot, r),
      (e: unknown) => {
        unrecorded(slot, e);
        reportEnded(claim);
      },
    );
  };

  /** Runs a claim leased back by a completion: in a free slot, else first in line for one. */
  const take = (claim: Claim) => {
    if (stopping) {
      void store.release(claim, { now: now() }).catch(() => undefined);
    } else if (slots.size + starting.length < concurrency) {
      spawn(claim);
    } else {
      handed.push(claim);
      heldSince.set(claim, now());
    }
  };

  /** A slot freed: the first claim in line takes it; true if one did. */
  const runHanded = (): boolean => {
    const next = stopping ? undefined : handed.shift();
    if (next === undefined) return false;
    heldSince.delete(next);
    // started at the next turn: this turn's completions and claim leave first, and Redis
    // works on them while this node runs (docs/lifecycle.md, "Prefetch")
    starting.push(next);
    if (starting.length === 1) setImmediate(startHanded);
    return true;
  };
  /**
   * Starts the claims `runHanded` took this turn, all in one callback: their
   * completions end in the same turn and go in one report call (one
   * `setImmediate` each would send each alone, as Node runs the
   * continuations between two callbacks).
   */
  const startHanded = () => {
    const all = starting.splice(0);
    // a stopping worker releases them with the others waiting for a slot
    for (const claim of all) {
      if (stopping) handed.push(claim);
      else spawn(claim);
    }
  };

  const dropHanded = (claim: Claim) => {
    heldSince.delete(claim);
    const i = handed.indexOf(claim);
    if (i >= 0) handed.splice(i, 1);
  };

  /** Replaces the node with the canvas its handler returned (`replace`). */
  const reportReplace = async (slot: Slot, dag: Dag): Promise<undefined> => {
    const claim = slot.claim;
    const r = await store.replace(claim, dag, {
      now: now(),
      workerId: id,
      queues,
      nextMax: 0,
      leaseMs,
    });
    if (r.ok) finished.record(claim.spec.queue, "succeeded", now());
    if (!r.ok) logRefusal(slot.log(), r, "replacement");
    else if (log.isLevelEnabled("debug"))
      slot.log().debug({ nodes: dag.nodes.length }, "node replaced");
    return undefined;
  };

  /** Records a failed attempt, with the time of its retry when the policy and the task allow one. */
  const reportFailure = async (
    slot: Slot,
    handler: BoundHandler,
    result: Extract<AttemptResult, { ok: false }>,
    /** What the hooks are told; undefined when no hook listens. */
    ended: (AttemptInfo & { readonly durationMs: number; readonly input?: unknown }) | undefined,
  ): Promise<undefined> => {
    const claim = slot.claim;
    const nodeLog = () => slot.log();
    const { error } = result;
    // stalls count separately from failures (docs/guarantees.md #6): only reported failures use up attempts
    const failures = claim.attempt - claim.stalls;
    // the worker's declaration fills retry fields the node lacks (a node submitted by name)
    const policy = policyOf(claim.spec, { ...opts.retryDefaults, ...handler.task.options.retry });
    const retry =
      shouldRetry(policy, failures, error) && allows(handler.task.behaviour.retryIf, error);
    const at = retry ? now() + (result.retryAfterMs ?? delay(policy, failures, random)) : null;
    if (ended)
      callHook(nodeLog, "onAttemptEnd", hooks.onAttemptEnd, {
        ...ended,
        outcome: "failed",
        error,
        retry,
      });
    const r = await recorded(() => store.fail(claim, error, { now: now(), retryAt: at }));
    if (r.ok) finished.record(claim.spec.queue, "failed", now());
    if (ended && r.ok && !r.replayed && !retry && error.tag !== ErrorTag.Cancelled)
      callHook(nodeLog, "onNodeFailed", hooks.onNodeFailed, { ...ended, error });
    if (!r.ok) logRefusal(nodeLog(), r, "failure report");
    else if (error.tag === ErrorTag.Cancelled) nodeLog().info("attempt stopped: run cancelled");
    else
      nodeLog()[retry ? "info" : "warn"](
        { error, retryAt: at },
        retry ? "attempt failed, will retry" : "node failed",
      );
    return undefined;
  };

  /**
   * Runs `claim` in a slot (`runOne`). An attempt whose handler returned at
   * once (`attemptNow`) and succeeded is reported here: the slot it took
   * is free again before anyone could see it, and no promise is made for
   * it (docs/benchmarks.md, "What costs time").
   */
  const spawn = (claim: Claim) => {
    const slot = new Slot(claim, workerEnv);
    const handler = observed ? undefined : handlers.get(claim.spec.task);
    if (handler === undefined) {
      slots.set(slot, runOne(slot, 0));
      return;
    }
    const startedAt = now();
    let result: AttemptResult | Promise<AttemptResult>;
    try {
      result = attemptNow(claim, handler, slot, slot.abort);
    } catch (e) {
      // a handler object not made by `handle` (from JavaScript) that breaks the attempt:
      // `runOne` logs the slot's crash and frees it, as it does for any other
      result = Promise.reject(e);
    }
    if (result instanceof Promise || !result.ok || "replace" in result) {
      slots.set(slot, runOne(slot, startedAt, result));
      return;
    }
    timed(startedAt);
    runHanded();
    reportSuccess(slot, result.value, undefined);
  };

  // One outstanding waitForWork at a time, reused across loop iterations
  // until it answers: a wait abandoned for another wake-up would stay
  // blocked in the store and swallow the next work signal (docs/operations.md, "Wake-up").
  // stop() ends it (`stopRequested`): a stopped worker's wait takes no wake-up meant for
  // another worker on its queues.
  let waiter: { done: boolean; wait: Promise<void> } | undefined;
  const waitForWork = () => {
    if (waiter) return waiter;
    const w = { done: false, wait: Promise.resolve() };
    w.wait = store
      .waitForWork(queues, idleMs, stopRequested.signal)
      .then(
        () => outage.ok(),
        async (e: unknown) => {
          if (stopping) return;
          if (!outage.failed("waiting for work", e))
            log.warn({ err: e }, "waiting for work failed");
          await clock.sleep(Math.min(idleMs, 1_000), shutdown.signal); // no busy loop on a broken connection
        },
      )
      .finally(() => {
        w.done = true;
      });
    waiter = w;
    return w;
  };

  /** Waits until work may be ready, a slot frees (`woken`), the next retry is due, or `idleMs`. */
  const idle = async (woken: AbortSignal) => {
    const w = waitForWork();
    if (!w.done && !woken.aborted) {
      const due = await store.nextDueAt(queues).catch(() => undefined);
      const ms = due === undefined ? idleMs : Math.min(idleMs, due - now());
      if (ms > 0 && !w.done) {
        // the sleep ends with the wait: a sleep left running would keep its listener on
        // `woken`, and a busy worker goes idle many times before a wake-up
        const over = new AbortController();
        const end = () => over.abort("woken");
        if (woken.aborted) end();
        else woken.addEventListener("abort", end, { once: true });
        await Promise.race([w.wait, clock.sleep(ms, over.signal)]);
        woken.removeEventListener("abort", end);
        over.abort("done");
      }
    }
    if (w.done && waiter === w) waiter = undefined;
  };

  let requestSeq = 0;
  const requestPrefix = randomUUID().slice(0, 8);
  const nextRequestId = () => `${requestPrefix}:${++requestSeq}`;

  /**
   * Whether a freed slot should be claimed for at once: the last claim got
   * all it asked for (ready work is likely left), or the loop waits for a
   * slot. Otherwise the queues were empty at the last claim, and the loop
   * waits for a work signal instead of claiming after every completion.
   */
  let claimWanted = true;

  const loop = async () => {
    await Promise.all([subscribed, register()]);
    let failures = 0;
    // kept after a failed claim: the retried call gets back what a claim whose reply was lost leased
    let requestId = nextRequestId();
    while (!stopping) {
      // this turn claims after the wake-ups so far: it sleeps only until the next one
      if (wake.signal.aborted) wake = new AbortController();
      const woken = wake.signal;
      // completions the store is slow to take hold their slots: the worker claims no more
      // beyond the free slots, `prefetch` more while the attempts are short
      const extra = attemptMs !== undefined && attemptMs < PREFETCH_BELOW_MS ? prefetch : 0;
      const free =
        concurrency + extra - slots.size - starting.length - handed.length - complete.waiting();
      if (free <= 0) {
        claimWanted = true;
        await clock.sleep(idleMs, woken);
        continue;
      }
      // (a larger hold is claimed in several calls, each of at most claimMax nodes)
      const max = Math.min(free, claimMax);
      let claims: ReadonlyArray<Claim>;
      try {
        claims = await store.claim({
          workerId: id,
          queues,
          tasks,
          max,
          leaseMs,
          now: now(),
          requestId,
          ...(opts.rateLimits === undefined ? {} : { rateLimits: opts.rateLimits }),
        });
        requestId = nextRequestId();
        failures = 0;
        outage.ok();
      } catch (e) {
        failures += 1;
        if (!outage.failed("claim", e)) log.error({ err: e }, "claim failed; retrying");
        await clock.sleep(storeBackoffMs(failures), woken);
        continue;
      }
      // the slots' share runs now, the rest waits first in line for a slot
      for (const c of claims) take(c);
      // fewer than asked: the queues are empty; wait for work
      claimWanted = claims.length >= max;
      if (!claimWanted && !stopping) await idle(woken);
    }
  };

  const heartbeats = repeatEvery(heartbeatMs, heartbeat);
  const maintenance = repeatEvery(Math.max(50, Math.min(1_000, Math.floor(leaseMs / 4))), () =>
    background("maintenance", () => store.maintain({ now: now(), queues })),
  );
  log.info({ queues, tasks, concurrency, leaseMs, store: store.name }, "worker started");
  const looping = loop();
  let stopped: Promise<void> | undefined;
  const done = deferred();

  const stop = (graceMs = 10_000): Promise<void> => {
    try {
      checkGrace(graceMs, "worker.stop(graceMs)");
    } catch (e) {
      return Promise.reject(e);
    }
    if (stopped) return stopped;
    stopping = true;
    stopRequested.abort("stop");
    wakeLoop();
    stopped = (async () => {
      await looping;
      // the nodes about to take a slot join those waiting for one
      while (starting.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      // the nodes waiting for a slot (chain steps, prefetched) go back to their queue
      heldSince.clear();
      for (const claim of handed.splice(0)) {
        await store
          .release(claim, { now: now() })
          .catch((e: unknown) => log.warn({ err: e, node: keyOf(claim) }, "release failed"));
      }
      const all = Promise.all(slots.values());
      const graceOver = new AbortController();
      const timedOut = await Promise.race([
        all.then(() => false),
        // a grace past the longest timer (Infinity) waits for the handlers without limit
        graceMs > MAX_TIMER_MS
          ? new Promise<boolean>(() => undefined)
          : clock.sleep(graceMs, graceOver.signal).then(() => !graceOver.signal.aborted),
      ]);
      graceOver.abort("done");
      if (timedOut) {
        let released = 0;
        for (const slot of [...slots.keys()]) {
          slot.released = true;
          slot.abort.abort(new WorkerStopping());
          await store.release(slot.claim, { now: now() }).then(
            () => {
              released += 1;
            },
            (e: unknown) => log.warn({ err: e, node: keyOf(slot.claim) }, "release failed"),
          );
        }
        log.warn({ released }, "released unfinished nodes for re-delivery");
        await all;
      }
      // the completions of the attempts that ended are recorded before the worker stops
      if (reports.size > 0) {
        reportsAnswered = deferred();
        await reportsAnswered.promise;
      }
      shutdown.abort("stop");
      await Promise.all([heartbeats, maintenance]);
      const unsubscribe = await subscribed;
      await unsubscribe?.().catch(() => undefined);
      await store
        .unregisterWorker(id)
        .catch((e) => log.warn({ err: e }, "could not remove the worker's registration"));
      log.info("worker stopped");
      done.resolve();
    })();
    return stopped;
  };

  return { id, done: done.promise, activeCount: () => slots.size, stop };
};

/**
 * Checks a grace period given to `worker.stop` or `stopOnSignals`: a number
 * of ms >= 0, `Infinity` (or anything past `MAX_TIMER_MS`) waiting for the
 * running handlers without limit. `NaN`, `null` or a string would otherwise
 * end the grace at once.
 *
 * @throws InvalidWorkerOptions naming `where` and what it got.
 */
const checkGrace = (graceMs: unknown, where: string): void => {
  if (graceMs !== undefined && !(typeof graceMs === "number" && graceMs >= 0))
    throw new InvalidWorkerOptions({
      reason: `${where} takes a number of ms >= 0 (Infinity: no limit), got ${described(graceMs)}`,
    });
};

/**
 * Stops `worker` gracefully on SIGTERM and SIGINT (a second signal exits at
 * once), with `graceMs` as `worker.stop`'s grace period.
 *
 * @throws InvalidWorkerOptions at once when `graceMs` is not a number >= 0.
 */
export const stopOnSignals = (worker: Worker, graceMs?: number): void => {
  checkGrace(graceMs, "stopOnSignals(worker, graceMs)");
  let count = 0;
  const onSignal = () => {
    count += 1;
    if (count > 1) process.exit(130);
    void worker.stop(graceMs);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
};
