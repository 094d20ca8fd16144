/**
 * Soft and hard time limits (docs/concepts.md, "Time limits"): at
 * `softTimeoutMs` the handler's `ctx.softTimeout` aborts with
 * `SoftTimeLimitExceeded` and the handler may still return a value or throw;
 * `timeoutMs` (the hard limit) fails the attempt with `Timeout`. Each handler
 * waits on the real signal, never on a sleep.
 */
import {
  createClient,
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
