/**
 * Setup shared by the conformance suite's parts: stores and workers closed
 * after each test, and the raw arguments of direct `Store` calls (one
 * signature, a submission, a claim's lease, a completion's options, a
 * planned error).
 */
import { type BoundHandler, type Canvas, createClient, type Store, startWorker } from "@weft/core";
import { compile } from "@weft/core/store";
import { pino } from "pino";
import { afterEach } from "vitest";
import { anyTask } from "../Arbitraries.ts";

/**
 * Wraps `make` so every store it makes is closed after the test that made
 * it (registers a vitest `afterEach` in the calling scope).
 */
export const freshStores = <S extends { close(): Promise<void> }>(
  make: () => Promise<S>,
): (() => Promise<S>) => {
  const open: S[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return async () => {
    const s = await make();
    open.push(s);
    return s;
  };
};

/**
 * Returns `withWorker(store)`: starts a silent worker running `handlers` on
 * `store` (concurrency 4, idle 200 ms, `extra` options on top), stopped after
 * the test (registers a vitest `afterEach` in the calling scope), and gives a
 * client of `store`.
 */
export const workersPerTest = (
  handlers: ReadonlyArray<BoundHandler>,
  extra: { readonly leaseMs?: number } = {},
): ((store: Store) => Promise<ReturnType<typeof createClient>>) => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
  });
  const logger = pino({ level: "silent" });
  return async (store) => {
    const worker = startWorker({ store, handlers, logger, concurrency: 4, idleMs: 200, ...extra });
    stops.push(() => worker.stop());
    return createClient(store);
  };
};

/** A canvas of one signature of any task, as a raw canvas node. */
export const one = {
  node: { kind: "sig", task: anyTask, bind: { kind: "immutable" }, bound: null, options: {} },
} as const;

/** The arguments of `store.submit` for `canvas` as run `runId` at `now` (ms). */
export const submission = (runId: string, canvas: { readonly node: unknown }, now = 0) => ({
  runId,
  dag: compile(canvas as Canvas<unknown, unknown>),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now,
});

/** The arguments of `store.claim` for worker "a" on queue "default" at `now` (ms). */
export const lease = (now: number, max = 8, leaseMs = 10_000) => ({
  workerId: "a",
  queues: ["default"],
  max,
  leaseMs,
  now,
});

/** The options of `store.complete` / `store.fail` at `now` (ms), claiming nothing next. */
export const completeOpts = (now: number) => ({
  now,
  workerId: "a",
  queues: ["default"],
  nextMax: 0,
  leaseMs: 10_000,
});

/** A planned, non-retryable error as a store records it. */
export const boom = { tag: "Boom", message: "planned", retryable: false };
