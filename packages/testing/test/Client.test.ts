import {
  chain,
  createClient,
  InvalidStore,
  InvalidSubmitOptions,
  InvalidWaitOptions,
  InvalidWorkerOptions,
  ResultUndecodable,
  Schema,
  startBeat,
  startWorker,
  task,
} from "@weft/core";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });

describe("result()", () => {
  it("refuses, as ResultUndecodable naming the node, a succeeded run whose output node has no result", async () => {
    const store = new MemoryStore();
    const client = createClient(store);
    const run = await client.submit(chain(inc.si(1), inc.s()));
    // records that disagree: the run reads succeeded, yet its nodes read skipped
    const snap = (await store.getRun(run.runId))!;
    store.getRun = async () => ({
      ...snap,
      run: { ...snap.run, status: "succeeded", finishedAt: 2 },
      nodes: snap.nodes.map((n) => ({
        ...n,
        state: "skipped" as const,
        error: { tag: "Skipped", message: "upstream node 0 failed", retryable: false },
      })),
    });
    store.waitForRun = async () => (await store.getRun(run.runId))!.run;
    const err = await run.result({ timeout: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResultUndecodable);
    expect(err).toMatchObject({ runId: run.runId, nodeId: 1 });
    expect((err as Error).message).toBe(
      `result of node 1 of run ${run.runId} cannot be decoded: node 1 has no result: Skipped: upstream node 0 failed`,
    );
  });
});

describe("result()'s options from JavaScript", () => {
  it("refuses a timeout that is not a number of ms, or a waitForQuiet that is not a boolean, at once (they would wait forever)", async () => {
    const run = await createClient(new MemoryStore()).submit(inc.si(1));
    for (const [opts, message] of [
      [
        { timeout: "100" },
        /^invalid wait options: timeout must be a number of ms from 0 to 2147483647, got /,
      ],
      [{ timeout: Number.NaN }, /timeout must be a number of ms/],
      [{ timeout: -1 }, /timeout must be a number of ms/],
      [{ timeout: Number.POSITIVE_INFINITY }, /timeout must be a number of ms/],
      [{ waitForQuiet: "yes" }, /^invalid wait options: waitForQuiet must be true or false, got /],
    ] as const) {
      const err = await run.result(opts as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidWaitOptions);
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe("createClient's clock and task()'s declaration from JavaScript", () => {
  it("refuses a clock that is not a function, and a task() without a declaration, naming them", () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const clock = err(() => createClient(new MemoryStore(), "x" as never));
    expect(clock).toBeInstanceOf(InvalidSubmitOptions);
    expect((clock as Error).message).toMatch(
      /createClient's second argument is its clock, a function returning epoch ms .*, got /,
    );
    const none = err(() => task(undefined as never));
    expect(none).toMatchObject({ _tag: "InvalidCanvas" });
    expect((none as Error).message).toMatch(
      /task\(\) takes a declaration, \{ name, input, output, ... \}, got /,
    );
  });
});

describe("what is not a store", () => {
  it("is refused at once by createClient, startWorker and startBeat, naming what was given", async () => {
    const pending = Promise.resolve(new MemoryStore());
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidStore);
        return (e as Error).message;
      }
      throw new Error("not refused");
    };
    // a Promise: RedisStore.connect(url) without its await
    expect(refused(() => createClient(pending as never))).toBe(
      "invalid store: createClient takes a store (RedisStore, MemoryStore); it got a Promise (await RedisStore.connect(url) before passing its store)",
    );
    expect(refused(() => createClient({ store: new MemoryStore() } as never))).toMatch(
      /it got an object with keys store$/,
    );
    expect(refused(() => startWorker({ store: undefined as never, handlers: [] }))).toBe(
      "invalid store: startWorker's store option takes a store (RedisStore, MemoryStore); it got undefined",
    );
    expect(refused(() => startBeat({ store: "redis://localhost:6379" as never }))).toMatch(
      /startBeat's store option .* it got a string "redis:\/\/localhost:6379"$/,
    );
    await pending;
  });

  it("accepts a store wrapped in a Proxy, as instrumentation wraps one", async () => {
    const store = new MemoryStore();
    const client = createClient(new Proxy(store, {}));
    const run = await client.submit(inc.si(1));
    expect(run.runId).toMatch(/./);
  });
});

describe("submit options from JavaScript", () => {
  const client = createClient(new MemoryStore());
  it.each([
    [null, "the options must be an object ({ idempotencyKey, delayMs, ... }), got null"],
    ["x", 'the options must be an object ({ idempotencyKey, delayMs, ... }), got a string "x"'],
    [{ runId: 42 }, "option runId must be a non-empty string, got number 42"],
    [{ runId: "" }, 'option runId must be a non-empty string, got a string ""'],
    [{ idempotencyKey: null }, "option idempotencyKey must be a non-empty string, got null"],
    [
      { idempotencyKey: "k", idempotencyWindowMs: Number.NaN },
      "option idempotencyWindowMs must be an integer number of ms ≥ 0, got number NaN",
    ],
    [
      { idempotencyKey: "k", idempotencyReuse: "yes" },
      'option idempotencyReuse must be "return-existing" or "allow-if-failed", got a string "yes"',
    ],
    [{ retentionMs: -1 }, "option retentionMs must be an integer number of ms ≥ 0, got number -1"],
    [
      { retentionMs: "1000" },
      'option retentionMs must be an integer number of ms ≥ 0, got a string "1000"',
    ],
    [
      { tags: "nightly" },
      'option tags must be an array of non-empty strings, got a string "nightly"',
    ],
    [{ tags: ["a", 1] }, "option tags[1] must be a non-empty string, got number 1"],
  ])("refuses %j with InvalidSubmitOptions, writing nothing", async (opts, reason) => {
    const store = new MemoryStore();
    const c = createClient(store);
    const submitted = c.submit(inc.si(1), opts as never);
    await expect(submitted).rejects.toBeInstanceOf(InvalidSubmitOptions);
    await expect(submitted).rejects.toThrow(`invalid submit options: ${reason}`);
    expect(await store.listRuns({ limit: 10 })).toEqual([]);
  });

  it("refuses what is not a canvas, and a task passed itself, as InvalidCanvas", async () => {
    await expect(client.submit(undefined as never)).rejects.toThrow(
      "invalid canvas: expected a canvas (task.si(input), chain(...), group(...)), got undefined",
    );
    await expect(client.submit(inc as never)).rejects.toThrow(
      'invalid canvas: got the task "inc" itself, not a canvas: submit inc.si(input)',
    );
  });

  it("refuses submitMany and submitManyByName arguments that are not arrays of canvases, items or options", async () => {
    await expect(client.submitMany(inc.si(1) as never)).rejects.toThrow(
      /^invalid canvas: submitMany takes an array of canvases \(\[t\.si\(input\), \.\.\.\]\), got an object with keys node/,
    );
    await expect(client.submitMany([inc.si(1), 5] as never)).rejects.toThrow(
      "invalid canvas: canvases[1]: expected a canvas (task.si(input), chain(...), group(...)), got number 5",
    );
    await expect(client.submitMany([inc.si(1), inc.si(2)], null as never)).rejects.toThrow(
      InvalidSubmitOptions,
    );
    await expect(client.submitMany([inc.si(1)], [null] as never)).rejects.toThrow(
      "invalid submit options: canvases[0]: the options must be an object",
    );
    await expect(client.submitManyByName("x" as never)).rejects.toThrow(
      'invalid canvas: submitManyByName takes an array of { task, input, opts? }, got a string "x"',
    );
    await expect(client.submitManyByName([null] as never)).rejects.toThrow(
      "invalid canvas: items[0]: not a { task, input, opts? } item, got null",
    );
  });
});

describe("startBeat's options from JavaScript", () => {
  it.each([
    [{ logger: "info" }, `startBeat's logger must be a pino logger`],
    [{ logger: console }, "which has no child"],
    [
      { pollMs: Number.NaN },
      "startBeat's pollMs must be a number of ms from 1 to 2147483647, got number NaN",
    ],
    [{ pollMs: 0 }, "startBeat's pollMs must be a number of ms from 1 to 2147483647, got number 0"],
    [{ clock: {} }, "startBeat's clock must be a Clock"],
    [{ onFire: 1 }, "startBeat's onFire must be a function, got number 1"],
  ])("refuses %j with InvalidWorkerOptions", (extra, reason) => {
    const start = () => startBeat({ store: new MemoryStore(), ...extra } as never);
    expect(start).toThrow(InvalidWorkerOptions);
    expect(start).toThrow(reason);
  });

  it("runs silently with logger: false", async () => {
    const beat = startBeat({ store: new MemoryStore(), logger: false });
    expect(beat.id).toMatch(/^beat-/);
    await beat.stop();
  });
});
