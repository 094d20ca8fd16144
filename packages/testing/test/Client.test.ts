import {
  chain,
  createClient,
  InvalidStore,
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
