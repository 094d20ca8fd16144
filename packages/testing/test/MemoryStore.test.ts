import { group, Schema, task } from "@weft/core";
import { compile } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { storeConformance } from "../src/Conformance.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

storeConformance("memory", async () => new MemoryStore(), {
  tamper: async (store, runId, nodeId) => (store as MemoryStore).corruptNodeRecord(runId, nodeId),
});

describe("memory: the events it keeps", () => {
  it("keeps about eventsMaxLen events: older ones are dropped and reading goes on from the oldest kept", async () => {
    const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
    const store = new MemoryStore({ eventsMaxLen: 100 });
    await store.submit({
      runId: "wide",
      dag: compile(group(...Array.from({ length: 1_000 }, (_, i) => count.si(i)))),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const all = await store.readEvents({ count: 10_000 });
    expect(all.events.length).toBeGreaterThanOrEqual(100);
    expect(all.events.length).toBeLessThanOrEqual(110);
    const nodes = all.events.map((e) => (e.kind === "queued" ? e.nodeId : -1));
    expect(nodes.at(-1)).toBe(999);
    expect(nodes[0]).toBe(1_000 - all.events.length);
    // a cursor older than what is kept reads on from the oldest kept
    expect((await store.readEvents({ after: "1", count: 1 })).events[0]).toEqual(all.events[0]);
  });
});
