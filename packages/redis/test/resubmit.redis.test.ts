/**
 * A chunked submission rejected midway (a middle chunk's connection lost, so its
 * commit is never sent) leaves its run `pending`. The caller then does what
 * docs/guarantees.md #1 and #8 tell it to: submits again with the same
 * idempotency key, or the same run id. That second submission must end with one
 * committed run (or a clear error): never hand back the abandoned pending run,
 * which no worker can claim and maintenance discards (result(): RunNotFound).
 */
import { group, Schema, task } from "@weft/core";
import { compile } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
let n = 0;

type ScriptFn = (name: string, keys: string[], args: unknown[]) => Promise<unknown>;

/** Makes the `at`-th call of script `submit` fail as a lost connection would; returns how to undo it. */
const failSubmitCall = (store: RedisStore, at: number) => {
  const s = store as unknown as { script: ScriptFn };
  const real = s.script.bind(store);
  let calls = 0;
  s.script = async (name, keys, args) => {
    if (name === "submit" && ++calls === at) throw new Error("connection reset by the test");
    return real(name, keys, args);
  };
  return () => {
    s.script = real;
  };
};

/** Run `runId` is committed (running) and a worker can claim its nine nodes, and only them. */
const expectCommitted = async (store: RedisStore, runId: string) => {
  expect((await store.getRun(runId))?.run.status).toBe("running");
  const claims = await store.claim({
    workerId: "w",
    queues: ["default"],
    max: 20,
    leaseMs: 1_000,
    now: 1,
  });
  expect(claims.map((c) => `${c.runId}#${c.nodeId}`)).toEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => `${runId}#${i}`),
  );
};

describe("a submission again after a chunked submission failed midway", () => {
  const dag = compile(group(...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => count.si(i))));
  const base = { dag, tags: [], retentionMs: 60_000, now: 0 };

  it.each([
    [
      "the same idempotency key (a new run id)",
      { idempotencyKey: "order-1", idempotencyWindowMs: 60_000 },
      "second",
    ],
    ["the same run id", { idempotencyWindowMs: 0 }, "first"],
  ] as const)(
    "with %s: answers a committed run whose nodes a worker can claim, one run in all",
    async (_how, opts, secondId) => {
      const prefix = `resubmit${++n}`;
      const store = await RedisStore.connect(server.url, { prefix, submitChunk: 2 });
      // the first submission: its third chunk (a middle one) fails, so its commit is never sent
      const undo = failSubmitCall(store, 3);
      const err = await store.submit({ ...base, ...opts, runId: "first" }).catch((e: unknown) => e);
      expect((err as Error).message).toContain("connection reset by the test");
      expect(await raw.hget(shardKeys(prefix, 0).run("first").record, "status")).toBe("pending");
      undo();

      // the caller submits the same canvas again, as the docs say it may
      const again = await store.submit({ ...base, ...opts, runId: secondId });
      await expectCommitted(store, again.runId);
      // and maintenance, long after, leaves that run in place
      await store.maintain({ now: 10 * 60_000, queues: ["default"] });
      expect((await store.getRun(again.runId))?.run.status).toBe("running");
      await store.close();
    },
  );
});

describe("two submissions of one canvas under one idempotency key at the same time", () => {
  it("both answer the one run, whichever writes first: the second never undoes the first's chunks", async () => {
    const prefix = `concurrent${++n}`;
    const a = await RedisStore.connect(server.url, { prefix, submitChunk: 2 });
    const b = await RedisStore.connect(server.url, { prefix, submitChunk: 2 });
    const dag = compile(group(...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => count.si(i))));
    const sub = (runId: string) => ({
      runId,
      dag,
      tags: [],
      idempotencyKey: "double-click",
      idempotencyWindowMs: 60_000,
      retentionMs: 60_000,
      now: 0,
    });
    // a's first chunk is written, then all of b's submission runs, then a goes on
    const s = a as unknown as { script: ScriptFn };
    const real = s.script.bind(a);
    let bAnswer: Promise<unknown> | undefined;
    s.script = async (name, keys, args) => {
      const reply = await real(name, keys, args);
      if (name === "submit" && bAnswer === undefined) {
        bAnswer = b.submit(sub("b")).catch((e: unknown) => e);
        await bAnswer;
      }
      return reply;
    };
    const aAnswer = await a.submit(sub("a")).catch((e: unknown) => e);
    const bGot = await bAnswer;
    // (a SubmitInterrupted, say, is an error: neither call may fail)
    expect(aAnswer).not.toBeInstanceOf(Error);
    expect(bGot).not.toBeInstanceOf(Error);
    expect(bGot).toMatchObject({ runId: (aAnswer as { runId: string }).runId });
    const runId = (aAnswer as { runId: string }).runId;
    await expectCommitted(a, runId);
    await a.close();
    await b.close();
  });
});
