import {
  type BoundHandler,
  createClient,
  group,
  handle,
  handleEffect,
  InvalidWorkerOptions,
  RetryAfter,
  type RetryPolicy,
  RunFailed,
  Schema,
  startWorker,
  startWorkerScoped,
  stopOnSignals,
  TaskFailure,
  task,
  type WorkerOptions,
} from "@weft/core";
import { type Claim, type ClaimRequest, deferred, MAX_BATCH } from "@weft/core/store";
import { Effect } from "effect";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { MemoryStore, runEager, simulate, virtualClock } from "../src/index.ts";
import { wrapStore } from "../src/internal/wrapStore.ts";

describe("per-attempt timeout", () => {
  const slow = task({
    name: "slow",
    input: Schema.Int,
    output: Schema.Int,
    timeoutMs: 1_000,
    retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 10 }, jitter: "none" },
  });

  it("interrupts an Effect handler at the deadline; the attempt fails and retries under the policy", async () => {
    const interrupted: number[] = [];
    const deadlines: Array<number | undefined> = [];
    const r = await simulate({
      canvas: slow.si(1),
      seed: 1,
      // the handler does no real I/O: its Effect.sleep ends only by interruption at the
      // deadline, so the clock need not wait any real time for it
      realIoGraceMs: 0,
      handlers: [
        handle(slow, (n, ctx) => {
          deadlines.push(ctx.deadline);
          return Effect.sleep("1 hour").pipe(
            Effect.as(n),
            Effect.onInterrupt(() => Effect.sync(() => interrupted.push(ctx.attempt))),
          );
        }),
      ],
    });
    expect(r.output.ok).toBe(false);
    expect((r.output as { error: unknown }).error).toBeInstanceOf(RunFailed);
    expect(interrupted).toEqual([1, 2]);
    const node = r.snapshot.nodes[0]!;
    expect(node.history.map((h) => [h.attempt, h.outcome, h.error?.tag])).toEqual([
      [1, "failed", "Timeout"],
      [2, "failed", "Timeout"],
    ]);
    // the soft deadline the handler saw is the attempt's start plus the timeout
    expect(deadlines).toEqual(node.history.map((h) => h.startedAt + 1_000));
  });

  it("lets a handler ask for a specific retry delay (Celery's countdown)", async () => {
    let calls = 0;
    const r = await simulate({
      canvas: slow.si(2),
      seed: 1,
      handlers: [
        handle(slow, async (n) => {
          calls += 1;
          if (calls === 1) throw new RetryAfter("rate limited", 45_000);
          return n;
        }),
      ],
    });
    expect(r.output).toEqual({ ok: true, value: 2 });
    const [failed] = r.store.reports.filter((x) => x.kind === "fail");
    expect(failed!.retryAt! - failed!.at).toBe(45_000);
  });

  it.each([
    ["NaN", Number.NaN, 10],
    ["Infinity", Number.POSITIVE_INFINITY, 10],
    ["-Infinity", Number.NEGATIVE_INFINITY, 10],
    ["a negative delay", -5_000, 0],
  ])(
    "a RetryAfter with %s: a delay not finite takes the policy's backoff, a negative one retries at once",
    async (_, asked, expected) => {
      let calls = 0;
      const r = await simulate({
        canvas: slow.si(4),
        seed: 1,
        handlers: [
          handle(slow, async (n) => {
            calls += 1;
            if (calls === 1) throw new RetryAfter("retry-after header unreadable", asked);
            return n;
          }),
        ],
      });
      expect(r.output).toEqual({ ok: true, value: 4 });
      const [failed] = r.store.reports.filter((x) => x.kind === "fail");
      // the policy's fixed backoff is 10 ms, jitter none; a negative delay retries at once
      expect(failed!.retryAt! - failed!.at).toBe(expected);
    },
  );

  it("records a TaskFailure's own tag: nonRetryable fails the node at once, retryAfterMs sets the delay", async () => {
    const charge = task({
      name: "charge",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 5, backoff: { kind: "fixed", delayMs: 10 }, jitter: "none" },
    });
    const declined = await simulate({
      canvas: charge.si(1),
      seed: 1,
      handlers: [
        handle(charge, async () => {
          throw new TaskFailure("card declined", { tag: "CardDeclined", nonRetryable: true });
        }),
      ],
    });
    const node = declined.snapshot.nodes[0]!;
    expect(node).toMatchObject({ state: "failed", attempts: 1 });
    expect(node.error).toMatchObject({ tag: "CardDeclined", retryable: false });

    let calls = 0;
    const busy = await simulate({
      canvas: charge.si(2),
      seed: 1,
      handlers: [
        handle(charge, async (n) => {
          calls += 1;
          if (calls === 1) throw new TaskFailure("busy", { tag: "Busy", retryAfterMs: 20_000 });
          return n;
        }),
      ],
    });
    expect(busy.output).toEqual({ ok: true, value: 2 });
    const [failed] = busy.store.reports.filter((x) => x.kind === "fail");
    expect(failed!.error?.tag).toBe("Busy");
    expect(failed!.retryAt! - failed!.at).toBe(20_000);
  });

  it("runEager resolves through a timeout and a retry", async () => {
    let first = true;
    const out = await runEager(
      slow.si(3),
      [
        handle(slow, (n, ctx) => {
          if (!first) return n;
          first = false;
          return new Promise<number>((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        }),
      ],
      // the first attempt waits only on ctx.signal (no real I/O): no real time to wait for
      { realIoGraceMs: 0 },
    );
    expect(out).toBe(3);
  });
});

describe("locks and result keys on the worker", () => {
  it("a task's lock excludes other holders, renews itself past its ttl, and hands out growing fencing tokens", async () => {
    const clock = await virtualClock();
    const print = task({
      name: "print",
      input: Schema.Int,
      output: Schema.Int,
      lock: { name: "printer", ttlMs: 500, waitMs: 60_000 },
    });
    let inside = 0;
    let most = 0;
    const tokens: number[] = [];
    const r = await simulate({
      canvas: group(print.si(1), print.si(2), print.si(3), print.si(4)),
      seed: 1,
      clock,
      workers: 2,
      handlers: [
        handle(print, async (n, ctx) => {
          inside += 1;
          most = Math.max(most, inside);
          // the lock the task option took is this attempt's; a nested ctx.lock of another name works too
          const paper = await ctx.lock("paper-tray", { ttlMs: 500 });
          tokens.push(paper.token);
          await clock.sleep(2_000); // four ttls of work: only renewal keeps the lock
          inside -= 1;
          return n;
        }),
      ],
    });
    expect(r.output).toEqual({ ok: true, value: [1, 2, 3, 4] });
    expect(most).toBe(1);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(4);
    expect(r.snapshot.nodes.every((n) => n.attempts === 1)).toBe(true);
  });

  it("reuses the memo of an earlier execution with the same result key", async () => {
    const charge = task({
      name: "charge",
      input: Schema.Struct({ order: Schema.String }),
      output: Schema.String,
      resultKey: (i: { order: string }) => i.order,
    });
    const ran: string[] = [];
    const r = await simulate({
      canvas: group(
        charge.si({ order: "o1" }),
        charge.si({ order: "o1" }),
        charge.si({ order: "o2" }),
      ),
      seed: 1,
      workers: 1,
      concurrency: 1,
      handlers: [
        handle(charge, async ({ order }, ctx) => {
          ran.push(order);
          return `${order} charged by node ${ctx.nodeId}`;
        }),
      ],
    });
    expect(ran).toEqual(["o1", "o2"]);
    expect(r.output).toEqual({
      ok: true,
      value: ["o1 charged by node 0", "o1 charged by node 0", "o2 charged by node 2"],
    });
  });
});

describe("retryIf", () => {
  it("retries only the failures a task's predicate allows", async () => {
    const fetchPage = task({
      name: "fetch-page",
      input: Schema.String,
      output: Schema.String,
      retry: { maxAttempts: 5, backoff: { kind: "fixed", delayMs: 10 }, jitter: "none" },
      retryIf: (e) => !e.message.startsWith("404"),
    });
    const seen: string[] = [];
    const r = await simulate({
      canvas: fetchPage.si("/missing"),
      seed: 1,
      handlers: [
        handle(fetchPage, async () => {
          seen.push("try");
          throw new Error(seen.length === 1 ? "503 unavailable" : "404 not found");
        }),
      ],
    });
    expect(seen).toEqual(["try", "try"]); // the 503 retried, the 404 did not
    expect(r.snapshot.nodes[0]).toMatchObject({ state: "failed", attempts: 2 });
  });
});

describe("startWorker's retryDefaults", () => {
  it.each([
    [
      "maxAttempts 0",
      { maxAttempts: 0 },
      /retryDefaults\.maxAttempts must be an integer ≥ 1 .*got 0$/,
    ],
    [
      "a backoff delay of NaN",
      { backoff: { kind: "fixed", delayMs: Number.NaN } },
      /retryDefaults\.backoff\.delayMs must be a finite number of ms ≥ 0, got NaN$/,
    ],
    [
      "an exponential factor below 1",
      { backoff: { kind: "exponential", baseMs: 10, factor: 0.5, maxMs: 100 } },
      /retryDefaults\.backoff\.factor must be a finite number ≥ 1, got 0\.5$/,
    ],
    ["an unknown jitter", { jitter: "some" }, /retryDefaults\.jitter must be .*, got "some"$/],
    ["retryOn not an array", { retryOn: "Boom" }, /retryDefaults\.retryOn must be an array/],
    ["not an object", 3, /retryDefaults must be an object, got 3$/],
  ])(
    "refuses %s with InvalidWorkerOptions, starting nothing",
    async (_, retryDefaults, message) => {
      const store = new MemoryStore();
      const start = () =>
        startWorker({
          store,
          handlers: [],
          logger: pino({ level: "silent" }),
          retryDefaults: retryDefaults as Partial<RetryPolicy>,
        });
      expect(start).toThrow(InvalidWorkerOptions);
      expect(start).toThrow(/^invalid worker options: /);
      expect(start).toThrow(message);
      expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
    },
  );

  it("accepts defaults in range and applies them under the task's own policy", async () => {
    const plain = task({ name: "plain", input: Schema.Int, output: Schema.Int });
    let calls = 0;
    const r = await simulate({
      canvas: plain.si(1),
      seed: 1,
      retryDefaults: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 25 }, jitter: "none" },
      handlers: [
        handle(plain, async (n) => {
          calls += 1;
          if (calls === 1) throw new Error("once");
          return n;
        }),
      ],
    });
    expect(r.output).toEqual({ ok: true, value: 1 });
    const [failed] = r.store.reports.filter((x) => x.kind === "fail");
    expect(failed!.retryAt! - failed!.at).toBe(25);
  });
});

describe("prefetch", () => {
  const quick = task({ name: "pf.quick", input: Schema.Int, output: Schema.Int });
  const hold = task({ name: "pf.hold", input: Schema.Int, output: Schema.Int });
  const silent = pino({ level: "silent" });

  /**
   * Starts a worker of concurrency `concurrency` (default 2) on `store` that
   * runs one `quick` attempt taking `firstMs`, then a group of `nodes` `hold`
   * nodes, whose attempts end only when aborted; resolves once every slot
   * runs one of them and, with `held`, once its claims of the group's nodes
   * (each claim's `max` and how many it got, in `claims`) got that many in
   * all. `leaseMs` and `prefetch` are the worker's.
   */
  const slotsHeld = async (
    store: MemoryStore,
    opts: {
      firstMs: number;
      nodes: number;
      prefetch?: number;
      leaseMs?: number;
      concurrency?: number;
      held?: number;
    },
  ) => {
    let running = 0;
    const concurrency = opts.concurrency ?? 2;
    const full = deferred();
    const claims: Array<{ max: number; got: number }> = [];
    let watching = false;
    const allHeld = deferred();
    // (watched only when asked: a wrapped store's calls take a turn more, which changes which
    // of two workers takes a released node first)
    const watched = wrapStore(store, {
      claim: async (req: ClaimRequest) => {
        const got = await store.claim(req);
        if (watching && got.length > 0) {
          claims.push({ max: req.max, got: got.length });
          if (claims.reduce((n, c) => n + c.got, 0) === opts.held) allHeld.resolve();
        }
        return got;
      },
    });
    const worker = startWorker({
      store: opts.held === undefined ? store : watched,
      logger: silent,
      concurrency,
      ...(opts.prefetch === undefined ? {} : { prefetch: opts.prefetch }),
      ...(opts.leaseMs === undefined ? {} : { leaseMs: opts.leaseMs }),
      handlers: [
        handle(quick, (n) =>
          opts.firstMs === 0 ? n : new Promise<number>((r) => setTimeout(() => r(n), opts.firstMs)),
        ),
        handle(hold, (_n, ctx) => {
          if (++running === concurrency) full.resolve();
          return new Promise<number>((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        }),
      ],
    });
    const client = createClient(store);
    expect(await (await client.submit(quick.si(1))).result()).toBe(1);
    watching = true;
    const run = await client.submit(
      group(...Array.from({ length: opts.nodes }, (_, i) => hold.si(i))),
    );
    await full.promise;
    if (opts.held !== undefined) await allHeld.promise;
    return { worker, run, running: () => running, claims };
  };

  /**
   * A worker of concurrency `concurrency` (default 2) that has run one
   * `quick` attempt taking `firstMs`, then a group of `nodes` (default 10)
   * `hold` nodes: the node states once its slots all run (and, with
   * `held`, once it claimed that many), its claim calls, and the node
   * states after it stopped.
   */
  const holding = async (
    firstMs: number,
    prefetch?: number,
    {
      nodes = 10,
      concurrency = 2,
      held,
    }: { nodes?: number; concurrency?: number; held?: number } = {},
  ) => {
    const store = new MemoryStore();
    const { worker, run, running, claims } = await slotsHeld(store, {
      firstMs,
      nodes,
      concurrency,
      ...(prefetch === undefined ? {} : { prefetch }),
      ...(held === undefined ? {} : { held }),
    });
    const states = async () => {
      const counts: Record<string, number> = {};
      for (const n of (await store.getRun(run.runId))!.nodes)
        counts[n.state] = (counts[n.state] ?? 0) + 1;
      return counts;
    };
    const during = { states: await states(), handlers: running(), active: worker.activeCount() };
    await worker.stop(10);
    const after = await states();
    await store.close();
    return { during, after, claims };
  };

  // one claim call asks for `concurrency` + min(8 × `concurrency`, 128); two calls' worth held
  it.each([
    { concurrency: 2, nodes: 40, call: 18, queued: 4 },
    { concurrency: 20, nodes: 320, call: 148, queued: 24 },
  ])(
    "a worker of concurrency $concurrency whose attempts are short holds two claim calls' worth by default (calls of $call: `concurrency` + min(8 × `concurrency`, 128)), and releases them at stop",
    async ({ concurrency, nodes, call, queued }) => {
      const held = 2 * call;
      const { during, after, claims } = await holding(0, undefined, { nodes, concurrency, held });
      expect(during).toEqual({
        states: { running: held, queued },
        handlers: concurrency,
        active: concurrency,
      });
      expect(claims).toEqual([
        { max: call, got: call },
        { max: call, got: call },
      ]);
      expect(after).toEqual({ queued: nodes });
    },
  );

  it("holds `prefetch` more when given, none with 0; a prefetch beyond one call's worth is claimed in calls of at most `concurrency` + min(8 × `concurrency`, 128)", async () => {
    expect((await holding(0, 5)).during.states).toEqual({ running: 7, queued: 3 });
    expect((await holding(0, 0)).during.states).toEqual({ running: 2, queued: 8 });
    const { during, claims } = await holding(0, 40, { nodes: 50, held: 42 });
    expect(during.states).toEqual({ running: 42, queued: 8 });
    expect(claims).toEqual([
      { max: 18, got: 18 },
      { max: 18, got: 18 },
      { max: 6, got: 6 },
    ]);
  });

  it("a worker whose attempts average 10 ms or more holds nothing back: it claims only for free slots", async () => {
    const { during, after } = await holding(30);
    expect(during).toEqual({ states: { running: 2, queued: 8 }, handlers: 2, active: 2 });
    expect(after).toEqual({ queued: 10 });
  });

  /**
   * A worker of concurrency 2 on `store` that has run one `quick` attempt (so
   * it prefetches), then runs a group of `nodes` `hold` nodes: the first
   * `gated` attempts to start wait for their gate (`gates`, in start order),
   * the others end at once; resolves once two wait. From then on, `onReport`
   * sees the node ids of each report call (`complete`, `completeMany`)
   * before it goes to the store. `started`: the `hold` nodes in start order.
   */
  const gatedRun = async (
    store: MemoryStore,
    opts: { nodes: number; gated: number; onReport: (nodes: number[]) => void },
  ) => {
    const gates: Array<() => void> = [];
    const started: number[] = [];
    const two = deferred();
    let watching = false;
    const watched =
      (nodesOf: (args: unknown[]) => number[], v: unknown) =>
      (...args: unknown[]) => {
        if (watching) opts.onReport(nodesOf(args));
        return Reflect.apply(v as (...a: unknown[]) => unknown, store, args);
      };
    const worker = startWorker({
      store: new Proxy(store, {
        get: (target, prop, receiver) => {
          const v = Reflect.get(target, prop, receiver);
          if (prop === "complete") return watched((args) => [(args[0] as Claim).nodeId], v);
          if (prop === "completeMany")
            return watched(
              (args) => (args[0] as ReadonlyArray<{ claim: Claim }>).map((it) => it.claim.nodeId),
              v,
            );
          return v;
        },
      }),
      logger: silent,
      concurrency: 2,
      handlers: [
        handle(quick, (n) => n),
        handle(hold, (n, ctx) => {
          started.push(ctx.nodeId);
          if (started.length > opts.gated) return n;
          const attempt = new Promise<number>((resolve, reject) => {
            gates.push(() => resolve(n));
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
          });
          if (gates.length === 2) two.resolve();
          return attempt;
        }),
      ],
    });
    const client = createClient(store);
    expect(await (await client.submit(quick.si(1))).result()).toBe(1);
    const run = await client.submit(
      group(...Array.from({ length: opts.nodes }, (_, i) => hold.si(i))),
    );
    await two.promise;
    watching = true;
    return { worker, run, gates, started };
  };

  it("a held node about to take a freed slot when the worker stops goes back to its queue", async () => {
    const store = new MemoryStore();
    let stopping: Promise<void> | undefined;
    // the first completion of a `hold` node stops the worker: a held node is then about to
    // take the freed slot
    const { worker, run, gates } = await gatedRun(store, {
      nodes: 6,
      gated: 6,
      onReport: () => {
        stopping ??= worker.stop(10);
      },
    });
    gates[0]!();
    await stopping;
    await worker.done;
    const states = (await store.getRun(run.runId))!.nodes.map((n) => n.state).sort();
    expect(states).toEqual(["queued", "queued", "queued", "queued", "queued", "succeeded"]);
    await store.close();
  });

  it("a node held a whole heartbeat period goes back to its queue, and an idle worker runs it", async () => {
    const store = new MemoryStore();
    // A: short attempts first, then two attempts that never end; heartbeat every 100 ms
    const {
      worker: a,
      run,
      running,
    } = await slotsHeld(store, { firstMs: 0, nodes: 4, leaseMs: 300 });
    // A runs two and holds two
    const states = async () => (await store.getRun(run.runId))!.nodes.map((n) => n.state);
    expect((await states()).filter((st) => st === "running")).toHaveLength(4);
    // B runs what A gives back
    const ranOnB: number[] = [];
    const b = startWorker({
      store,
      logger: silent,
      concurrency: 2,
      prefetch: 0,
      handlers: [
        handle(hold, (n) => {
          ranOnB.push(n);
          return n;
        }),
      ],
    });
    await vi.waitFor(
      async () => expect((await states()).filter((st) => st === "succeeded")).toHaveLength(2),
      { timeout: 10_000 },
    );
    expect(ranOnB).toHaveLength(2);
    expect(running()).toBe(2);
    await Promise.all([a.stop(10), b.stop(10)]);
    await store.close();
  });

  it("held nodes whose handlers return at once follow one another into the one slot freed, while the other stays taken", async () => {
    const store = new MemoryStore();
    const { worker, run, gates } = await gatedRun(store, {
      nodes: 6,
      gated: 2,
      onReport: () => undefined,
    });
    const succeeded = async () =>
      (await store.getRun(run.runId))!.nodes.filter((n) => n.state === "succeeded").length;
    // one slot frees: the four held nodes end at once, each handing the slot to the next
    gates[0]!();
    await vi.waitFor(async () => expect(await succeeded()).toBe(5), { timeout: 5_000 });
    gates[1]!();
    expect(await run.result()).toEqual([0, 1, 2, 3, 4, 5]);
    await worker.stop();
    await store.close();
  });

  it("held nodes that take slots freed in one turn start together, and their completions go in one report call", async () => {
    const store = new MemoryStore();
    // each report call, by the nodes it carries
    const reports: number[][] = [];
    const { worker, run, gates, started } = await gatedRun(store, {
      nodes: 4,
      gated: 2,
      onReport: (nodes) => reports.push(nodes),
    });
    // both slots free in one turn: the two held nodes take them
    for (const open of gates) open();
    expect(await run.result()).toEqual([0, 1, 2, 3]);
    const [, , third, fourth] = started;
    expect(reports.filter((r) => r.includes(third!) || r.includes(fourth!))).toEqual([
      [third, fourth],
    ]);
    await worker.stop();
    await store.close();
  });

  it("sends a turn's completions beyond MAX_BATCH in several report calls of at most MAX_BATCH", async () => {
    const store = new MemoryStore();
    const quick = task({ name: "pf.batch", input: Schema.Int, output: Schema.Int });
    // each report call, by how many completions it carries
    const sizes: number[] = [];
    const watched = wrapStore(store, {
      completeMany: (...args: Parameters<MemoryStore["completeMany"]>) => {
        sizes.push(args[0].length);
        return store.completeMany(...args);
      },
    });
    const run = await createClient(store).submit(
      group(...Array.from({ length: 300 }, (_, i) => quick.si(i))),
    );
    // (20 slots and their default prefetch hold 296 nodes: the handlers of two claims' nodes
    // return in one turn)
    const worker = startWorker({
      store: watched,
      handlers: [handle(quick, (x) => x)],
      concurrency: 20,
      logger: silent,
    });
    expect(await run.result()).toHaveLength(300);
    await worker.stop();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
    expect(Math.max(...sizes)).toBe(MAX_BATCH);
    expect(sizes.filter((n) => n === MAX_BATCH).length).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it("refuses a prefetch that is not an integer >= 0", () => {
    const store = new MemoryStore();
    for (const prefetch of [-1, 1.5, Number.NaN])
      expect(() => startWorker({ store, handlers: [], prefetch })).toThrow(InvalidWorkerOptions);
  });
});

describe("the worker's timing, shutdown and outputs", () => {
  it("starts a retry when its backoff ends, not at the next maintenance tick or idle poll", async () => {
    const flaky = task({
      name: "flaky",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 70 }, jitter: "none" },
    });
    let calls = 0;
    const r = await simulate({
      canvas: flaky.si(5),
      seed: 1,
      workers: 1,
      handlers: [
        handle(flaky, async (n) => {
          calls += 1;
          if (calls < 3) throw new Error(`attempt ${calls} fails`);
          return n;
        }),
      ],
    });
    expect(r.output).toEqual({ ok: true, value: 5 });
    const retries = r.store.reports.filter((x) => x.kind === "fail" && x.accepted);
    expect(retries).toHaveLength(2);
    for (const x of retries) {
      const next = r.store.deliveries.find((d) => d.attempt === x.attempt + 1);
      // virtual time: the next attempt is delivered at the very ms its backoff ends
      expect(next?.at).toBe(x.retryAt);
    }
  });

  it("logs how many nodes it released at shutdown", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: "info" },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const store = new MemoryStore();
    // a release answered after a network round trip, as Redis answers: the aborted
    // handlers' slots end while it is out
    const release = store.release.bind(store);
    store.release = async (...a) => {
      await new Promise<void>((r) => setImmediate(r));
      return release(...a);
    };
    const hold = task({ name: "hold", input: Schema.Int, output: Schema.Int });
    let started = 0;
    const both = deferred();
    const worker = startWorker({
      store,
      logger,
      concurrency: 2,
      handlers: [
        handle(hold, (_n, ctx) => {
          if (++started === 2) both.resolve();
          return new Promise<number>((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        }),
      ],
    });
    const run = await createClient(store).submit(group(hold.si(1), hold.si(2)));
    await both.promise;
    await worker.stop(10);
    expect(lines.find((l) => l.msg === "released unfinished nodes for re-delivery")).toMatchObject({
      level: 40,
      released: 2,
    });
    const nodes = (await store.getRun(run.runId))!.nodes;
    expect(nodes.map((n) => [n.state, n.attempts])).toEqual([
      ["queued", 0],
      ["queued", 0],
    ]);
    await store.close();
  });

  it("fails a node whose output its schema accepts but the codec cannot store, as InvalidOutput, not retried", async () => {
    const weird = task({ name: "weird", input: Schema.Int, output: Schema.Unknown });
    const r = await simulate({
      canvas: weird.si(1),
      seed: 1,
      handlers: [handle(weird, async () => Symbol("not data"))],
    });
    expect(r.snapshot.nodes[0]).toMatchObject({ state: "failed", attempts: 1 });
    expect(r.snapshot.nodes[0]!.error).toMatchObject({ tag: "InvalidOutput", retryable: false });
    expect(r.snapshot.nodes[0]!.error?.message).toMatch(
      /^output of task "weird" cannot be recorded: /,
    );
  });
});

describe("results that are not plain data", () => {
  const render = task({
    name: "render",
    input: Schema.String,
    output: Schema.Unknown,
    retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 10 }, jitter: "none" },
  });

  it.each([
    ["a function", () => () => "x", /holds a function at the top level, which is not plain data/],
    [
      "a Date inside an object",
      () => ({ at: new Date(0) }),
      /holds an instance of Date at \["at"\]/,
    ],
    [
      "a cyclic object",
      () => {
        const page: Record<string, unknown> = {};
        page.parent = page;
        return page;
      },
      /contains a cycle at \["parent"\]/,
    ],
  ])(
    "a handler returning %s fails its node with InvalidOutput at once, not as undefined",
    async (_what, result, why) => {
      let calls = 0;
      const r = await simulate({
        canvas: render.si("home"),
        seed: 1,
        handlers: [
          handle(render, async () => {
            calls += 1;
            return result();
          }),
        ],
      });
      expect(r.output.ok).toBe(false);
      expect(calls).toBe(1); // non-retryable, whatever the policy says
      const node = r.snapshot.nodes[0]!;
      expect(node).toMatchObject({ state: "failed", attempts: 1 });
      expect(node.error).toMatchObject({ tag: "InvalidOutput", retryable: false });
      expect(node.error?.message).toMatch(why);
    },
  );
});

describe("startWorker's handlers", () => {
  const add = task({ name: "h.add", input: Schema.Int, output: Schema.Int });
  const sub = task({ name: "h.sub", input: Schema.Int, output: Schema.Int });
  const silent = pino({ level: "silent" });
  /** Starts a worker on a fresh store with `handlers` as a JavaScript caller would pass them. */
  const startWith = (handlers: unknown) => {
    const store = new MemoryStore();
    const start = () =>
      startWorker({
        store,
        handlers: handlers as ReadonlyArray<BoundHandler>,
        logger: silent,
      });
    return { store, start };
  };

  it.each([
    ["an object", { add: handle(add, (n) => n) }, /got an object with keys add$/],
    ["undefined", undefined, /got undefined$/],
    ["a handler on its own", handle(add, (n) => n), /got an object with keys task, run$/],
    ["a Promise", Promise.resolve([]), /got a Promise \(not awaited\?\)$/],
    ["a string", "h.add", /got a string "h\.add"$/],
  ])(
    "refuses handlers that are %s (not an array), naming what it got, starting nothing",
    async (_, handlers, got) => {
      const { store, start } = startWith(handlers);
      expect(start).toThrow(InvalidWorkerOptions);
      expect(start).toThrow(
        /^invalid worker options: handlers must be an array of handlers made with handle\(task, fn\), got /,
      );
      expect(start).toThrow(got);
      expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
    },
  );

  it("refuses a task passed where its handler belongs, giving its index and what to pass", async () => {
    const { store, start } = startWith([handle(add, (n) => n), sub]);
    expect(start).toThrow(InvalidWorkerOptions);
    expect(start).toThrow(
      'invalid worker options: handlers[1] is the task "h.sub" itself, not a handler: pass handle(task, fn), not the task itself',
    );
    expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
  });

  it.each([
    [
      "null",
      null,
      /^invalid worker options: handlers\[0\] is not a handler made with handle\(task, fn\), got null$/,
    ],
    ["a bare function", (n: number) => n, /handlers\[0\] is not a handler .*, got a function$/],
    [
      "an object that is no handler",
      { name: 3, run: "x" },
      /handlers\[0\] is not a handler .*, got an object with keys name, run$/,
    ],
    [
      // handle() itself refuses no task ("handle() from JavaScript"): a handler built by hand
      "a handler bound to no task",
      { task: undefined, run: async (n: number) => n },
      /^invalid worker options: handlers\[0\] has no task \(its task is undefined\): handle\(task, fn\) needs a task declared with task\(\.\.\.\)$/,
    ],
    [
      "a handleEffect handler, which needs the scoped worker's services",
      handleEffect(add, (n) => Effect.succeed(n)),
      /^invalid worker options: handlers\[0\] is a handleEffect handler of task "h\.add", .* start it with startWorkerScoped or WeftWorker\.layer$/,
    ],
  ])("refuses an entry that is %s, giving its index", (_, entry, message) => {
    const { start } = startWith([entry]);
    expect(start).toThrow(InvalidWorkerOptions);
    expect(start).toThrow(message);
  });

  it("refuses two handlers for one task name, naming the task and both indexes", async () => {
    const again = task({ name: "h.add", input: Schema.Int, output: Schema.Int });
    const { store, start } = startWith([
      handle(add, (n) => n),
      handle(sub, (n) => n),
      handle(again, (n) => n + 1),
    ]);
    expect(start).toThrow(InvalidWorkerOptions);
    expect(start).toThrow(
      'invalid worker options: handlers[0] and handlers[2] both handle task "h.add": give one handler per task',
    );
    expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
  });

  it.each([
    [
      "an object",
      () => ({ add: handle(add, (n) => n) }),
      /handlers must be an array .*, got an object with keys add$/,
    ],
    ["null in the list", () => [null], /handlers\[0\] is not a handler .*, got null$/],
    [
      "a task in the list",
      () => [handleEffect(sub, Effect.succeed), add],
      /handlers\[1\] is the task "h\.add" itself/,
    ],
    [
      "a task handled twice, once by handleEffect",
      () => [handle(add, (n) => n), handleEffect(add, Effect.succeed)],
      /handlers\[0\] and handlers\[1\] both handle task "h\.add"/,
    ],
  ])(
    "startWorkerScoped fails with the same InvalidWorkerOptions for %s",
    async (_, handlers, message) => {
      const e = await Effect.runPromise(
        Effect.scoped(
          Effect.flip(
            startWorkerScoped({
              handlers: handlers() as unknown as ReadonlyArray<BoundHandler>,
              logger: silent,
            }),
          ),
        ).pipe(Effect.provide(MemoryStore.layer)),
      );
      expect(e).toBeInstanceOf(InvalidWorkerOptions);
      expect(e.message).toMatch(message);
    },
  );

  it("keeps running when a handler built by hand without its task's declaration breaks its attempt", async () => {
    const store = new MemoryStore();
    const crashed: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => crashed.push(line) });
    // its task names an input schema but no options: the attempt cannot read its time limit
    const byHand = { task: { name: "h.sub", input: Schema.Int }, run: async (n: number) => n };
    const worker = startWorker({
      store,
      handlers: [handle(add, (n) => n + 1), byHand as unknown as BoundHandler],
      logger,
    });
    const client = createClient(store);
    await client.submit(sub.si(1));
    await vi.waitFor(() => expect(crashed.join("")).toContain("slot crashed"), { timeout: 5_000 });
    // the worker's loop goes on: a run of its other task completes
    expect(await (await client.submit(add.si(41))).result()).toBe(42);
    await worker.stop();
    await store.close();
  });

  it("accepts handle() handlers of distinct tasks, thread handlers and an empty list, and runs them", async () => {
    const store = new MemoryStore();
    const worker = startWorker({
      store,
      handlers: [handle(add, (n) => n + 1), handle(sub, (n) => n - 1, { module: import.meta.url })],
      logger: silent,
    });
    const client = createClient(store);
    const run = await client.submit(add.si(41));
    expect(await run.result()).toBe(42);
    await worker.stop();
    const empty = startWorker({ store, handlers: [], logger: silent });
    await empty.stop();
    await store.close();
  });
});

describe("startWorker's options from JavaScript", () => {
  const add = task({ name: "o.add", input: Schema.Int, output: Schema.Int });
  /** What `startWorker` throws for `extra` on a fresh store, and whether it registered a worker. */
  const refusal = async (extra: Record<string, unknown>) => {
    const store = new MemoryStore();
    const start = () =>
      startWorker({ store, handlers: [handle(add, (n) => n)], ...extra } as WorkerOptions);
    expect(start).toThrow(InvalidWorkerOptions);
    expect(await store.listWorkers({ now: Date.now() })).toEqual([]);
    try {
      start();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("not refused");
  };

  it.each([
    ["true", true, "got boolean true"],
    ["a level name", "info", 'got a string "info"'],
    ["console", console, "which has no child"],
    ["an object without child or info", {}, "got an empty object, which has no child, debug, info"],
    ["null", null, "got null"],
  ])("refuses a logger that is %s, naming the option and what it got", async (_, logger, got) => {
    const message = await refusal({ logger });
    expect(message).toContain(
      'invalid worker options: logger must be a pino logger (pino({ level: "info" })), false for none',
    );
    expect(message).toContain(got);
  });

  it("logs nothing with logger: false, and runs its handlers", async () => {
    const store = new MemoryStore();
    const write = vi.spyOn(process.stdout, "write");
    const worker = startWorker({ store, handlers: [handle(add, (n) => n + 1)], logger: false });
    try {
      expect(await (await createClient(store).submit(add.si(1))).result()).toBe(2);
      await worker.stop();
      expect(write.mock.calls.filter(([s]) => String(s).includes(worker.id))).toEqual([]);
    } finally {
      write.mockRestore();
    }
  });

  it.each([
    [{ concurrency: 0 }, "concurrency must be an integer >= 1, got number 0"],
    [{ concurrency: Number.NaN }, "concurrency must be an integer >= 1, got number NaN"],
    [{ concurrency: "4" }, 'concurrency must be an integer >= 1, got a string "4"'],
    [{ concurrency: Number.POSITIVE_INFINITY }, "got number Infinity"],
    [{ leaseMs: "30000" }, "leaseMs must be a number of ms from 1 to 2147483647"],
    [{ leaseMs: Number.NaN }, "leaseMs must be a number of ms from 1 to"],
    [{ leaseMs: Number.POSITIVE_INFINITY }, "leaseMs must be a number of ms from 1 to"],
    [{ heartbeatMs: 0 }, "heartbeatMs must be a number of ms from 1 to"],
    [
      { heartbeatMs: 30_000, leaseMs: 30_000 },
      "heartbeatMs (30000) must be less than leaseMs (30000)",
    ],
    [{ idleMs: -1 }, "idleMs must be a number of ms from 1 to"],
    [
      { queues: "default" },
      'queues must be a non-empty array of queue names (["default"]), got a string "default"',
    ],
    [{ queues: [] }, "queues must be a non-empty array of queue names"],
    [
      { queues: ["emails", ""] },
      'queues[1] must be a queue name: 1–128 characters of [A-Za-z0-9_.:-], got a string ""',
    ],
    [{ workerId: 42 }, "workerId must be a non-empty string, got number 42"],
    [{ clock: {} }, "clock must be a Clock"],
    [{ random: 0.5 }, "random must be a function"],
  ])("refuses %j, naming the option, starting nothing", async (extra, reason) => {
    expect(await refusal(extra)).toContain(reason);
  });

  it("refuses options that are not an object", () => {
    expect(() => (startWorker as (o?: unknown) => unknown)()).toThrow(
      "invalid worker options: startWorker takes an options object ({ store, handlers, ... }), got undefined",
    );
  });

  it("refuses a grace period that is not a number >= 0, stopping nothing; Infinity waits for the handlers", async () => {
    const store = new MemoryStore();
    const release = deferred();
    const started = deferred();
    const worker = startWorker({
      store,
      logger: false,
      handlers: [
        handle(add, async (n) => {
          started.resolve();
          await release.promise;
          return n;
        }),
      ],
    });
    const run = await createClient(store).submit(add.si(7));
    await started.promise;
    for (const grace of [Number.NaN, -1, "100", null])
      await expect(worker.stop(grace as number)).rejects.toThrow(
        /^invalid worker options: worker\.stop\(graceMs\) takes a number of ms >= 0 \(Infinity: no limit\), got /,
      );
    expect(worker.activeCount()).toBe(1);
    expect(() => stopOnSignals(worker, Number.NaN)).toThrow(InvalidWorkerOptions);
    const stopping = worker.stop(Number.POSITIVE_INFINITY);
    release.resolve();
    await stopping;
    // the handler was not aborted: its result was recorded
    expect(await run.result({ timeout: 0 })).toBe(7);
  });
});

describe("handle() from JavaScript", () => {
  const add = task({ name: "hj.add", input: Schema.Int, output: Schema.Int });
  it.each([
    ["a number", 42, "got number 42"],
    ["undefined", undefined, "got undefined"],
    ["a string", "run", 'got a string "run"'],
  ])("refuses a handler that is %s at once, naming the task", (_, fn, got) => {
    const bind = () => handle(add, fn as never);
    expect(bind).toThrow(InvalidWorkerOptions);
    expect(bind).toThrow(`handle(hj.add, fn): fn must be the handler function, ${got}`);
  });

  it("refuses a task that is not one (a task name, undefined)", () => {
    for (const t of ["hj.add", undefined])
      expect(() => handle(t as never, (() => 1) as never)).toThrow(
        /^invalid worker options: handle\(task, fn\) takes a task declared with task\(\.\.\.\) first, got /,
      );
  });
});
