import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { chain, chord, group, handle, RunFailed, Schema, task } from "@weft/core";
import { deferred } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { SimulationStuck, SimulationTimeout, simulate, virtualClock } from "../src/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
  timeoutMs: 5_000,
  retry: { maxAttempts: 4, backoff: { kind: "fixed", delayMs: 500 }, jitter: "full" },
});
const sum = task({
  name: "sum",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
  timeoutMs: 5_000,
});
const handlers = [
  handle(add, async ({ a, b }) => a + b),
  handle(sum, async (xs) => xs.reduce((x, y) => x + y, 0)),
];
const canvas = chain(chord([add.si({ a: 1, b: 2 }), add.si({ a: 3, b: 4 })], sum.s()));

/** A task on the `io` queue. */
const fetchLen = task({ name: "fetch-len", input: Schema.Int, output: Schema.Int, queue: "io" });
/** A task no handler is given for in these tests. */
const mystery = task({ name: "mystery", input: Schema.Int, output: Schema.Int });

/** Resolves after `ms` of real time: the real I/O under test, not synchronisation. */
const realTimer = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("simulate", () => {
  it("runs a canvas to the end on virtual time, through crashes, lost reports, duplicates and late reports", async () => {
    const r = await simulate({
      canvas,
      handlers,
      seed: 7,
      faults: {
        deliveries: [["crash-before"], ["late", "duplicate"], ["crash-after"]],
        handlers: [["throw", "hang"], [], ["throw-non-error"]],
      },
    });
    expect(r.ended).toBe(true);
    expect(r.output).toEqual({ ok: true, value: 10 });
    expect(r.store.violations).toEqual([]);
    expect(r.executions.every((e) => e.unmetDeps.length === 0)).toBe(true);
    // every succeeded node was recorded exactly once
    const accepted = r.store.reports
      .filter((x) => x.kind === "complete" && x.accepted)
      .map((x) => x.nodeId);
    expect(accepted.sort()).toEqual([0, 1, 2]);
    // the late report of node 1 was sent and rejected
    expect(r.store.reports.some((x) => x.nodeId === 1 && x.fault === "late" && !x.accepted)).toBe(
      true,
    );
    // a hang ended by the attempt timeout counts as a failed attempt
    expect(r.snapshot.nodes[0]!.history.map((h) => h.error?.tag)).toContain("Timeout");
  });

  it("replays exactly from the same seed and plan", async () => {
    const run = () =>
      simulate({
        canvas,
        handlers,
        seed: 99,
        faults: { handlers: [["throw", "throw"], ["throw"]] },
      });
    const [a, b] = [await run(), await run()];
    const strip = (x: Awaited<ReturnType<typeof run>>) => ({
      nodes: x.snapshot.nodes.map(({ spec: _, ...n }) => n),
      reports: x.store.reports,
      executions: x.executions,
      steps: x.steps,
    });
    expect(strip(a)).toEqual(strip(b));
  });
});

describe("simulate: queues", () => {
  it("consumes every queue the canvas routes a node to", async () => {
    const r = await simulate({
      canvas: chain(add.si({ a: 1, b: 2 }), fetchLen.s()),
      handlers: [...handlers, handle(fetchLen, async (n) => n * 10)],
      seed: 1,
    });
    expect(r.output).toEqual({ ok: true, value: 30 });
    expect(r.snapshot.nodes.map((n) => n.spec.queue)).toEqual(["default", "io"]);
  });

  it("stops at once when a node is ready on a queue no simulated worker consumes, naming the queue and the task", async () => {
    const r = await simulate({
      canvas: chain(add.si({ a: 1, b: 2 }), fetchLen.s()),
      handlers: [...handlers, handle(fetchLen, async (n) => n * 10)],
      seed: 1,
      queues: ["default"],
    });
    expect(r.ended).toBe(false);
    expect(r.output.ok).toBe(false);
    const error = (r.output as { error: unknown }).error;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect((error as SimulationStuck).reasons).toEqual([
      `node 1 (task "fetch-len") is ready on queue "io", which no simulated worker consumes (they consume "default")`,
    ]);
    // found in the step after node 0 ended, not after a day of virtual time
    expect(r.steps).toBeLessThan(5);
    expect(r.snapshot.nodes.map((n) => n.state)).toEqual(["succeeded", "queued"]);
  });

  it("names the first ten blocked nodes in its message, and all of them in its reasons", async () => {
    const r = await simulate({
      canvas: group(...Array.from({ length: 12 }, (_, i) => fetchLen.si(i))),
      handlers: [handle(fetchLen, async (n) => n)],
      seed: 1,
      queues: ["default"],
    });
    const error = (r.output as { error: unknown }).error as SimulationStuck;
    expect(error.reasons).toHaveLength(12);
    expect(error.message).toMatch(/node 9 \(task "fetch-len"\)[^;]*; and 2 more$/);
  });
});

describe("simulate: runs that cannot progress", () => {
  it("stops at once when a node's task has no handler, naming the task; the node stays queued", async () => {
    const r = await simulate({
      canvas: chain(add.si({ a: 1, b: 2 }), mystery.s()),
      handlers,
      seed: 1,
    });
    expect(r.ended).toBe(false);
    const error = (r.output as { error: unknown }).error;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect((error as SimulationStuck).message).toContain(
      `node 1 (task "mystery") is ready but no handler was given for task "mystery" (handlers: "add", "sum")`,
    );
    expect(r.steps).toBeLessThan(5);
    // no attempt was counted against it and the run did not fail: it waits for a handler
    expect(r.snapshot.nodes[1]).toMatchObject({ state: "queued", attempts: 0 });
    expect(r.snapshot.run.status).toBe("running");
    expect(r.executions.map((e) => e.nodeId)).toEqual([0]);
  });

  it("a task without a handler that is never reached is no error: the run fails with its upstream", async () => {
    const r = await simulate({
      canvas: chain(add.si({ a: 1, b: 2 }), mystery.s()),
      handlers,
      seed: 1,
      faults: { handlers: [["non-retryable"]] },
    });
    expect(r.ended).toBe(true);
    expect((r.output as { error: unknown }).error).toBeInstanceOf(RunFailed);
    expect(r.snapshot.nodes.map((n) => n.state)).toEqual(["failed", "skipped"]);
  });

  it("stops when a handler never settles, sleeps on no clock and has no timeout", async () => {
    const forever = task({ name: "forever", input: Schema.Int, output: Schema.Int });
    const r = await simulate({
      canvas: forever.si(1),
      handlers: [handle(forever, () => new Promise<number>(() => undefined))],
      seed: 1,
      realIoGraceMs: 0,
    });
    expect(r.ended).toBe(false);
    const error = (r.output as { error: unknown }).error as SimulationStuck;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect(error.reasons).toEqual([
      `node 0 (task "forever", attempt 1) runs a handler that has not settled, is not sleeping on the simulation's clock and has no timeoutMs: nothing can end it`,
    ]);
    expect(r.steps).toBeLessThan(5);
  });

  it("stops too when such a handler holds a lock: the lock's renewals do not count", async () => {
    const forever = task({ name: "forever", input: Schema.Int, output: Schema.Int });
    const r = await simulate({
      canvas: forever.si(1),
      handlers: [
        handle(forever, async (_n, ctx) => {
          await ctx.lock("printer", { ttlMs: 300 });
          return new Promise<number>(() => undefined);
        }),
      ],
      seed: 1,
      realIoGraceMs: 0,
    });
    const error = (r.output as { error: unknown }).error as SimulationStuck;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect(error.reasons).toHaveLength(1);
    expect(error.reasons[0]).toMatch(/^node 0 \(task "forever", attempt 1\) runs a handler/);
  });

  it("stops when an injected hang has no timeout to end it", async () => {
    const plain = task({ name: "plain", input: Schema.Int, output: Schema.Int });
    const r = await simulate({
      canvas: plain.si(1),
      handlers: [handle(plain, async (n) => n)],
      seed: 1,
      faults: { handlers: [["hang"]] },
    });
    const error = (r.output as { error: unknown }).error as SimulationStuck;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect(error.reasons).toEqual([
      `node 0 (task "plain", attempt 1) runs a handler that has not settled, is not sleeping on the simulation's clock and has no timeoutMs: nothing can end it`,
    ]);
    expect(r.steps).toBeLessThan(5);
  });

  it("is not stuck while a sleeper of the test's own code may still release a handler", async () => {
    const clock = await virtualClock();
    const gate = task({ name: "gate", input: Schema.Int, output: Schema.Int });
    const opened = deferred();
    void clock.sleep(5_000).then(() => opened.resolve()); // outside any handler
    const r = await simulate({
      canvas: gate.si(1),
      handlers: [
        handle(gate, async (n) => {
          await opened.promise;
          return n;
        }),
      ],
      seed: 1,
      clock,
      realIoGraceMs: 0,
    });
    expect(r.output).toEqual({ ok: true, value: 1 });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(5_000);
  });

  it("names ready nodes starved of worker slots by such handlers", async () => {
    const forever = task({ name: "forever", input: Schema.Int, output: Schema.Int });
    const r = await simulate({
      canvas: group(forever.si(1), add.si({ a: 1, b: 1 })),
      handlers: [...handlers, handle(forever, () => new Promise<number>(() => undefined))],
      seed: 1,
      workers: 1,
      concurrency: 1,
      realIoGraceMs: 0,
    });
    const error = (r.output as { error: unknown }).error as SimulationStuck;
    expect(error).toBeInstanceOf(SimulationStuck);
    expect(error.reasons).toEqual([
      `node 0 (task "forever", attempt 1) runs a handler that has not settled, is not sleeping on the simulation's clock and has no timeoutMs: nothing can end it`,
      `node 1 (task "add") is ready but every worker slot is held by a handler nothing can end`,
    ]);
  });

  it("keeps going while a handler sleeps on the clock, and names the unfinished nodes at maxVirtualMs", async () => {
    const clock = await virtualClock();
    const nap = task({ name: "nap", input: Schema.Int, output: Schema.Int });
    const r = await simulate({
      canvas: nap.si(1),
      handlers: [
        handle(nap, async (n) => {
          await clock.sleep(60_000);
          return n;
        }),
      ],
      seed: 1,
      clock,
      maxVirtualMs: 10_000,
    });
    const error = (r.output as { error: unknown }).error as SimulationTimeout;
    expect(error).toBeInstanceOf(SimulationTimeout);
    expect(error.message).toBe(
      `run sim did not end within 10000 virtual ms; unfinished: node 0 (task "nap", queue "default") running`,
    );
  });
});

describe("simulate: real I/O", () => {
  const io = task({ name: "io", input: Schema.Int, output: Schema.Int, timeoutMs: 1_000 });
  /** Runs `simulate` and the real time it took (ms), to hold virtual time to it. */
  const timed = async <Out>(opts: Parameters<typeof simulate<Out>>[0]) => {
    const t0 = performance.now();
    const r = await simulate(opts);
    return { r, realMs: performance.now() - t0 };
  };

  it("does not run virtual time ahead of a handler awaiting a real timer", async () => {
    const { r, realMs } = await timed({
      canvas: io.si(4),
      handlers: [
        handle(io, async (n) => {
          await realTimer(20);
          return n + 1;
        }),
      ],
      seed: 1,
    });
    expect(r.output).toEqual({ ok: true, value: 5 });
    expect(r.snapshot.nodes[0]).toMatchObject({ state: "succeeded", attempts: 1, history: [] });
    // the run was only ever waiting on the real timer: virtual time followed real time
    expect(r.elapsedMs).toBeLessThanOrEqual(realMs);
  });

  it("does not run virtual time ahead of handlers awaiting a socket", async () => {
    const server = createServer((_req, res) => {
      setTimeout(() => res.end("12345"), 20);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const { r, realMs } = await timed({
        canvas: group(io.si(1), io.si(2)),
        handlers: [
          handle(io, async (n, ctx) => {
            const body = await (await fetch(url, { signal: ctx.signal })).text();
            return n + body.length;
          }),
        ],
        seed: 1,
      });
      expect(r.output).toEqual({ ok: true, value: [6, 7] });
      expect(r.snapshot.nodes.every((n) => n.attempts === 1)).toBe(true);
      expect(r.elapsedMs).toBeLessThanOrEqual(realMs);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("a lock the handler holds renews in the background: it does not count as waiting on the clock", async () => {
    const { r, realMs } = await timed({
      canvas: io.si(7),
      handlers: [
        handle(io, async (n, ctx) => {
          await ctx.lock("printer"); // renewed every 10 s of virtual time
          await realTimer(20);
          return n;
        }),
      ],
      seed: 1,
    });
    expect(r.output).toEqual({ ok: true, value: 7 });
    expect(r.snapshot.nodes[0]).toMatchObject({ attempts: 1, history: [] });
    expect(r.elapsedMs).toBeLessThanOrEqual(realMs);
  });

  it("moves on at once when the handler sleeps on the simulation's clock (only the test's timeout bounds this)", async () => {
    const clock = await virtualClock();
    const nap = task({ name: "nap", input: Schema.Int, output: Schema.Int });
    const { r, realMs } = await timed({
      canvas: nap.si(3),
      handlers: [
        handle(nap, async (n) => {
          await clock.sleep(120_000);
          return n;
        }),
      ],
      seed: 1,
      clock,
      // were the sleep taken for real I/O, virtual time would follow real time: two minutes
      realIoGraceMs: 3_600_000,
    });
    expect(r.output).toEqual({ ok: true, value: 3 });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(120_000);
    expect(r.elapsedMs).toBeGreaterThan(realMs);
  });

  it("takes a handler that waits past realIoGraceMs without the clock to wait on virtual time", async () => {
    // it awaits only its signal: the attempt timeout (virtual) ends it
    const { r } = await timed({
      canvas: io.si(1),
      handlers: [
        handle(
          io,
          (_n, ctx) =>
            new Promise<number>((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            ),
        ),
      ],
      seed: 1,
      realIoGraceMs: 0,
      retryDefaults: { maxAttempts: 1 },
    });
    expect(r.ended).toBe(true);
    expect(r.snapshot.nodes[0]!.error?.tag).toBe("Timeout");
  });
});

describe("simulate: delayed and expiring work", () => {
  const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
  const incs = [handle(inc, (n) => n + 1)];

  it("holds an hour's delay and a minute's step delay on virtual time, through a crash and a duplicate delivery", async () => {
    const r = await simulate({
      canvas: chain(inc.si(1).with({ delayMs: 3_600_000 }), inc.s().with({ delayMs: 60_000 })),
      handlers: incs,
      seed: 3,
      faults: { deliveries: [["crash-before"], ["duplicate"]] },
    });
    expect(r.output).toEqual({ ok: true, value: 3 });
    const created = r.snapshot.run.createdAt;
    const first = r.executions.filter((e) => e.nodeId === 0);
    const second = r.executions.filter((e) => e.nodeId === 1);
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    for (const e of first) expect(e.at).toBeGreaterThanOrEqual(created + 3_600_000);
    const done = r.snapshot.nodes[0]!.finishedAt!;
    for (const e of second) expect(e.at).toBeGreaterThanOrEqual(done + 60_000);
    expect(r.store.violations).toEqual([]);
  });

  it("ends a node delayed past its deadline expired without running it: a settled group goes on, a plain one fails the run", async () => {
    const late = inc.si(1).with({ delayMs: 600_000, expiresInMs: 60_000 });
    const settled = await simulate({
      canvas: group(late, inc.si(2)).settled(),
      handlers: incs,
      seed: 5,
    });
    expect(settled.output).toEqual({
      ok: true,
      value: [
        {
          ok: false,
          error: expect.objectContaining({ tag: "Expired" }),
        },
        { ok: true, value: 3 },
      ],
    });
    expect(settled.executions.some((e) => e.nodeId === 0)).toBe(false);
    const plain = await simulate({ canvas: chain(late, inc.s()), handlers: incs, seed: 5 });
    expect(plain.output.ok).toBe(false);
    expect(plain.snapshot.nodes.map((n) => n.state)).toEqual(["expired", "skipped"]);
    expect(plain.executions).toEqual([]);
  });
});
