/** Helpers for the CLI's tests: run canvases to their end on the in-memory store. */
import {
  type BoundHandler,
  type Canvas,
  createClient,
  type RunSnapshot,
  startWorker,
} from "@weft/core";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { type CliIo, runCli } from "../src/index.ts";
import { handlers } from "./fixtures/handlers.ts";

/** 2025-01-01T00:00:00Z: the fixed clock of normalised snapshots. */
export const T0 = Date.UTC(2025, 0, 1);

/**
 * Submits `canvas` to a fresh in-memory store, runs it to its end with an
 * in-process worker (`w1`, silent, 400 ms leases, polling every 50 ms)
 * and returns the store and the final snapshot.
 */
export const runToEnd = async (
  canvas: Canvas<unknown, unknown>,
  opts: {
    readonly tags?: ReadonlyArray<string>;
    readonly extra?: ReadonlyArray<BoundHandler>;
    /** Called once the run is submitted, while it runs. */
    readonly during?: (store: MemoryStore, runId: string) => Promise<void>;
  } = {},
): Promise<{ store: MemoryStore; snapshot: RunSnapshot }> => {
  const store = new MemoryStore();
  const worker = startWorker({
    store,
    handlers: [...handlers, ...(opts.extra ?? [])],
    logger: pino({ level: "silent" }),
    concurrency: 4,
    workerId: "w1",
    leaseMs: 400,
    idleMs: 50,
  });
  try {
    const run = await createClient(store).submit(canvas, { tags: opts.tags ?? [] });
    await opts.during?.(store, run.runId);
    // quiet: callbacks may still run once the run has failed
    const ended = await store.waitForRun(run.runId, 20_000, { quiet: true });
    if (!ended) throw new Error(`run ${run.runId} did not end`);
    const snapshot = await store.getRun(run.runId);
    if (!snapshot) throw new Error(`run ${run.runId} vanished`);
    return { store, snapshot };
  } finally {
    await worker.stop();
  }
};

/**
 * The snapshot with its clock readings and run id replaced by fixed values
 * (every attempt took 12 ms), so that its rendering can be compared exactly.
 */
export const normalise = (s: RunSnapshot, runId = "RUN"): RunSnapshot => {
  const fix = (t: number | undefined, v: number) => (t === undefined ? undefined : v);
  const times = <T extends { startedAt?: number; finishedAt?: number }>(
    r: T,
    start: number,
    end: number,
  ): T => {
    const { startedAt, finishedAt, ...rest } = r;
    const a = fix(startedAt, start);
    const b = fix(finishedAt, end);
    return {
      ...rest,
      ...(a === undefined ? {} : { startedAt: a }),
      ...(b === undefined ? {} : { finishedAt: b }),
    } as T;
  };
  return {
    run: { ...times(s.run, T0 + 5, T0 + 1_505), id: runId, createdAt: T0 },
    nodes: s.nodes.map((n) =>
      n.startedAt === undefined ? times(n, 0, T0 + 1_500) : times(n, T0 + 100, T0 + 112),
    ),
  };
};

/** Runs the CLI in-process and captures what it prints; `env` is empty unless given. */
export const captureCli = async (argv: ReadonlyArray<string>, io: CliIo = {}) => {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {},
    ...io,
  });
  return { code, stdout, stderr };
};
