/**
 * Soft and hard time limits (docs/concepts.md, "Time limits"): at
 * `softTimeoutMs` the handler's `ctx.softTimeout` aborts with
 * `SoftTimeLimitExceeded` and the handler may still return a value or throw;
 * `timeoutMs` (the hard limit) fails the attempt with `Timeout`. Each handler
 * waits on the real signal, never on a sleep.
 */
import {
  chain,
  createClient,
  failureOf,
  handle,
  InvalidCanvas,
  RunFailed,
  Schema,
  SoftTimeLimitExceeded,
  startWorker,
  task,
} from "@weft/core";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

/** Resolves with the signal's reason once it aborts. */
const aborted = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });

const wrapsUp = task({
  name: "soft.wraps-up",
  input: Schema.Int,
  output: Schema.String,
  softTimeoutMs: 20,
});
const rethrows = task({
  name: "soft.rethrows",
  input: Schema.Int,
  output: Schema.String,
  softTimeoutMs: 20,
  retry: { maxAttempts: 1 },
});
const ignoresSoft = task({
  name: "soft.ignored",
  input: Schema.Int,
  output: Schema.String,
  softTimeoutMs: 20,
  timeoutMs: 60,
  retry: { maxAttempts: 1 },
});

const seen: unknown[] = [];
const handlers = [
  handle(wrapsUp, async (n, ctx) => {
    const why = await aborted(ctx.softTimeout);
    seen.push(why, ctx.signal.aborted);
    return `wrapped up ${n}`;
  }),
  handle(rethrows, async (_n, ctx) => {
    throw await aborted(ctx.softTimeout);
  }),
  handle(ignoresSoft, async (_n, ctx) => {
    await aborted(ctx.softTimeout);
    throw await aborted(ctx.signal);
  }),
];

const withWorker = async (body: (client: ReturnType<typeof createClient>) => Promise<void>) => {
  const store = new MemoryStore();
  const worker = startWorker({ store, handlers, logger: pino({ level: "silent" }), idleMs: 50 });
  try {
    await body(createClient(store));
  } finally {
    await worker.stop();
  }
};

describe("soft time limit (softTimeoutMs)", () => {
  it("aborts ctx.softTimeout with SoftTimeLimitExceeded and lets the handler return a value", async () => {
    await withWorker(async (client) => {
      const run = await client.submit(wrapsUp.si(7));
      expect(await run.result({ timeout: 20_000 })).toBe("wrapped up 7");
      const [why, hardAborted] = seen.splice(0);
      expect(why).toBeInstanceOf(SoftTimeLimitExceeded);
      expect((why as SoftTimeLimitExceeded).softTimeoutMs).toBe(20);
      expect(hardAborted).toBe(false);
    });
  });

  it("a handler that throws the reason fails its attempt with SoftTimeLimitExceeded", async () => {
    await withWorker(async (client) => {
      const run = await client.submit(rethrows.si(1));
      await expect(run.result({ timeout: 20_000 })).rejects.toBeInstanceOf(RunFailed);
      const node = (await client.get(run.runId)).nodes[0]!;
      expect(node.error?.tag).toBe("SoftTimeLimitExceeded");
    });
  });

  it("the hard limit (timeoutMs) still fails an attempt that ignores the soft one, with Timeout", async () => {
    await withWorker(async (client) => {
      const run = await client.submit(ignoresSoft.si(1));
      await expect(run.result({ timeout: 20_000 })).rejects.toBeInstanceOf(RunFailed);
      const node = (await client.get(run.runId)).nodes[0]!;
      expect(node.error?.tag).toBe("Timeout");
    });
  });

  it("never aborts ctx.softTimeout of a task without one", async () => {
    const plain = task({ name: "soft.none", input: Schema.Int, output: Schema.Boolean });
    const store = new MemoryStore();
    const worker = startWorker({
      store,
      handlers: [handle(plain, async (_n, ctx) => ctx.softTimeout.aborted)],
      logger: pino({ level: "silent" }),
      idleMs: 50,
    });
    try {
      const run = await createClient(store).submit(plain.si(1));
      expect(await run.result({ timeout: 20_000 })).toBe(false);
    } finally {
      await worker.stop();
    }
  });

  it("refuses a soft limit out of range or not below the hard limit, naming the option", () => {
    const make = (o: object) => () =>
      task({ name: "soft.bad", input: Schema.Int, output: Schema.Int, ...o });
    expect(make({ softTimeoutMs: 0 })).toThrow(InvalidCanvas);
    expect(make({ softTimeoutMs: "1s" })).toThrow(/softTimeoutMs/);
    expect(make({ softTimeoutMs: 500, timeoutMs: 500 })).toThrow(/less than timeoutMs/);
    expect(make({ softTimeoutMs: 100, timeoutMs: 500 })).not.toThrow();
  });
});

describe('isolate: "thread"', () => {
  const inThreads = async (body: (client: ReturnType<typeof createClient>) => Promise<void>) => {
    const { handlers: threaded } = await import("./fixtures/threaded.ts");
    const store = new MemoryStore();
    const worker = startWorker({
      store,
      handlers: threaded,
      logger: pino({ level: "silent" }),
      idleMs: 50,
    });
    try {
      await body(createClient(store));
    } finally {
      await worker.stop();
    }
  };

  it("the hard limit terminates a CPU-bound handler in a thread: the attempt fails with Timeout", async () => {
    const { spinThread } = await import("./fixtures/threaded.ts");
    await inThreads(async (client) => {
      // it would spin for a minute: the thread is terminated at timeoutMs
      const run = await client.submit(spinThread.si(60_000));
      await expect(run.result({ timeout: 30_000 })).rejects.toBeInstanceOf(RunFailed);
      const node = (await client.get(run.runId)).nodes[0]!;
      expect(node.error?.tag).toBe("Timeout");
    });
  });

  it("without a thread the same CPU-bound handler is not stopped: it runs to its end and succeeds past its hard limit", async () => {
    const { spinInline } = await import("./fixtures/threaded.ts");
    await inThreads(async (client) => {
      const run = await client.submit(spinInline.si(200));
      expect(await run.result({ timeout: 30_000 })).toBe("finished");
    });
  });

  it("a handler in a thread returns its value, throws its error, and sees its soft limit", async () => {
    const { plainThread, softThread } = await import("./fixtures/threaded.ts");
    await inThreads(async (client) => {
      expect(await (await client.submit(plainThread.si(21))).result({ timeout: 30_000 })).toBe(42);
      const bad = await client.submit(plainThread.si(-1));
      await expect(bad.result({ timeout: 30_000 })).rejects.toBeInstanceOf(RunFailed);
      const node = (await client.get(bad.runId)).nodes[0]!;
      expect(node.error).toMatchObject({ tag: "NonRetryableError", message: "-1 is negative" });
      const soft = await client.submit(softThread.si(3));
      expect(await soft.result({ timeout: 30_000 })).toBe(
        "wrapped up 3 in a thread: SoftTimeLimitExceeded",
      );
    });
  });

  it("hands a handler in a thread the context's plain-data fields: rootRunId, parentNodeIds, queue, priority, attemptsLeft, headers", async () => {
    const { ctxThread, plainThread } = await import("./fixtures/threaded.ts");
    await inThreads(async (client) => {
      const run = await client.submit(chain(plainThread.si(1), ctxThread.s()), {
        headers: { tenant: "acme", trace: [1, 2] },
      });
      expect(await run.result({ timeout: 30_000 })).toEqual({
        rootRunId: run.runId,
        parentNodeIds: [0],
        queue: "default",
        priority: 7,
        attemptsLeft: 1,
        headers: { tenant: "acme", trace: [1, 2] },
        runId: run.runId,
      });
    });
  });

  it("records a declared error thrown in a thread encoded by its schema: failureOf decodes it", async () => {
    const { Missing, typedThread } = await import("./fixtures/threaded.ts");
    await inThreads(async (client) => {
      const run = await client.submit(typedThread.si(7));
      const e = await run.result({ timeout: 30_000 }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(RunFailed);
      const node = (await client.get(run.runId)).nodes[0]!;
      expect(node.error).toMatchObject({
        tag: "Missing",
        data: { _tag: "Missing", id: 7, since: "2026-01-02T00:00:00.000Z" },
      });
      const missing = failureOf(typedThread, e);
      expect(missing).toBeInstanceOf(Missing);
      expect((missing as InstanceType<typeof Missing>).since).toEqual(
        new Date(Date.UTC(2026, 0, 2)),
      );
    });
  });

  it("fails the attempt, naming the fix, when a thread task's handler does not name its module", async () => {
    const { plainThread } = await import("./fixtures/threaded.ts");
    const store = new MemoryStore();
    const worker = startWorker({
      store,
      handlers: [handle(plainThread, (n) => n)],
      logger: pino({ level: "silent" }),
      idleMs: 50,
    });
    try {
      const run = await createClient(store).submit(plainThread.si(1));
      await expect(run.result({ timeout: 20_000 })).rejects.toBeInstanceOf(RunFailed);
      const node = (await createClient(store).get(run.runId)).nodes[0]!;
      expect(node.error?.tag).toBe("InvalidHandler");
      expect(node.error?.message).toContain("handle(task, fn, { module: import.meta.url })");
    } finally {
      await worker.stop();
    }
  });

  it('refuses an isolate other than "thread", naming the option', () => {
    expect(() =>
      task({
        name: "iso.bad",
        input: Schema.Int,
        output: Schema.Int,
        isolate: "process" as "thread",
      }),
    ).toThrow(/isolate/);
  });
});
