import { type Canvas, chain, handle, liveClock, Schema, task, WorkerStopping } from "@weft/core";
import { type AttemptEnv, type Claim, compile, decode, encode, runAttempt } from "@weft/core/store";
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
