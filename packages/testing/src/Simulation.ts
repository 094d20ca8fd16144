/**
 * Deterministic simulation: the real worker and client runtimes against the
 * in-memory store, on a virtual clock (effect's TestClock) with a seeded
 * random source. No real time passes, and a case replays exactly from its
 * seed and plan. Faults are injected at every step of a node's life: a
 * worker crash before or after the handler, a lost report, a duplicate
 * delivery, a report that arrives after the lease expired and the node was
 * re-delivered, clock jumps, and a handler that throws, throws a non-Error,
 * hangs past its timeout, or refuses for good.
 *
 * @since 0.1.0
 */
import {
  type BoundHandler,
  type Canvas,
  createClient,
  NonRetryableError,
  type RetryPolicy,
  type RunSnapshot,
  startWorker,
  TERMINAL,
} from "@weft/core";
import { pino } from "pino";
import { type DeliveryFault, FaultyStore } from "./FaultyStore.ts";
import { MemoryStore } from "./MemoryStore.ts";
import { seededRandom, type VirtualClock, virtualClock } from "./VirtualClock.ts";

/** What a handler does on one execution, before (or instead of) its real work. */
export type HandlerFault = "ok" | "throw" | "throw-non-error" | "hang" | "non-retryable";

/** Faults for one simulation, indexed by node id, then by delivery or execution. */
export interface FaultPlan {
  readonly deliveries?: ReadonlyArray<ReadonlyArray<DeliveryFault>>;
  readonly handlers?: ReadonlyArray<ReadonlyArray<HandlerFault>>;
  /** Clock jumps (ms) applied at driver steps: `[step, ms]`. */
  readonly clockJumps?: ReadonlyArray<readonly [number, number]>;
}

/** Options of a simulation. Durations are virtual ms. */
export interface SimulationOptions<Out> {
  readonly canvas: Canvas<unknown, Out>;
  readonly handlers: ReadonlyArray<BoundHandler>;
  readonly seed: number;
  readonly faults?: FaultPlan;
  /** Worker runtimes sharing the store. Default 2. */
  readonly workers?: number;
  /** Queues the workers consume. Default `["default"]`. */
  readonly queues?: ReadonlyArray<string>;
  readonly concurrency?: number;
  /** Default 1 000. */
  readonly leaseMs?: number;
  readonly retryDefaults?: Partial<RetryPolicy>;
  /** Give up after this much virtual time. Default 24 h. */
  readonly maxVirtualMs?: number;
  /** The virtual clock to run on (handlers may sleep on it to simulate work). Default a new one. */
  readonly clock?: VirtualClock;
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
  /** The run's output when it succeeded. */
  readonly output:
    | { readonly ok: true; readonly value: Out }
    | { readonly ok: false; readonly error: unknown };
  readonly executions: ReadonlyArray<Execution>;
  readonly store: FaultyStore;
  /** Virtual time from submission to the end, ms. */
  readonly elapsedMs: number;
  /** True when the run ended within `maxVirtualMs`. */
  readonly ended: boolean;
}

const flush = async () => {
  for (let i = 0; i < 8; i++) await new Promise<void>((r) => setImmediate(r));
};

/**
 * Runs a canvas to its end under a fault plan.
 *
 * @example
 * const r = await simulate({ canvas, handlers, seed: 42, faults: { deliveries: [["crash-after"]] } })
 * expect(r.snapshot.run.status).toBe("succeeded")
 */
export const simulate = async <Out>(
  opts: SimulationOptions<Out>,
): Promise<SimulationResult<Out>> => {
  const clock = opts.clock ?? (await virtualClock());
  const memory = new MemoryStore({ clock });
  const store = new FaultyStore(memory, opts.faults?.deliveries ?? [], clock.now);
  const random = store.observe(seededRandom(opts.seed));
  const executions: Execution[] = [];
  const counts = new Map<number, number>();
  let runId = "";
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
        switch (fault) {
          case "throw":
            throw new Error(`injected failure of node ${ctx.nodeId}`);
          case "throw-non-error":
            throw { injected: ctx.nodeId };
          case "non-retryable":
            throw new NonRetryableError(`injected refusal of node ${ctx.nodeId}`);
          case "hang":
            return new Promise((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            );
          case "ok":
            return h.run(input, ctx);
        }
      },
    }),
  );
  const silent = pino({ level: "silent" });
  const leaseMs = opts.leaseMs ?? 1_000;
  const workers = Array.from({ length: opts.workers ?? 2 }, (_, i) =>
    startWorker({
      store,
      handlers,
      clock,
      random,
      logger: silent,
      leaseMs,
      idleMs: 100,
      concurrency: opts.concurrency ?? 4,
      workerId: `sim-${i}`,
      queues: opts.queues ?? ["default"],
      ...(opts.retryDefaults ? { retryDefaults: opts.retryDefaults } : {}),
    }),
  );
  const client = createClient(store, clock.now);
  const started = clock.now();
  const handle = await client.submit(opts.canvas, { runId: "sim" });
  runId = handle.runId;
  const limit = opts.maxVirtualMs ?? 86_400_000;
  const jumps = new Map(opts.faults?.clockJumps ?? []);
  let ended = false;
  for (let step = 0; ; step++) {
    await flush();
    const run = memory.peek(runId)!.run;
    if (run.finishedAt !== undefined) {
      ended = true;
      break;
    }
    if (clock.now() - started > limit) break;
    const jump = jumps.get(step);
    if (jump !== undefined) await clock.advance(jump);
    else if (!(await clock.advanceToNext())) break;
  }
  const elapsedMs = clock.now() - started;
  await store.flushHeld();
  const stopping = Promise.all(workers.map((w) => w.stop(1_000)));
  while (workers.some((w) => w.running() > 0) && (await clock.advanceToNext())) await flush();
  await flush();
  await clock.advance(2_000);
  await stopping;
  const output = ended
    ? await handle.result({ timeout: 0 }).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      )
    : {
        ok: false as const,
        error: new Error(`run ${runId} did not end within ${limit} virtual ms`),
      };
  const snapshot = (await memory.getRun(runId))!;
  await memory.close();
  return { runId, snapshot, output, executions, store, elapsedMs, ended };
};

/** Dependencies of `nodeId` that have not ended as its edges require (succeeded, or ended for a settled edge). */
const unmet = (memory: MemoryStore, runId: string, nodeId: number): number[] => {
  const s = memory.peek(runId);
  if (!s) return [];
  return s.graph[nodeId]!.deps.filter((d) => {
    const st = s.nodes[d]!.state;
    const settled = s.graph[d]!.settledDependents.includes(nodeId);
    return settled ? !TERMINAL.has(st) : st !== "succeeded";
  });
};
