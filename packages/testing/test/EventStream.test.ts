/**
 * `client.events()` and `run.watch()` through reads that fail (docs/events.md,
 * "When the connection is lost"): a read the store could not serve for a
 * while is made again from the same cursor; one that cannot pass (a closed
 * store) ends the iteration at once.
 */
import { createClient, group, Schema, StoreUnavailable, task, type WeftEvent } from "@weft/core";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

const job = task({ name: "job", input: Schema.Int, output: Schema.Int });

/** Makes the store's next `n` reads of events fail with StoreUnavailable of `failure`. */
const failReads = (store: MemoryStore, n: number, failure: "unreachable" | "closed") => {
  const real = store.readEvents.bind(store);
  const state = { left: n, failed: 0 };
  store.readEvents = async (opts) => {
    if (state.left <= 0) return real(opts);
    state.left -= 1;
    state.failed += 1;
    throw new StoreUnavailable({ url: "memory", reason: "connection lost", failure });
  };
  return state;
};

describe("events through a lost connection", () => {
  it("client.events() reads again from the same cursor after reads that failed: every event once, in order", async () => {
    const store = new MemoryStore();
    const client = createClient(store);
    const run = await client.submit(group(job.si(1), job.si(2)));
    const expected = (await store.readEvents({})).events.map((e) => e.id);
    expect(expected.length).toBeGreaterThan(1);
    const failing = failReads(store, 3, "unreachable");
    const seen: WeftEvent[] = [];
    const ac = new AbortController();
    for await (const e of client.events({ signal: ac.signal, blockMs: 0 })) {
      seen.push(e);
      if (seen.length === expected.length) ac.abort();
    }
    expect(failing.failed).toBe(3);
    expect(seen.map((e) => e.id)).toEqual(expected);
    expect(seen.every((e) => e.runId === run.runId)).toBe(true);
  });

  it("run.watch() goes on after reads that failed, to the run's end", async () => {
    const store = new MemoryStore();
    const client = createClient(store);
    const run = await client.submit(job.si(1));
    const [c] = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 1,
      leaseMs: 1_000,
      now: Date.now(),
    });
    await store.complete(c!, new Uint8Array([1]), {
      now: Date.now(),
      workerId: "w",
      queues: ["default"],
      leaseMs: 1_000,
      nextMax: 0,
    });
    const failing = failReads(store, 2, "unreachable");
    const kinds: string[] = [];
    for await (const e of run.watch()) kinds.push(e.kind);
    expect(failing.failed).toBe(2);
    expect(kinds.at(-1)).toBe("run-ended");
  });

  it("ends at once, with the store's error, when the store is closed", async () => {
    const store = new MemoryStore();
    const client = createClient(store);
    await client.submit(job.si(1));
    const failing = failReads(store, 1, "closed");
    const err = await (async () => {
      for await (const _ of client.events({ blockMs: 0 })) {
        // (no event is read: the first read fails)
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as StoreUnavailable).failure).toBe("closed");
    expect(failing.failed).toBe(1);
  });
});
