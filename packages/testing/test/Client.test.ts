import { chain, createClient, ResultUndecodable, Schema, task } from "@weft/core";
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
