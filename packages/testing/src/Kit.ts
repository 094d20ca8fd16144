/**
 * The testing kit for users' handlers: run canvases eagerly in-process
 * (Celery's `task_always_eager`, with Weft's real semantics), derive inputs
 * from a task's schema, and check that a handler is safe under retries,
 * crashes and duplicate deliveries, and idempotent under its idempotency key.
 */

import { inspect, isDeepStrictEqual } from "node:util";
import {
  type AnyTask,
  type BoundHandler,
  type Canvas,
  type HandlerFn,
  handle,
  type InputOf,
  InvalidCanvas,
  liveClock,
} from "@weft/core";
import { compile, decode, type EffectCodec, isStandardSchema, runAttempt } from "@weft/core/store";
import { Arbitrary, Effect } from "effect";
import fc from "fast-check";
import { pino } from "pino";
import type { DeliveryFault } from "./FaultyStore.ts";
import { MemoryStore } from "./MemoryStore.ts";
import { type FaultPlan, type SimulationOptions, simulate } from "./Simulation.ts";

/** Options of {@link runEager}. */
export interface EagerOptions {
  /** Seeds the random source (retry jitter). Default 1. */
  readonly seed?: number;
  readonly faults?: FaultPlan;
  /** Queues consumed. Default every queue a node of the canvas is routed to. */
  readonly queues?: ReadonlyArray<string>;
  /** See {@link SimulationOptions.realIoGraceMs} (real ms). Default 1 000. */
  readonly realIoGraceMs?: SimulationOptions<unknown>["realIoGraceMs"];
}

/**
 * Runs a canvas in-process on the in-memory store with the real worker
 * runtime, on virtual time (retries and backoffs take no real time; a
 * handler's real I/O does), consuming every queue the canvas uses, and
 * returns its typed output.
 *
 * @throws RunFailed when the run ends failed.
 * @throws SimulationStuck at once when the run cannot progress, naming why
 *   (a task with no handler, a node on a queue left out of `queues`, a
 *   handler nothing can end).
 * @throws SimulationTimeout when the run still goes on after a day of virtual time.
 * @example
 * expect(await runEager(chain(add.si({ a: 1, b: 2 }), double.s()), handlers)).toBe(6)
 */
export const runEager = async <Out>(
  canvas: Canvas<unknown, Out>,
  handlers: ReadonlyArray<BoundHandler>,
  opts: EagerOptions = {},
): Promise<Out> => {
  const r = await simulate({
    canvas,
    handlers,
    seed: opts.seed ?? 1,
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.queues ? { queues: opts.queues } : {}),
    ...(opts.realIoGraceMs === undefined ? {} : { realIoGraceMs: opts.realIoGraceMs }),
  });
  if (!r.output.ok) throw r.output.error;
  return r.output.value;
};

/**
 * A fast-check arbitrary of valid inputs of `task`, derived from its input
 * schema (effect's `Arbitrary.schema`; a fast-check seed picks each value,
 * so shrinking shrinks the seed).
 *
 * @throws InvalidCanvas when the task's input is a Standard Schema (zod,
 *   valibot, ...): values cannot be derived from a validator; write an
 *   arbitrary by hand.
 */
export const forAllInputs = <T extends AnyTask>(task: T): fc.Arbitrary<InputOf<T>> => {
  const input = task.input;
  if (isStandardSchema(input)) {
    throw new InvalidCanvas({
      reason: `forAllInputs(${task.name}) derives inputs from an Effect Schema; this task's input is a ${input["~standard"].vendor} schema: write a fast-check arbitrary for it by hand`,
    });
  }
  const arb = Arbitrary.schema(input as EffectCodec);
  return fc
    .noShrink(fc.integer())
    .map(
      (seed) => Effect.runSync(Arbitrary.sampleEffect(arb, { count: 1, seed }))[0] as InputOf<T>,
    );
};

/** Options of {@link checkRetrySafe}. */
export interface RetrySafeOptions<T extends AnyTask, Env> {
  readonly task: T;
  /** Builds the handler on a given environment (a fake database, a counter). */
  readonly handler: (env: Env) => HandlerFn<T>;
  /** A fresh environment for each run. */
  readonly setup: () => Env;
  /** The observable outcome of a run (what a user of the system would see). */
  readonly observe: (env: Env) => unknown;
  /** Inputs to try. Default {@link forAllInputs}. */
  readonly inputs?: fc.Arbitrary<InputOf<T>>;
  readonly numRuns?: number;
  readonly seed?: number;
}

const arbFaults = fc.record({
  deliveries: fc.array(
    fc.constantFrom<DeliveryFault>("crash-after", "duplicate", "late", "crash-before", "none"),
    {
      minLength: 1,
      maxLength: 3,
    },
  ),
  throws: fc.integer({ min: 0, max: 2 }),
});

/**
 * Checks that running `handler` under injected faults — reports lost after
 * the handler ran (a crash), duplicate deliveries, late reports, failures
 * before the handler, and the retries they cause — has the same observable
 * outcome and the same result as running it once without faults. Each run
 * consumes the task's own queue.
 *
 * @throws Error (fast-check's report) with the input and fault plan of the
 *   smallest counterexample; a run that cannot progress or does not end
 *   (`SimulationStuck`, `SimulationTimeout`) is a counterexample too, with
 *   that error's message.
 */
export const checkRetrySafe = async <T extends AnyTask, Env>(
  opts: RetrySafeOptions<T, Env>,
): Promise<void> => {
  const generous = { retry: { maxAttempts: 10, maxStalls: 10 } };
  const once = async (input: InputOf<T>, faults: FaultPlan) => {
    const env = opts.setup();
    const r = await simulate({
      canvas: opts.task.si(input).with(generous),
      handlers: [handle(opts.task, opts.handler(env))],
      seed: 1,
      faults,
    });
    if (!r.output.ok && !r.ended) throw r.output.error; // nothing to compare: say why
    return {
      observed: opts.observe(env),
      output: r.output.ok ? r.output.value : `failed: ${String(r.output.error)}`,
    };
  };
  await fc.assert(
    fc.asyncProperty(opts.inputs ?? forAllInputs(opts.task), arbFaults, async (input, f) => {
      const clean = await once(input, {});
      const faulty = await once(input, {
        deliveries: [f.deliveries],
        handlers: [Array.from({ length: f.throws }, () => "throw" as const)],
      });
      expectEqual(faulty, clean, "with faults", "without");
    }),
    {
      numRuns: opts.numRuns ?? 50,
      includeErrorInReport: true,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    },
  );
};

/** Options of {@link checkIdempotent}. */
export type IdempotentOptions<T extends AnyTask, Env> = RetrySafeOptions<T, Env>;

/** The run and worker ids the attempts of {@link checkIdempotent} run under (`ctx.idempotencyKey` is `idempotency-check:0`). */
const CHECK_ID = "idempotency-check";

/**
 * Runs `times` attempts of one node of `task` on `input`, each a real
 * attempt (`runAttempt`, as a worker runs it) on a fresh in-memory store,
 * each after the one before it failed and was retried; returns the last
 * attempt's output, decoded.
 *
 * @throws Error naming the attempt and its error when an attempt fails: a
 *   handler that fails on its own is not something this check can judge.
 */
const runAttempts = async (
  task: AnyTask,
  handler: BoundHandler,
  input: unknown,
  times: number,
): Promise<unknown> => {
  const store = new MemoryStore();
  const dag = compile(task.si(input));
  const now = () => liveClock.now();
  await store.submit({
    runId: CHECK_ID,
    dag,
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 3_600_000,
    now: now(),
  });
  const env = { store, clock: liveClock, workerId: CHECK_ID, log: () => silent };
  let output: unknown;
  try {
    for (let attempt = 1; attempt <= times; attempt++) {
      const [claim] = await store.claim({
        workerId: CHECK_ID,
        queues: dag.queues,
        max: 1,
        leaseMs: 3_600_000,
        now: now(),
      });
      if (!claim) throw new Error(`attempt ${attempt} of the check was not delivered`);
      const result = await runAttempt(claim, handler, env, new AbortController());
      if (!result.ok) {
        throw new Error(
          `attempt ${attempt} failed: ${result.error.tag}: ${result.error.message} (checkIdempotent needs a handler that succeeds)`,
        );
      }
      if ("replace" in result)
        throw new Error(
          `attempt ${attempt} returned replace(canvas): checkIdempotent checks handlers that return their output`,
        );
      output = decode(result.value);
      // the result is not recorded: the node is retried, as after a lost report
      const retry = { tag: "Retried", message: "retried by the check", retryable: true };
      await store.fail(claim, retry, { now: now(), retryAt: now() });
    }
  } finally {
    await store.close();
  }
  return output;
};

/**
 * Checks that running `handler` twice with the same `ctx.idempotencyKey`
 * (a retry, a re-delivery) has the observable effect of running it once,
 * and the same result. Each run is a real attempt (`runAttempt`, the one a
 * worker runs) of one node on an in-memory store: the task's schemas,
 * `resultKey` (the second attempt gets the first one's memo), `lock` and
 * `timeoutMs` apply, and the second attempt has `ctx.attempt` 2.
 *
 * @throws Error (fast-check's report) with the smallest counterexample; an
 *   attempt that fails is a counterexample too, with its error.
 */
export const checkIdempotent = async <T extends AnyTask, Env>(
  opts: IdempotentOptions<T, Env>,
): Promise<void> => {
  const bound = (env: Env) => handle(opts.task, opts.handler(env));
  await fc.assert(
    fc.asyncProperty(opts.inputs ?? forAllInputs(opts.task), async (input) => {
      const one = opts.setup();
      const first = await runAttempts(opts.task, bound(one), input, 1);
      const two = opts.setup();
      const second = await runAttempts(opts.task, bound(two), input, 2);
      expectEqual(
        { observed: opts.observe(two), output: second },
        { observed: opts.observe(one), output: first },
        "run twice",
        "once",
      );
    }),
    {
      numRuns: opts.numRuns ?? 50,
      includeErrorInReport: true,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    },
  );
};

const silent = pino({ level: "silent" });

const expectEqual = (got: unknown, want: unknown, gotName: string, wantName: string): void => {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(
      `${gotName}: ${inspect(got, { depth: 6 })}\n${wantName}: ${inspect(want, { depth: 6 })}`,
    );
  }
};
