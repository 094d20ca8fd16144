/**
 * The worker runtime: claims ready nodes from its queues, runs their
 * handlers with bounded concurrency under leases renewed by heartbeat, and
 * records results (fenced) or failures (retried under the node's policy).
 * Bad input never crashes it: an input or output that fails its schema, a
 * corrupt record or a non-Error throw fails that node with a readable reason
 * and the worker goes on; a node whose task it has no handler for is parked
 * for a worker that has one (docs/operations.md, "Unknown tasks").
 *
 * It registers itself in the store's worker registry (`weft workers`),
 * subscribes to the store's signals so that a cancelled run's handlers are
 * aborted at once, and waits for work with one outstanding `waitForWork` at
 * a time, sleeping no longer than the next due retry.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type Logger, pino } from "pino";
import { inputOf, type Outcome, shapeValue } from "./Args.ts";
import { checkRetryDefaults } from "./Canvas.ts";
import { liveClock, type WorkerClock } from "./Clock.ts";
import { decode, encode } from "./Codec.ts";
import {
  type ErrorInfo,
  fatal,
  InvalidOutput,
  RetryAfter,
  StoreUnavailable,
  toErrorInfo,
} from "./Errors.ts";
import type { BoundHandler, TaskContext } from "./Handler.ts";
import { acquireLock, type HeldLock } from "./Locks.ts";
import { policyOf } from "./Policy.ts";
import { delay, type RetryPolicy, shouldRetry } from "./Retry.ts";
import type { Claim, LeaseState, SettleResult, Store, StoreSignal, WorkerInfo } from "./Store.ts";
import { decodeWith, encodeWith } from "./Task.ts";

/** Worker options. Durations are ms. */
export interface WorkerOptions {
  readonly store: Store;
  readonly handlers: ReadonlyArray<BoundHandler>;
  /** Queues to consume. Default `["default"]`. */
  readonly queues?: ReadonlyArray<string>;
  /** Handlers run at once. Default 8. */
  readonly concurrency?: number;
  /** Lease length; a node whose worker stops heartbeating is re-delivered after it. Default 30 000. */
  readonly leaseMs?: number;
  /** Heartbeat period. Default `leaseMs / 3`. */
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
  readonly workerId?: string;
  readonly logger?: Logger;
  /** Clock to read and sleep on. Default the live clock; simulations pass a virtual one. */
  readonly clock?: WorkerClock;
  /** Random source for jitter, `[0, 1)`. Default `Math.random`. */
  readonly random?: () => number;
}

/** A running worker. */
export interface Worker {
  readonly id: string;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
  /** Nodes currently running. */
  readonly running: () => number;
  /**
   * Stops claiming, waits up to `graceMs` (default 10 000) for running
   * handlers, then aborts the rest and releases their nodes for re-delivery.
   */
  stop(graceMs?: number): Promise<void>;
}

interface Slot {
  claim: Claim;
  abort: AbortController;
  released: boolean;
}

const preview = (v: unknown): string => {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 200);
  } catch {
    return Object.prototype.toString.call(v);
  }
};

/** A task's `retryIf` predicate, where one that throws counts as "do not retry". */
const allows = (retryIf: ((e: ErrorInfo) => boolean) | undefined, error: ErrorInfo): boolean => {
  try {
    return retryIf?.(error) ?? true;
  } catch {
    return false;
  }
};

/**
 * The delay a `RetryAfter` asks for, ms: a negative one is 0 (retry at once);
 * a non-finite one (`NaN`, `Infinity`: a Retry-After header that did not
 * parse) is ignored, and the policy's backoff applies.
 */
const requestedDelay = (e: RetryAfter): number | undefined =>
  Number.isFinite(e.delayMs) ? Math.max(0, e.delayMs) : undefined;

const keyOf = (c: Claim) => `${c.runId}:${c.nodeId}`;

/** Whether `a` and `b` are the same attempt: same run, node and fencing token. */
const sameClaim = (a: Claim, b: Claim): boolean =>
  a.token === b.token && a.nodeId === b.nodeId && a.runId === b.runId;

/** An abort reason: an `Error` whose `name` says why, and whether retrying can help. */
const reason = (name: string, message: string, retryable: boolean): Error => {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, { retryable });
};

/** Why an attempt stops when its lease answers `state` (not `held`). */
const leaseReason = (state: Exclude<LeaseState, "held">): Error =>
  state === "cancelled"
    ? reason("Cancelled", "run cancelled", false)
    : reason("LeaseLost", "lease lost: the node was re-delivered to another worker", true);

/**
 * Logs why a settle report was refused: the run was cancelled (expected: at
 * info), or the lease was lost and the node re-delivered (at warn).
 */
const logRefusal = (log: Logger, r: Extract<SettleResult, { ok: false }>, what: string): void => {
  if (r.reason === "cancelled") log.info(`${what} not recorded: the run was cancelled`);
  else log.warn(`${what} rejected: the lease was lost and the node re-delivered`);
};

/** How long after an outage's first failure its first reminder may be logged, ms; then doubling. */
const OUTAGE_LOG_FIRST_MS = 1_000;
/** The longest interval between two reminders of one outage, ms. */
const OUTAGE_LOG_MAX_MS = 60_000;

/** What {@link outageLog} reports to. */
interface OutageLog {
  /**
   * Counts a failed store call. A `StoreUnavailable` (but a `permission`
   * one, which fails one command every time) is the store's outage: the
   * first one is logged (error), later ones at most one line per backoff
   * step (warn, with the count), and it returns true. Any other error is
   * left to the caller to log (it returns false).
   */
  failed(what: string, err: unknown): boolean;
  /** A store call succeeded: ends an outage, with one "store reachable again" line. */
  ok(): void;
}

/**
 * One account of a store outage for a worker's background calls (claims,
 * heartbeats, maintenance, registration, waits): while Redis is down each of
 * them fails every tick, and a line per failure would flood the log. Lines:
 * the first failure (error); then a reminder with the count of failed calls
 * at most once per step, the steps doubling from 1 s to 1 min; and one
 * "store reachable again" line (warn) at the first call that succeeds.
 */
const outageLog = (log: Logger, now: () => number): OutageLog => {
  let outage: { since: number; failures: number; stepMs: number; nextAt: number } | undefined;
  return {
    failed: (what, err) => {
      // a refused command (NOPERM) fails that command alone, every time: not an outage
      if (!(err instanceof StoreUnavailable) || err.failure === "permission") return false;
      const t = now();
      if (!outage) {
        outage = {
          since: t,
          failures: 1,
          stepMs: OUTAGE_LOG_FIRST_MS,
          nextAt: t + OUTAGE_LOG_FIRST_MS,
        };
        log.error(
          { err, op: what },
          `${what} failed: the store is unavailable; retrying with backoff (running handlers go on: their leases hold until they expire)`,
        );
        return true;
      }
      outage.failures += 1;
      if (t >= outage.nextAt) {
        const downMs = t - outage.since;
        log.warn(
          { err, op: what, failures: outage.failures, downMs },
          `the store is still unavailable after ${seconds(downMs)}: ${outage.failures} calls failed; retrying`,
        );
        outage.stepMs = Math.min(2 * outage.stepMs, OUTAGE_LOG_MAX_MS);
        outage.nextAt = t + outage.stepMs;
      }
      return true;
    },
    ok: () => {
      if (!outage) return;
      const downMs = now() - outage.since;
      log.warn(
        { failures: outage.failures, downMs },
        `store reachable again after ${seconds(downMs)} (${outage.failures} calls failed)`,
      );
      outage = undefined;
    },
  };
};

const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;

/** A serialised error with every nested `command: { name, args }` reduced to `{ name }`. */
const withoutCommandArgs = (v: unknown, depth = 0): unknown => {
  if (typeof v !== "object" || v === null || depth > 8) return v;
  if (Array.isArray(v)) return v.map((x) => withoutCommandArgs(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] =
      k === "command" && typeof x === "object" && x !== null
        ? { name: (x as { name?: unknown }).name }
        : withoutCommandArgs(x instanceof Error ? pino.stdSerializers.err(x) : x, depth + 1);
  }
  return out;
};

/**
 * Starts a worker.
 *
 * @throws InvalidWorkerOptions when `retryDefaults` holds a field out of
 *   range (the same ranges as a task's `retry` option).
 *
 * @example
 * const worker = startWorker({ store, handlers, queues: ["default"], concurrency: 4 })
 * process.on("SIGTERM", () => worker.stop())
 */
export const startWorker = (opts: WorkerOptions): Worker => {
  if (opts.retryDefaults !== undefined) checkRetryDefaults(opts.retryDefaults);
  const store = opts.store;
  const queues = opts.queues ?? ["default"];
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const leaseMs = opts.leaseMs ?? 30_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.floor(leaseMs / 3));
  const idleMs = opts.idleMs ?? 1_000;
  const clock = opts.clock ?? liveClock;
  const now = () => clock.now();
  const random = opts.random ?? Math.random;
  const id = opts.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const base = opts.logger ?? pino({ level: process.env.WEFT_LOG_LEVEL ?? "info" });
  // second line of defence (stores sanitise their errors first): an error's attached
  // command (ioredis: `command.args`, which may hold AUTH credentials) is logged by name only
  const parentErr: (e: unknown) => unknown =
    (base as unknown as Record<symbol, Record<string, (e: unknown) => unknown> | undefined>)[
      pino.symbols.serializersSym
    ]?.err ?? (pino.stdSerializers.err as (e: unknown) => unknown);
  const log = base.child(
    { worker: id },
    { serializers: { err: (e: unknown) => withoutCommandArgs(parentErr(e)) } },
  );
  const handlers = new Map(opts.handlers.map((h) => [h.task.name, h]));
  const tasks = [...handlers.keys()];
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
  const register = () =>
    background("worker registration", () =>
      store.registerWorker(info, { now: now(), ttlMs: registryTtlMs }),
    );
  const slots = new Map<Slot, Promise<void>>();
  let stopping = false;
  let wake = new AbortController();
  const wakeLoop = () => {
    const w = wake;
    wake = new AbortController();
    w.abort("wake"); // a reason: aborting without one builds a DOMException with a stack
  };
  const halt = new AbortController();

  /** Aborts `slot`'s attempt if it still runs `claim` (never the next claim the slot moved on to). */
  const abortAttempt = (slot: Slot, claim: Claim, why: Error) => {
    if (!slot.released && sameClaim(slot.claim, claim)) slot.abort.abort(why);
  };

  const beat = async () => {
    // each answer is matched to the claim it was asked for: a slot may have
    // completed that node and moved on to its next one while the call was out
    const asked = [...slots.keys()]
      .filter((s) => !s.released)
      .map((slot) => ({ slot, claim: slot.claim }));
    // a heartbeat that fails (the store unreachable) aborts nothing: the leases hold until
    // they expire, and the next heartbeat that gets through says which were lost
    const renew = async () => {
      const states = await store.heartbeat(
        asked.map((a) => a.claim),
        { now: now(), leaseMs },
      );
      states.forEach((st, i) => {
        const a = asked[i];
        if (a && st !== "held") abortAttempt(a.slot, a.claim, leaseReason(st));
      });
    };
    await Promise.all([asked.length > 0 && background("heartbeat", renew), register()]);
  };
  const every = async (ms: number, fn: () => Promise<void>) => {
    while (!halt.signal.aborted) {
      await clock.sleep(ms, halt.signal);
      if (halt.signal.aborted) return;
      await fn();
    }
  };

  // a cancelled run's handlers are aborted as soon as the store says so
  const onSignal = (signal: StoreSignal) => {
    if (signal.kind !== "cancelled") return;
    for (const slot of slots.keys()) {
      if (slot.claim.runId === signal.runId) {
        abortAttempt(slot, slot.claim, leaseReason("cancelled"));
      }
    }
  };
  const subscribed = store.subscribe(onSignal).catch((e: unknown) => {
    log.warn({ err: e }, "could not subscribe to store signals; cancellations arrive by heartbeat");
    return undefined;
  });

  const execute = async (slot: Slot): Promise<void> => {
    for (;;) {
      const next = await runOne(slot);
      if (!next || stopping) {
        if (next) await store.release(next, { now: now() }).catch(() => undefined);
        return;
      }
      slot.claim = next;
      slot.abort = new AbortController();
    }
  };

  const unknownSeen = new Set<string>();
  /** Hands back a node whose task this worker has no handler for, to a worker that has one. */
  const park = async (claim: Claim, nlog: () => Logger): Promise<void> => {
    try {
      await store.park(claim, { now: now() });
      const first = !unknownSeen.has(claim.spec.task);
      unknownSeen.add(claim.spec.task);
      nlog()[first ? "warn" : "debug"](
        { handles: tasks },
        `no handler for task "${claim.spec.task}" on this worker: node parked for a worker that has one`,
      );
    } catch (e) {
      nlog().error(
        { err: e },
        "could not park a node of an unknown task; the lease will expire and the node be re-delivered",
      );
    }
  };

  const runOne = async (slot: Slot): Promise<Claim | undefined> => {
    const claim = slot.claim;
    // a child logger costs a few µs: build it only when something is logged
    let child: Logger | undefined;
    const nlog = () => {
      child ??= log.child({
        runId: claim.runId,
        nodeId: claim.nodeId,
        task: claim.spec.task,
        attempt: claim.attempt,
      });
      return child;
    };
    if (!handlers.has(claim.spec.task)) {
      await park(claim, nlog);
      return undefined;
    }
    const outcome = await attempt(claim, slot.abort, nlog);
    if (slot.released) return undefined;
    try {
      if (outcome.ok) {
        const r = await store.complete(claim, outcome.bytes, {
          now: now(),
          workerId: id,
          queues,
          nextMax: stopping ? 0 : 1,
          leaseMs,
        });
        if (!r.ok) logRefusal(nlog(), r, "completion");
        else if (log.isLevelEnabled("debug")) nlog().debug("node succeeded");
        return r.ok ? r.next[0] : undefined;
      }
      // stalls count separately from failures (DESIGN.md §2.6): only reported failures use up attempts
      const failures = claim.attempt - claim.stalls;
      const policy = policyOf(claim.spec, opts.retryDefaults);
      const retryIf = handlers.get(claim.spec.task)?.task.behaviour.retryIf;
      const retry = shouldRetry(policy, failures, outcome.error) && allows(retryIf, outcome.error);
      const at = retry ? now() + (outcome.delayMs ?? delay(policy, failures, random)) : null;
      const r = await store.fail(claim, outcome.error, { now: now(), retryAt: at });
      if (!r.ok) logRefusal(nlog(), r, "failure report");
      else if (outcome.error.tag === "Cancelled") nlog().info("attempt stopped: run cancelled");
      else
        nlog()[retry ? "info" : "warn"](
          { error: outcome.error, retryAt: at },
          retry ? "attempt failed, will retry" : "node failed",
        );
    } catch (e) {
      nlog().error(
        { err: e },
        "could not record the outcome; the lease will expire and the node be re-delivered",
      );
    }
    return undefined;
  };

  const attempt = async (
    claim: Claim,
    abort: AbortController,
    nlog: () => Logger,
  ): Promise<
    { ok: true; bytes: Uint8Array } | { ok: false; error: ErrorInfo; delayMs?: number }
  > => {
    const handler = handlers.get(claim.spec.task);
    if (!handler) {
      // runOne parks such nodes before they get here
      return { ok: false, error: fatal("UnknownTask", `no handler for task "${claim.spec.task}"`) };
    }
    let input: unknown;
    try {
      const outcomes = new Map<number, Outcome>();
      claim.deps.forEach((d, i) => {
        outcomes.set(claim.spec.deps[i]!, d.ok ? { ok: true, value: decode(d.value) } : d);
      });
      const upstream =
        claim.spec.arg === null ? undefined : shapeValue(claim.spec.arg, (n) => outcomes.get(n)!);
      input = inputOf(claim.spec.bind, claim.spec.bound, upstream);
    } catch (e) {
      return {
        ok: false,
        error: fatal("CorruptRecord", `cannot read this node's upstream results: ${String(e)}`),
      };
    }
    const decoded = decodeWith(handler.task.input, input);
    if (!decoded.ok) {
      return {
        ok: false,
        error: fatal(
          "InvalidInput",
          `input of task "${claim.spec.task}" does not match its schema: ${decoded.detail}`,
        ),
      };
    }
    const timeoutMs = claim.spec.options.timeoutMs;
    const deadline = timeoutMs === undefined ? undefined : now() + timeoutMs;
    const locks: HeldLock[] = [];
    const owner = `${id}:${claim.runId}:${claim.nodeId}:${claim.token}`;
    const ctx: TaskContext = {
      runId: claim.runId,
      nodeId: claim.nodeId,
      task: claim.spec.task,
      attempt: claim.attempt,
      idempotencyKey: `${claim.runId}:${claim.nodeId}`,
      signal: abort.signal,
      get log() {
        return nlog();
      },
      progress: async (p) => {
        const state = await store.progress(claim, p);
        if (state !== "held" && !abort.signal.aborted) abort.abort(leaseReason(state));
        return state;
      },
      lock: async (name, lockOpts = {}) => {
        const held = await acquireLock(store, clock, {
          ...lockOpts,
          name,
          owner,
          onLost: (e) => abort.abort(e),
        });
        locks.push(held);
        return held;
      },
      ...(deadline === undefined ? {} : { deadline }),
    };
    const behaviour = handler.task.behaviour;
    let memoKey: string | undefined;
    const settled = new AbortController();
    try {
      const aborted = new Promise<never>((_, reject) => {
        const onAbort = () => reject(abort.signal.reason);
        if (abort.signal.aborted) onAbort();
        else abort.signal.addEventListener("abort", onAbort, { once: true });
      });
      if (timeoutMs !== undefined) {
        void clock.sleep(timeoutMs, settled.signal).then(() => {
          if (settled.signal.aborted) return;
          const e = new Error(`attempt timed out after ${timeoutMs} ms`);
          e.name = "Timeout";
          abort.abort(e);
        });
      }
      memoKey = behaviour.idempotencyKey?.(decoded.value);
      if (memoKey !== undefined) {
        const memo = await store.getMemo(claim.spec.task, memoKey, now());
        if (memo) return { ok: true, bytes: memo }; // an earlier execution with this key recorded it
      }
      if (behaviour.lock) {
        const name =
          typeof behaviour.lock.name === "string"
            ? behaviour.lock.name
            : behaviour.lock.name(decoded.value);
        await Promise.race([ctx.lock(name, behaviour.lock), aborted]);
      }
      const out = await Promise.race([handler.run(decoded.value, ctx), aborted]);
      const encoded = encodeWith(handler.task.output, out);
      if (!encoded.ok) {
        return {
          ok: false,
          error: fatal(
            "InvalidOutput",
            `result of task "${claim.spec.task}" does not match its output schema: ${encoded.detail} (got ${preview(out)})`,
          ),
        };
      }
      let bytes: Uint8Array;
      try {
        bytes = encode(encoded.value);
      } catch (e) {
        // a value its schema let through but the codec cannot store (not plain data, a cycle,
        // a huge bigint): not retried, whatever the codec threw
        const detail =
          e instanceof InvalidOutput
            ? e.detail
            : `cannot be encoded: ${e instanceof Error ? e.message : String(e)}`;
        return {
          ok: false,
          error: fatal(
            "InvalidOutput",
            new InvalidOutput({ task: claim.spec.task, detail }).message,
          ),
        };
      }
      if (memoKey !== undefined) {
        await store.putMemo(
          claim.spec.task,
          memoKey,
          bytes,
          behaviour.idempotencyTtlMs ?? 86_400_000,
          now(),
        );
      }
      return { ok: true, bytes };
    } catch (e) {
      const delayMs = e instanceof RetryAfter ? requestedDelay(e) : undefined;
      if (e instanceof RetryAfter && delayMs === undefined) {
        nlog().warn(
          { delayMs: String(e.delayMs) },
          "RetryAfter's delay is not a finite number of ms: the retry policy's backoff applies",
        );
      }
      return { ok: false, error: toErrorInfo(e), ...(delayMs === undefined ? {} : { delayMs }) };
    } finally {
      settled.abort("done");
      await Promise.all(locks.map((l) => l.unlock().catch(() => undefined)));
    }
  };

  const spawn = (claim: Claim) => {
    const slot: Slot = { claim, abort: new AbortController(), released: false };
    const p = execute(slot)
      .catch((e) => log.error({ err: e, node: keyOf(slot.claim) }, "slot crashed"))
      .finally(() => {
        slots.delete(slot);
        wakeLoop();
      });
    slots.set(slot, p);
  };

  // One outstanding waitForWork at a time, reused across loop iterations
  // until it answers: a wait abandoned for another wake-up would stay
  // blocked in the store and swallow the next work signal (docs/operations.md, "Wake-up").
  let waiter: { done: boolean; wait: Promise<void> } | undefined;
  const waitForWork = () => {
    if (waiter) return waiter;
    const w = { done: false, wait: Promise.resolve() };
    w.wait = store
      .waitForWork(queues, idleMs)
      .then(
        () => outage.ok(),
        async (e: unknown) => {
          if (stopping) return;
          if (!outage.failed("waiting for work", e))
            log.warn({ err: e }, "waiting for work failed");
          await clock.sleep(Math.min(idleMs, 1_000), halt.signal); // no busy loop on a broken connection
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
      if (ms > 0 && !w.done) await Promise.race([w.wait, clock.sleep(ms, woken)]);
    }
    if (w.done && waiter === w) waiter = undefined;
  };

  let requestSeq = 0;
  const requestPrefix = randomUUID().slice(0, 8);
  const nextRequestId = () => `${requestPrefix}:${++requestSeq}`;

  const loop = async () => {
    await Promise.all([subscribed, register()]);
    let failures = 0;
    // kept after a failed claim: the retried call gets back what a claim whose reply was lost leased
    let requestId = nextRequestId();
    while (!stopping) {
      const woken = wake.signal;
      const free = concurrency - slots.size;
      if (free <= 0) {
        await clock.sleep(idleMs, woken);
        continue;
      }
      let claims: ReadonlyArray<Claim>;
      try {
        claims = await store.claim({
          workerId: id,
          queues,
          tasks,
          max: free,
          leaseMs,
          now: now(),
          requestId,
        });
        requestId = nextRequestId();
        failures = 0;
        outage.ok();
      } catch (e) {
        failures += 1;
        if (!outage.failed("claim", e)) log.error({ err: e }, "claim failed; retrying");
        await clock.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), woken);
        continue;
      }
      for (const c of claims) spawn(c);
      if (claims.length === 0 && !stopping) await idle(woken);
    }
  };

  const heartbeats = every(heartbeatMs, beat);
  const maintenance = every(Math.max(50, Math.min(1_000, Math.floor(leaseMs / 4))), () =>
    background("maintenance", () => store.maintain({ now: now(), queues })),
  );
  log.info({ queues, tasks, concurrency, leaseMs, store: store.name }, "worker started");
  const looping = loop();
  let stopped: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const stop = (graceMs = 10_000): Promise<void> => {
    if (stopped) return stopped;
    stopping = true;
    wakeLoop();
    stopped = (async () => {
      await looping;
      const all = Promise.all(slots.values());
      const graceOver = new AbortController();
      const timedOut = await Promise.race([
        all.then(() => false),
        clock.sleep(graceMs, graceOver.signal).then(() => !graceOver.signal.aborted),
      ]);
      graceOver.abort("done");
      if (timedOut) {
        let released = 0;
        for (const slot of [...slots.keys()]) {
          slot.released = true;
          slot.abort.abort(reason("WorkerStopping", "worker stopping", true));
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
      halt.abort("stop");
      await Promise.all([heartbeats, maintenance]);
      const unsubscribe = await subscribed;
      await unsubscribe?.().catch(() => undefined);
      await store
        .unregisterWorker(id)
        .catch((e) => log.warn({ err: e }, "could not remove the worker's registration"));
      log.info("worker stopped");
      resolveDone();
    })();
    return stopped;
  };

  return { id, done, running: () => slots.size, stop };
};

/** Stops `worker` gracefully on SIGTERM and SIGINT (a second signal exits at once). */
export const stopOnSignals = (worker: Worker, graceMs?: number): void => {
  let count = 0;
  const onSignal = () => {
    count += 1;
    if (count > 1) process.exit(130);
    void worker.stop(graceMs);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
};
