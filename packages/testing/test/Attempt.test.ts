import {
  type BoundHandler,
  type Canvas,
  chain,
  handle,
  liveClock,
  replace,
  Schema,
  TaskFailure,
  task,
  WorkerStopping,
} from "@weft/core";
import {
  AttemptAbort,
  type AttemptEnv,
  type AttemptResult,
  attemptNow,
  type Claim,
  compile,
  decode,
  encode,
  runAttempt,
} from "@weft/core/store";
import { Effect } from "effect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const silent = pino({ level: "silent" });

/** Submits `canvas` to a fresh store and claims its first ready node, as a worker would. */
const claimed = async (canvas: Canvas<unknown, unknown>) => {
  const store = new MemoryStore();
  const dag = compile(canvas);
  await store.submit({
    runId: "r",
    dag,
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 60_000,
    now: 0,
  });
  const [claim] = await store.claim({
    workerId: "w",
    queues: dag.queues,
    max: 1,
    leaseMs: 60_000,
    now: 0,
  });
  const env: AttemptEnv = { store, clock: liveClock, workerId: "w", log: () => silent };
  return { store, claim: claim!, env };
};

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
  unhandled.length = 0;
});

describe("runAttempt", () => {
  it("runs the handler on the node's input and hands back the encoded output", async () => {
    const { claim, env } = await claimed(inc.si(41));
    const r = await runAttempt(
      claim,
      handle(inc, async (n) => n + 1),
      env,
      new AbortController(),
    );
    expect(r.ok && "value" in r && decode(r.value)).toBe(42);
  });

  it("refuses a handler bound to another task, as UnknownTask, without running it", async () => {
    const other = task({ name: "other", input: Schema.Int, output: Schema.Int });
    const { claim, env } = await claimed(inc.si(1));
    let ran = false;
    const r = await runAttempt(
      claim,
      handle(other, async (n) => {
        ran = true;
        return n;
      }),
      env,
      new AbortController(),
    );
    expect(ran).toBe(false);
    expect(r).toMatchObject({ ok: false, error: { tag: "UnknownTask", retryable: false } });
  });

  it("fails as CorruptRecord when a dependency's result cannot be read", async () => {
    const { claim, env } = await claimed(chain(inc.si(1), inc.s()));
    const downstream: Claim = {
      ...claim,
      nodeId: 1,
      spec: compile(chain(inc.si(1), inc.s())).nodes[1]!,
      deps: [{ ok: true, value: Uint8Array.from([0xc1]) }],
    };
    const r = await runAttempt(
      downstream,
      handle(inc, async (n) => n),
      env,
      new AbortController(),
    );
    expect(r).toMatchObject({ ok: false, error: { tag: "CorruptRecord", retryable: false } });
    expect(!r.ok && r.error.message).toMatch(/^cannot read this node's upstream results: /);
  });

  it("ends with the abort's reason when aborted while the handler runs", async () => {
    const { claim, env } = await claimed(inc.si(1));
    const abort = new AbortController();
    const r = await runAttempt(
      claim,
      handle(inc, () => {
        abort.abort(new WorkerStopping());
        return new Promise<number>(() => undefined); // never ends by itself
      }),
      env,
      abort,
    );
    expect(r).toMatchObject({ ok: false, error: { tag: "WorkerStopping", retryable: true } });
  });

  it("returns a memo without running the handler, and an abort after it ends rejects nothing unhandled", async () => {
    process.on("unhandledRejection", onUnhandled);
    const keyed = task({
      name: "keyed",
      input: Schema.Int,
      output: Schema.Int,
      resultKey: (n) => `n${n}`,
    });
    const { store, claim, env } = await claimed(keyed.si(7));
    await store.putMemo({
      task: "keyed",
      key: "n7",
      result: encode(70),
      ttlMs: 60_000,
      now: Date.now(),
    });
    let ran = false;
    const abort = new AbortController();
    const r = await runAttempt(
      claim,
      handle(keyed, async (n) => {
        ran = true;
        return n;
      }),
      env,
      abort,
    );
    expect(ran).toBe(false);
    expect(r.ok && "value" in r && decode(r.value)).toBe(70);
    // the run is cancelled while the worker reports: the slot's attempt is aborted after it ended
    abort.abort(new WorkerStopping());
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});

describe("runAttempt of a handler built by hand", () => {
  it("rejects, never throws, when the handler's task lacks its declaration", async () => {
    const { claim, env } = await claimed(inc.si(1));
    const byHand = { task: { name: "inc", input: Schema.Int }, run: async (n: number) => n };
    let attempt: Promise<AttemptResult> | undefined;
    expect(() => {
      attempt = runAttempt(claim, byHand as unknown as BoundHandler, env, new AbortController());
    }).not.toThrow();
    await expect(attempt).rejects.toThrow(TypeError);
  });
});

describe("attemptNow", () => {
  const point = task({
    name: "point",
    input: Schema.Int,
    output: Schema.Struct({ x: Schema.Int }),
  });
  /** The same handler without its own function: its attempt waits on `run`'s promise. */
  const throughRun = (h: BoundHandler): BoundHandler => ({ task: h.task, run: h.run });
  /** What two attempts are compared by: the outcome without the stacks of errors made twice. */
  const outcome = (r: AttemptResult) =>
    r.ok
      ? "value" in r
        ? { ok: true, value: decode(r.value), input: r.input }
        : { ok: true, replace: r.replace, input: r.input }
      : {
          ok: false,
          tag: r.error.tag,
          message: r.error.message,
          retryable: r.error.retryable,
          input: r.input,
        };

  it("ends at once, without a promise, when the handler returns or throws at once", async () => {
    const { claim, env } = await claimed(inc.si(41));
    const returned = attemptNow(
      claim,
      handle(inc, (n) => n + 1),
      env,
      new AbortController(),
    );
    expect(returned).not.toBeInstanceOf(Promise);
    expect(outcome(returned as AttemptResult)).toEqual({ ok: true, value: 42, input: 41 });
    const thrown = attemptNow(
      claim,
      handle(inc, () => {
        throw new Error("boom");
      }),
      env,
      new AbortController(),
    );
    expect(thrown).not.toBeInstanceOf(Promise);
    expect(thrown).toMatchObject({ ok: false, error: { message: "boom" }, input: 41 });
  });

  it("ends as the attempt through the handler's promise does, whatever the handler returns", async () => {
    const { claim, env } = await claimed(point.si(3));
    const fns: Array<[string, (n: number) => unknown]> = [
      ["a value", (n) => ({ x: n })],
      ["a value its schema refuses", (n) => ({ x: `${n}` })],
      ["a value the codec cannot store", () => ({ x: 1, f: () => 1 })],
      ["a promise", async (n) => ({ x: n })],
      ["a rejected promise", async () => Promise.reject(new Error("later"))],
      [
        "a thenable",
        // biome-ignore lint/suspicious/noThenProperty: a thenable output is waited on as `await` would
        (n) => ({ then: (ok: (v: unknown) => void) => ok({ x: n }) }),
      ],
      ["an Effect", (n) => Effect.succeed({ x: n })],
      ["a failing Effect", () => Effect.fail(new Error("effect"))],
      ["a replacement", (n) => replace(point.si(n + 1))],
      ["a bad replacement", () => replace((chain as (...steps: unknown[]) => never)())],
      [
        "an Error thrown",
        () => {
          throw new Error("now");
        },
      ],
      [
        "a string thrown",
        () => {
          throw "a string";
        },
      ],
      [
        "a TaskFailure with a delay",
        () => {
          throw new TaskFailure("later", { retryAfterMs: 250 });
        },
      ],
    ];
    for (const [what, fn] of fns) {
      const h = handle(point, fn as never);
      const now = await attemptNow(claim, h, env, new AbortController());
      const later = await runAttempt(claim, throughRun(h), env, new AbortController());
      expect({ what, ...outcome(now) }).toEqual({ what, ...outcome(later) });
      expect({ what, retryAfterMs: !now.ok && now.retryAfterMs }).toEqual({
        what,
        retryAfterMs: !later.ok && later.retryAfterMs,
      });
    }
  });

  it("ends with the abort's reason when aborted before the handler returned at once", async () => {
    const { claim, env } = await claimed(inc.si(1));
    for (const abort of [new AbortController(), new AttemptAbort()]) {
      abort.abort(new WorkerStopping());
      const before = attemptNow(
        claim,
        handle(inc, (n) => n),
        env,
        abort,
      );
      expect(before).toMatchObject({ ok: false, error: { tag: "WorkerStopping" } });
    }
    for (const abort of [new AbortController(), new AttemptAbort()]) {
      const during = attemptNow(
        claim,
        handle(inc, (n) => {
          abort.abort(new WorkerStopping());
          return n;
        }),
        env,
        abort,
      );
      expect(during).toMatchObject({ ok: false, error: { tag: "WorkerStopping" } });
      const thrown = attemptNow(
        claim,
        handle(inc, () => {
          abort.abort(new WorkerStopping());
          throw new Error("after the abort");
        }),
        env,
        abort,
      );
      expect(thrown).toMatchObject({ ok: false, error: { tag: "WorkerStopping" } });
    }
  });
});
