/**
 * Worker hooks (`startWorker({ hooks })`, docs/operations.md "Worker hooks"):
 * what each hook is told, when it fires, and that a hook which throws or
 * rejects changes nothing about the attempt.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AttemptEnd,
  type AttemptInfo,
  chain,
  createClient,
  handle,
  type NodeFailure,
  NonRetryableError,
  RunFailed,
  Schema,
  startWorker,
  task,
  type WorkerHooks,
} from "@weft/core";
import { deferred } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

const flaky = task({
  name: "hooks.flaky",
  input: Schema.Struct({ order: Schema.String }),
  output: Schema.String,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 1 }, jitter: "none" },
});
const broken = task({
  name: "hooks.broken",
  input: Schema.String,
  output: Schema.String,
  retry: { maxAttempts: 1 },
});
const whoami = task({ name: "hooks.whoami", input: Schema.Null, output: Schema.String });

/** Runs `canvas` to its end on a fresh store with `hooks`; the worker's log lines are collected. */
const runWith = async (
  canvas: Parameters<ReturnType<typeof createClient>["submit"]>[0],
  hooks: WorkerHooks,
  handlers: Parameters<typeof startWorker>[0]["handlers"],
) => {
  const store = new MemoryStore();
  const lines: string[] = [];
  const worker = startWorker({
    store,
    handlers,
    hooks,
    concurrency: 2,
    idleMs: 20,
    workerId: "w-hooks",
    logger: pino({ level: "warn" }, { write: (l: string) => void lines.push(l) }),
  });
  try {
    const run = await createClient(store).submit(canvas);
    const outcome = await run.result({ timeout: 20_000 }).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    return { run, outcome, lines };
  } finally {
    await worker.stop();
    await store.close();
  }
};

describe("worker hooks", () => {
  it("tells onAttemptStart and onAttemptEnd each attempt: outcome, duration, input, error, retry", async () => {
    let calls = 0;
    const starts: AttemptInfo[] = [];
    const ends: AttemptEnd[] = [];
    const failed: NodeFailure[] = [];
    const { outcome } = await runWith(
      flaky.si({ order: "A-1" }),
      {
        onAttemptStart: (a) => void starts.push(a),
        onAttemptEnd: (e) => void ends.push(e),
        onNodeFailed: (f) => void failed.push(f),
      },
      [
        handle(flaky, ({ order }) => {
          calls += 1;
          if (calls < 3) throw new Error(`gateway down (${calls})`);
          return `paid ${order}`;
        }),
      ],
    );
    expect(outcome).toEqual({ ok: true, value: "paid A-1" });
    expect(starts.map((s) => [s.task, s.attempt, s.workerId, s.nodeId])).toEqual([
      ["hooks.flaky", 1, "w-hooks", 0],
      ["hooks.flaky", 2, "w-hooks", 0],
      ["hooks.flaky", 3, "w-hooks", 0],
    ]);
    expect(ends.map((e) => [e.attempt, e.outcome, e.retry, e.error?.message])).toEqual([
      [1, "failed", true, "gateway down (1)"],
      [2, "failed", true, "gateway down (2)"],
      [3, "succeeded", false, undefined],
    ]);
    for (const e of ends) {
      expect(e.input).toEqual({ order: "A-1" });
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(failed).toEqual([]);
  });

  it("fires onNodeFailed once, when a node fails for good, with its error, task, input and attempt", async () => {
    const failed: NodeFailure[] = [];
    const { outcome } = await runWith(
      chain(broken.si("card 4242"), broken.s()),
      { onNodeFailed: (f) => void failed.push(f) },
      [
        handle(broken, (card) => {
          throw new NonRetryableError(`declined: ${card}`);
        }),
      ],
    );
    expect(!outcome.ok && outcome.error).toBeInstanceOf(RunFailed);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      task: "hooks.broken",
      nodeId: 0,
      attempt: 1,
      input: "card 4242",
      error: { tag: "NonRetryableError", message: "declined: card 4242", retryable: false },
    });
  });

  it("logs a hook that throws or rejects and never fails the attempt", async () => {
    const { outcome, lines } = await runWith(
      flaky.si({ order: "B-2" }),
      {
        onAttemptStart: () => {
          throw new Error("start hook broke");
        },
        onAttemptEnd: async () => {
          throw new Error("end hook broke");
        },
      },
      [handle(flaky, ({ order }) => `paid ${order}`)],
    );
    expect(outcome).toEqual({ ok: true, value: "paid B-2" });
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; hook?: string; level: number });
    expect(logged.filter((l) => l.hook !== undefined).map((l) => [l.hook, l.msg])).toEqual(
      expect.arrayContaining([
        ["onAttemptStart", "worker hook onAttemptStart failed; ignored"],
        ["onAttemptEnd", "worker hook onAttemptEnd failed; ignored"],
      ]),
    );
  });

  it("wrapHandler runs each handler call inside its context (an AsyncLocalStorage)", async () => {
    const als = new AsyncLocalStorage<string>();
    const { outcome } = await runWith(
      whoami.si(null),
      { wrapHandler: (a, run) => als.run(`trace-${a.runId}-${a.nodeId}-${a.attempt}`, run) },
      [handle(whoami, () => als.getStore() ?? "no context")],
    );
    expect(outcome.ok && outcome.value).toMatch(/^trace-.+-0-1$/);
  });

  it("a wrapHandler that throws before run(), or never calls it, is logged and the handler runs unwrapped", async () => {
    const ran = deferred<void>();
    const first = await runWith(
      whoami.si(null),
      {
        wrapHandler: () => {
          throw new Error("wrapper broke");
        },
      },
      [
        handle(whoami, () => {
          ran.resolve();
          return "ran";
        }),
      ],
    );
    await ran.promise;
    expect(first.outcome).toEqual({ ok: true, value: "ran" });
    expect(first.lines.join("")).toContain(
      "worker hook wrapHandler failed; the handler runs without it",
    );
    const second = await runWith(whoami.si(null), { wrapHandler: async () => "not the handler" }, [
      handle(whoami, () => "ran anyway"),
    ]);
    expect(second.outcome).toEqual({ ok: true, value: "ran anyway" });
    expect(second.lines.join("")).toContain("did not call run()");
  });

  it("the attempt ends with the handler's own failure when the wrapper passes it on", async () => {
    const { outcome } = await runWith(broken.si("x"), { wrapHandler: async (_a, run) => run() }, [
      handle(broken, () => {
        throw new NonRetryableError("real failure");
      }),
    ]);
    expect(!outcome.ok && (outcome.error as RunFailed).error?.message).toBe("real failure");
  });
});
