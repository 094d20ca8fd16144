/**
 * Deterministic simulation: the real worker and client runtimes against the
 * in-memory store, on a virtual clock with a seeded random source. No real
 * time passes (unless a handler does real I/O), and a case replays exactly
 * from its seed and plan. Faults are injected at every step of a node's life: a
 * worker crash before or after the handler, a lost report, a duplicate
 * delivery, a report that arrives after the lease expired and the node was
 * re-delivered, clock jumps, and a handler that throws, throws a non-Error,
 * hangs past its timeout, or refuses for good.
 *
 * The simulated workers consume every queue of the canvas, and a run that
 * cannot progress (a node ready on a queue nobody consumes, a task without a
 * handler, a handler nothing can end) stops the simulation at once with
 * {@link SimulationStuck}, naming why. Virtual time never runs ahead of a
 * handler's real I/O (see docs/testing.md).
 */
import {
  type AnyTask,
  type BoundHandler,
  type Canvas,
  createClient,
  ErrorTag,
  NonRetryableError,
  type RetryPolicy,
  type RunSnapshot,
  startWorker,
  type TaskContext,
  type TaskRef,
  TERMINAL_NODE_STATES,
} from "@weft/core";
import { compile, type RunState } from "@weft/core/store";
import { Data } from "effect";
import { pino } from "pino";
import { type DeliveryFault, FaultyStore } from "./FaultyStore.ts";
import { MemoryStore } from "./MemoryStore.ts";
import { type SleepOwner, seededRandom, type VirtualClock, virtualClock } from "./VirtualClock.ts";

/** What a handler does on one execution, before (or instead of) its real work. */
export type HandlerFault = "ok" | "throw" | "throw-non-error" | "hang" | "non-retryable";

/** Faults for one simulation, indexed by node id, then by delivery or execution. */
export interface FaultPlan {
  readonly deliveries?: ReadonlyArray<ReadonlyArray<DeliveryFault>>;
  readonly handlers?: ReadonlyArray<ReadonlyArray<HandlerFault>>;
  /** Clock jumps (ms) applied at driver steps: `[step, ms]`. */
  readonly clockJumps?: ReadonlyArray<readonly [number, number]>;
}

/** Options of a simulation. Durations are virtual ms unless said otherwise. */
export interface SimulationOptions<Out> {
  readonly canvas: Canvas<unknown, Out>;
  readonly handlers: ReadonlyArray<BoundHandler>;
  readonly seed: number;
  readonly faults?: FaultPlan;
  /** Worker runtimes sharing the store. Default 2. */
  readonly workers?: number;
  /**
   * Queues the workers consume. Default every queue a node of the canvas is
   * routed to. A node made ready on a queue left out stops the simulation
   * with {@link SimulationStuck}.
   */
  readonly queues?: ReadonlyArray<string>;
  readonly concurrency?: number;
  /** Default 1 000. */
  readonly leaseMs?: number;
  readonly retryDefaults?: Partial<RetryPolicy>;
  /** Give up after this much virtual time ({@link SimulationTimeout}). Default 24 h. */
  readonly maxVirtualMs?: number;
  /** The virtual clock to run on (handlers may sleep on it to simulate work). Default a new one. */
  readonly clock?: VirtualClock;
  /**
   * Real ms a handler may spend awaiting something other than the virtual
   * clock (a socket, a real timer, an `Effect.sleep`) while virtual time
   * waits for it, moving no faster than real time. After that the handler is
   * taken to wait on virtual time (its `ctx.signal`: a timeout, a
   * cancellation) and the clock runs ahead again. Default 1 000.
   */
  readonly realIoGraceMs?: number;
}

/** One execution of a handler, as the simulation saw it. */
export interface Execution {
  readonly nodeId: number;
  readonly attempt: number;
  readonly at: number;
  readonly fault: HandlerFault;
  readonly input: unknown;
  /** Dependencies that had not ended as the node's edges require when it started. */
  readonly unmetDeps: ReadonlyArray<number>;
}

/** What a simulation observed. */
export interface SimulationResult<Out> {
  readonly runId: string;
  readonly snapshot: RunSnapshot;
  /**
   * The run's output when it succeeded; otherwise `RunFailed` (the run ended
   * failed), {@link SimulationStuck} or {@link SimulationTimeout}.
   */
  readonly output:
    | { readonly ok: true; readonly value: Out }
    | { readonly ok: false; readonly error: unknown };
  readonly executions: ReadonlyArray<Execution>;
  readonly store: FaultyStore;
  /** Virtual time from submission to the end, ms. */
  readonly elapsedMs: number;
  /** Driver steps taken: each moves virtual time to the next deadline, or waits for real I/O. */
  readonly steps: number;
  /** True when the run ended within `maxVirtualMs`. */
  readonly ended: boolean;
}

/**
 * The simulated run cannot progress: nothing that can still happen in the
 * simulation would end it. `reasons` name each blocked node and why (a queue
 * no simulated worker consumes, a task no handler was given for, a handler
 * that nothing can end, ...).
 */
export class SimulationStuck extends Data.TaggedError(ErrorTag.SimulationStuck)<{
  readonly runId: string;
  readonly reasons: ReadonlyArray<string>;
  /** Virtual ms from submission to the moment it was found stuck. */
  readonly elapsedMs: number;
}> {
  override get message() {
    return `run ${this.runId} cannot progress (after ${this.elapsedMs} virtual ms): ${listed(this.reasons)}`;
  }
}

/** The simulated run was still progressing when `maxVirtualMs` ran out; `pending` names its unfinished nodes. */
export class SimulationTimeout extends Data.TaggedError(ErrorTag.SimulationTimeout)<{
  readonly runId: string;
  readonly limitMs: number;
  readonly pending: ReadonlyArray<string>;
}> {
  override get message() {
    return `run ${this.runId} did not end within ${this.limitMs} virtual ms; unfinished: ${listed(this.pending)}`;
  }
}

/** The first few items, joined, and how many more there are (a message stays readable for a 100,000-node run). */
const listed = (items: ReadonlyArray<string>, max = 10): string =>
  items.length <= max
    ? items.join("; ")
    : `${items.slice(0, max).join("; ")}; and ${items.length - max} more`;

/** A handler execution in flight, and what it waits on. */
interface Live extends SleepOwner {
  readonly nodeId: number;
  readonly attempt: number;
  readonly signal: AbortSignal;
  settled: boolean;
  /** Waits for its signal only (the injected `hang`): an end comes from virtual time. */
  hang: boolean;
  /** Calls of `ctx.lock` not yet returned: while in one, the lock's own sleeps count as waiting on the clock. */
  locking: number;
  /** Sleeps of `ctx.lock` (polling a held lock, renewing it): they go on while the handler does other things. */
  readonly background: SleepOwner;
  /** Real time (performance.now(), ms) since when it has not been waiting on the virtual clock. */
  since: number;
  wasWaiting: boolean;
}

const waitsOnClock = (e: Live): boolean =>
  e.hang || e.sleeping > 0 || (e.locking > 0 && e.background.sleeping > 0);

const flush = async () => {
  for (let i = 0; i < 8; i++) await new Promise<void>((r) => setImmediate(r));
};

const quote = (names: Iterable<string>): string =>
  [...names].map((n) => JSON.stringify(n)).join(", ") || "none";

/**
 * Runs a canvas to its end under a fault plan.
 *
 * @throws InvalidCanvas / InvalidInput when the canvas does not compile (before anything runs).
 * @example
 * const r = await simulate({ canvas, handlers, seed: 42, faults: { deliveries: [["crash-after"]] } })
 * expect(r.snapshot.run.status).toBe("succeeded")
 */
export const simulate = async <Out>(
  opts: SimulationOptions<Out>,
): Promise<SimulationResult<Out>> => {
  const dag = compile(opts.canvas);
  const queues = opts.queues ?? dag.queues;
  const consumed = new Set(queues);
  const grace = Math.max(0, opts.realIoGraceMs ?? 1_000);
  const clock = opts.clock ?? (await virtualClock());
  const memory = new MemoryStore({ clock });
  const store = new FaultyStore(memory, opts.faults?.deliveries ?? [], clock.now);
  const random = store.observe(seededRandom(opts.seed));
  const executions: Execution[] = [];
  const counts = new Map<number, number>();
  let runId = "";

  // handler executions in flight; the driver waits on `changed` for one to end or sleep
  const live = new Set<Live>();
  /** The background owner of each execution's lock sleeps. */
  const backgrounds = new WeakMap<SleepOwner, Live>();
  /** Owner of the workers' own sleeps (idle polls, heartbeats, maintenance, attempt timeouts). */
  const workersOwner: SleepOwner = { sleeping: 0 };
  let wakeDriver: (() => void) | undefined;
  const poke = () => {
    const w = wakeDriver;
    wakeDriver = undefined;
    w?.();
  };
  const changed = () =>
    new Promise<void>((r) => {
      wakeDriver = r;
    });
  const track = (ctx: TaskContext): Live => {
    const e: Live = {
      nodeId: ctx.nodeId,
      attempt: ctx.attempt,
      signal: ctx.signal,
      settled: false,
      hang: false,
      locking: 0,
      sleeping: 0,
      since: performance.now(),
      wasWaiting: false,
      changed: () => {
        const waiting = waitsOnClock(e);
        if (e.wasWaiting && !waiting) e.since = performance.now();
        e.wasWaiting = waiting;
        poke();
      },
      background: { sleeping: 0, changed: () => e.changed?.() },
    };
    live.add(e);
    backgrounds.set(e.background, e);
    ctx.signal.addEventListener("abort", poke, { once: true });
    return e;
  };
  // the handler's context, with `ctx.lock` running its sleeps in the background of the execution
  const traced = (ctx: TaskContext, e: Live): TaskContext => {
    const lock: TaskContext["lock"] = (name, lockOpts) => {
      e.locking += 1;
      e.changed?.();
      return clock
        .attribute(e.background, () => ctx.lock(name, lockOpts))
        .finally(() => {
          e.locking -= 1;
          e.changed?.();
        });
    };
    return new Proxy(ctx, {
      get: (target, key, receiver) => (key === "lock" ? lock : Reflect.get(target, key, receiver)),
    });
  };

  const handlers = opts.handlers.map(
    (h): BoundHandler => ({
      task: h.task,
      run: async (input, ctx) => {
        const k = counts.get(ctx.nodeId) ?? 0;
        counts.set(ctx.nodeId, k + 1);
        const fault = opts.faults?.handlers?.[ctx.nodeId]?.[k] ?? "ok";
        executions.push({
          nodeId: ctx.nodeId,
          attempt: ctx.attempt,
          at: clock.now(),
          fault,
          input,
          unmetDeps: unmet(memory, ctx.runId, ctx.nodeId),
        });
        const e = track(ctx);
        try {
          return await clock.attribute(e, () => {
            switch (fault) {
              case "throw":
                throw new Error(`injected failure of node ${ctx.nodeId}`);
              case "throw-non-error":
                throw { injected: ctx.nodeId };
              case "non-retryable":
                throw new NonRetryableError(`injected refusal of node ${ctx.nodeId}`);
              case "hang":
                e.hang = true;
                return untilAborted(ctx.signal);
              case "ok":
                return h.run(input, traced(ctx, e));
            }
          });
        } finally {
          e.settled = true;
          live.delete(e);
          poke();
        }
      },
    }),
  );

  // A task no handler was given for: in Weft such a node waits for a worker that
  // has the task, which never comes here. A stand-in takes the node, reports it
  // and holds it until the simulation stops.
  const given = new Set(opts.handlers.map((h) => h.task.name));
  const blocked: string[] = [];
  const missing = new Map<string, TaskRef>();
  for (const t of dag.tasks) if (!given.has(t.name)) missing.set(t.name, t);
  const standIns = [...missing.values()].map(
    (t): BoundHandler => ({
      task: { ...t, _tag: "Task", errors: t.errors ?? [], behaviour: {} } as unknown as AnyTask,
      run: (_input, ctx) => {
        const why = `node ${ctx.nodeId} (task "${t.name}") is ready but no handler was given for task "${t.name}" (handlers: ${quote(given)})`;
        if (!blocked.includes(why)) blocked.push(why); // a duplicate delivery reports it once
        poke();
        return untilAborted(ctx.signal);
      },
    }),
  );

  const silent = pino({ level: "silent" });
  const leaseMs = opts.leaseMs ?? 1_000;
  const concurrency = opts.concurrency ?? 4;
  // started under the workers' owner: every sleep of their loops is counted for it
  const workers = Array.from({ length: opts.workers ?? 2 }, (_, i) =>
    clock.attribute(workersOwner, () =>
      startWorker({
        store,
        handlers: [...handlers, ...standIns],
        clock,
        random,
        logger: silent,
        leaseMs,
        // an idle worker is woken by the store's work signal: its idle poll is only a
        // fallback, and a shorter one would only add steps (real CPU) per virtual second
        idleMs: 1_000,
        concurrency,
        workerId: `sim-${i}`,
        queues,
        ...(opts.retryDefaults ? { retryDefaults: opts.retryDefaults } : {}),
      }),
    ),
  );
  const client = createClient(store, clock.now);
  const started = clock.now();
  const handle = await client.submit(opts.canvas, { runId: "sim" });
  runId = handle.runId;
  const limit = opts.maxVirtualMs ?? 86_400_000;
  const jumps = new Map(opts.faults?.clockJumps ?? []);

  /** Queued nodes on a queue no simulated worker consumes. */
  const unconsumed = (s: RunState): string[] =>
    s.nodes.flatMap((n, id) => {
      const spec = s.graph[id]!;
      return n.state === "queued" && !consumed.has(spec.queue)
        ? [
            `node ${id} (task "${spec.task}") is ready on queue "${spec.queue}", which no simulated worker consumes (they consume ${quote(queues)})`,
          ]
        : [];
    });

  /**
   * Why nothing that can still happen would move the run, or `undefined`
   * when something can: a due retry, a claimable node, a lease that will
   * expire, a timeout, a sleeper on the clock other than the workers' own
   * loops (a handler's sleep, a held lock it polls for, your code's).
   */
  const cannotProgress = (s: RunState): string[] | undefined => {
    const queued: number[] = [];
    const running: number[] = [];
    for (let id = 0; id < s.nodes.length; id++) {
      const state = s.nodes[id]!.state;
      if (state === "retrying") return undefined;
      if (state === "queued") queued.push(id);
      else if (state === "running") {
        if (s.graph[id]!.options.timeoutMs !== undefined) return undefined;
        running.push(id);
      }
    }
    if (queued.length > 0 && workers.some((w) => w.activeCount() < concurrency)) return undefined;
    if (clock.pending().some(({ owner }) => mayMove(owner))) return undefined;
    const hung: string[] = [];
    for (const id of running) {
      const attempt = s.nodes[id]!.attempts;
      const mine = [...live].filter(
        (e) => e.nodeId === id && e.attempt === attempt && !e.settled && !e.signal.aborted,
      );
      // no handler running it: a crashed worker's lease expires, or a worker is about to run or report it
      if (mine.length === 0) return undefined;
      // its worker crashed after the handler started (or will report late): the lease expires
      const lapses = store.deliveries.some(
        (d) =>
          d.nodeId === id &&
          d.attempt === attempt &&
          (d.fault === "crash-after" || d.fault === "late"),
      );
      if (lapses) return undefined;
      hung.push(
        `node ${id} (task "${s.graph[id]!.task}", attempt ${attempt}) runs a handler that has not settled, is not sleeping on the simulation's clock and has no timeoutMs: nothing can end it`,
      );
    }
    const starved = queued.map(
      (id) =>
        `node ${id} (task "${s.graph[id]!.task}") is ready but every worker slot is held by a handler nothing can end`,
    );
    const reasons = [...hung, ...starved];
    return reasons.length > 0 ? reasons : ["no node of the run can start or end"];
  };
  /**
   * Whether a sleep of `owner` may move the run when it wakes: not the
   * workers' own loops (idle polls, heartbeats, maintenance), and not the
   * renewals of a lock whose handler is not waiting for a lock.
   */
  const mayMove = (owner: SleepOwner | undefined): boolean => {
    if (owner === workersOwner) return false;
    const e = owner === undefined ? undefined : backgrounds.get(owner);
    return e === undefined || e.locking > 0;
  };

  let ended = false;
  let failure: SimulationStuck | SimulationTimeout | undefined;
  let steps = 0;
  /** While handlers do real I/O, virtual time follows real time from this anchor. */
  let anchor: { readonly real: number; readonly virtual: number } | undefined;
  const stuck = (reasons: ReadonlyArray<string>) =>
    new SimulationStuck({ runId, reasons, elapsedMs: clock.now() - started });
  for (; ; steps++) {
    await flush();
    const s = memory.peek(runId)!;
    if (s.run.finishedAt !== undefined) {
      ended = true;
      break;
    }
    const now = clock.now();
    const blocking = [...blocked, ...unconsumed(s)];
    if (blocking.length > 0) {
      failure = stuck(blocking);
      break;
    }
    if (now - started > limit) {
      failure = new SimulationTimeout({ runId, limitMs: limit, pending: unfinished(s) });
      break;
    }
    const real = performance.now();
    const busy = [...live].filter(
      (e) => !e.settled && !e.signal.aborted && !waitsOnClock(e) && real < e.since + grace,
    );
    if (busy.length > 0) {
      // Real I/O in flight: wait for a handler to end or sleep on the clock, and
      // let virtual time pass no faster than real time meanwhile.
      anchor ??= { real, virtual: now };
      const next = clock.nextDeadline();
      const dueAt = next === undefined ? Infinity : anchor.real + (next - anchor.virtual);
      const graceEnd = Math.min(...busy.map((e) => e.since + grace));
      const wait = Math.min(dueAt, graceEnd) - real;
      let timer: NodeJS.Timeout | undefined;
      const woken = changed();
      const timedOut = await Promise.race([
        woken.then(() => false),
        new Promise<boolean>((r) => {
          if (wait < 2_147_483_647) timer = setTimeout(() => r(true), Math.max(0, wait));
        }),
      ]);
      clearTimeout(timer);
      wakeDriver = undefined;
      if (timedOut && performance.now() >= dueAt) await clock.advanceToNext();
      continue;
    }
    anchor = undefined;
    const why = cannotProgress(s);
    if (why) {
      failure = stuck(why);
      break;
    }
    const jump = jumps.get(steps);
    if (jump !== undefined) await clock.advance(jump);
    else if (!(await clock.advanceToNext())) {
      failure = stuck(["nothing is scheduled on the virtual clock"]);
      break;
    }
  }
  const elapsedMs = clock.now() - started;
  await store.flushHeld();
  const stopping = Promise.all(workers.map((w) => w.stop(1_000)));
  while (workers.some((w) => w.activeCount() > 0) && (await clock.advanceToNext())) await flush();
  await flush();
  await clock.advance(2_000);
  await stopping;
  const output = ended
    ? await handle.result({ timeout: 0 }).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      )
    : { ok: false as const, error: failure };
  const snapshot = (await memory.getRun(runId))!;
  await memory.close();
  return { runId, snapshot, output, executions, store, elapsedMs, steps, ended };
};

/** A promise that rejects with the signal's reason once it aborts. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

/** The run's unfinished nodes, described. */
const unfinished = (s: RunState): string[] =>
  s.nodes.flatMap((n, id) => {
    if (TERMINAL_NODE_STATES.has(n.state)) return [];
    const spec = s.graph[id]!;
    const due = n.state === "retrying" && n.dueAt !== undefined ? ` until ${n.dueAt}` : "";
    return [`node ${id} (task "${spec.task}", queue "${spec.queue}") ${n.state}${due}`];
  });

/** Dependencies of `nodeId` that have not ended as its edges require (succeeded, or ended for a settled edge). */
const unmet = (memory: MemoryStore, runId: string, nodeId: number): number[] => {
  const s = memory.peek(runId);
  if (!s) return [];
  return s.graph[nodeId]!.deps.filter((d) => {
    const st = s.nodes[d]!.state;
    const g = s.graph[d]!;
    // an error callback waits on the failure of the node it reports on
    if (g.errorDependents?.includes(nodeId)) return st !== "failed";
    return g.settledDependents.includes(nodeId)
      ? !TERMINAL_NODE_STATES.has(st)
      : st !== "succeeded";
  });
};
