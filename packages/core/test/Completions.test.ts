import { describe, expect, it } from "vitest";
import { deferred } from "../src/Deferred.ts";
import type { Claim, CompleteItem, ReportResult, Store } from "../src/Store.ts";
import { type CompletionReceiver, completions } from "../src/store/index.ts";

const claim = (nodeId: number): Claim =>
  ({ runId: "r", nodeId, token: nodeId + 1 }) as unknown as Claim;
const ok = (nodeId: number): ReportResult => ({ ok: true, next: [claim(100 + nodeId)] });
const opts = () => ({ now: 1, workerId: "w", queues: ["default"], leaseMs: 1_000 });

/** A store whose report calls answer only when the test lets them. */
const heldStore = (many: boolean) => {
  const calls: Array<{ kind: string; items: number[]; spans: Array<string | undefined> }> = [];
  const gates: Array<ReturnType<typeof deferred<void>>> = [];
  const wait = async () => {
    const gate = deferred<void>();
    gates.push(gate);
    await gate.promise;
  };
  const store = {
    complete: async (c: Claim, _r: Uint8Array, o: { span?: string }) => {
      calls.push({ kind: "complete", items: [c.nodeId], spans: [o.span] });
      await wait();
      return ok(c.nodeId);
    },
    ...(many
      ? {
          completeMany: async (items: ReadonlyArray<CompleteItem>) => {
            calls.push({
              kind: "many",
              items: items.map((i) => i.claim.nodeId),
              spans: items.map((i) => i.span),
            });
            await wait();
            if (items.some((i) => i.claim.nodeId === 13)) throw new Error("connection lost");
            return items.map((i) => ok(i.claim.nodeId));
          },
        }
      : {}),
  } as unknown as Store;
  return { store, calls, gates };
};

const bytes = new Uint8Array([0]);
/** Lets every pending promise callback run (the fake store answers through promises only). */
const drainMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Lets the pending `process.nextTick` callbacks and promise callbacks run. */
const endOfTurn = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe("completions", () => {
  it("sends the completions of one turn in one completeMany, at most maxInFlight calls at once; those that finish meanwhile go together; each caller gets its own report", async () => {
    const { store, calls, gates } = heldStore(true);
    const complete = completions(store, opts, { maxInFlight: 2 });
    const first = complete(claim(0), bytes, 1, "aaaaaaaaaaaaaaaa");
    const second = complete(claim(1), bytes, 1);
    // nothing leaves before the end of the turn
    expect(calls).toEqual([]);
    expect(complete.waiting()).toBe(2);
    await endOfTurn();
    expect(complete.waiting()).toBe(0);
    expect(calls).toEqual([
      { kind: "many", items: [0, 1], spans: ["aaaaaaaaaaaaaaaa", undefined] },
    ]);
    const third = complete(claim(2), bytes, 0);
    await endOfTurn();
    expect(calls[1]).toEqual({ kind: "complete", items: [2], spans: [undefined] });
    // two calls are out: these wait
    const waiting = [3, 4, 5].map((n) => complete(claim(n), bytes, 0, n === 4 ? "s4" : undefined));
    await drainMicrotasks();
    expect(calls).toHaveLength(2);
    expect(complete.waiting()).toBe(3);
    gates[0]!.resolve();
    expect(await Promise.all([first, second])).toEqual([ok(0), ok(1)]);
    await drainMicrotasks();
    // a call answered: the three that waited leave together
    expect(calls[2]).toEqual({
      kind: "many",
      items: [3, 4, 5],
      spans: [undefined, "s4", undefined],
    });
    gates[1]!.resolve();
    gates[2]!.resolve();
    expect(await third).toEqual(ok(2));
    expect(await Promise.all(waiting)).toEqual([ok(3), ok(4), ok(5)]);
  });

  it("sends more than maxBatch completions of one turn in several calls at once, in the order they finished, those beyond maxInFlight calls when one answers", async () => {
    const { store, calls, gates } = heldStore(true);
    const complete = completions(store, opts, { maxInFlight: 2, maxBatch: 3 });
    const all = [0, 1, 2, 3, 4, 5, 6, 20].map((n) => complete(claim(n), bytes, 1));
    await endOfTurn();
    // two calls of three at once; the first's reports arrive while the second is still out
    expect(calls.map((c) => c.items)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(complete.waiting()).toBe(2);
    gates[0]!.resolve();
    expect(await Promise.all(all.slice(0, 3))).toEqual([ok(0), ok(1), ok(2)]);
    await drainMicrotasks();
    expect(calls.map((c) => c.items)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 20],
    ]);
    expect(complete.waiting()).toBe(0);
    gates[1]!.resolve();
    gates[2]!.resolve();
    expect(await Promise.all(all.slice(3))).toEqual([3, 4, 5, 6, 20].map(ok));
  });

  it("calls onSend once per turn that sent, after the store was called", async () => {
    const { store, calls, gates } = heldStore(true);
    const seen: number[] = [];
    const complete = completions(store, opts, {
      maxInFlight: 1,
      onSend: () => seen.push(calls.length),
    });
    const a = complete(claim(0), bytes, 0);
    const b = complete(claim(1), bytes, 0);
    await endOfTurn();
    expect(seen).toEqual([1]);
    // the one call allowed is out: nothing is sent, onSend is not called
    const c = complete(claim(2), bytes, 0);
    await drainMicrotasks();
    expect(seen).toEqual([1]);
    gates[0]!.resolve();
    await Promise.all([a, b]);
    await drainMicrotasks();
    expect(seen).toEqual([1, 2]);
    gates[1]!.resolve();
    expect(await c).toEqual(ok(2));
  });

  it("rejects every item of a call that fails, and goes on with the next ones", async () => {
    const { store, calls, gates } = heldStore(true);
    const complete = completions(store, opts, { maxInFlight: 1 });
    const a = complete(claim(10), bytes, 0);
    await endOfTurn();
    const b = complete(claim(12), bytes, 0);
    const c = complete(claim(13), bytes, 0);
    gates[0]!.resolve();
    await a;
    await drainMicrotasks();
    gates[1]!.resolve();
    await expect(b).rejects.toThrow("connection lost");
    await expect(c).rejects.toThrow("connection lost");
    await drainMicrotasks();
    const d = complete(claim(14), bytes, 0);
    await drainMicrotasks();
    gates[2]!.resolve();
    expect(await d).toEqual(ok(14));
    expect(calls.map((x) => x.items)).toEqual([[10], [12, 13], [14]]);
  });

  it("calls complete once per item on a store without completeMany", async () => {
    const { store, calls, gates } = heldStore(false);
    const complete = completions(store, opts, { maxInFlight: 1 });
    const all = [0, 1, 2].map((n) => complete(claim(n), bytes, 0));
    await drainMicrotasks();
    expect(calls.map((x) => x.kind)).toEqual(["complete", "complete", "complete"]);
    for (const g of gates) g.resolve();
    expect(await Promise.all(all)).toEqual([ok(0), ok(1), ok(2)]);
  });

  it("tells each receiver of complete.to its own report, or the error of its call, sent with the promised ones", async () => {
    const { store, calls, gates } = heldStore(true);
    const complete = completions(store, opts, { maxInFlight: 1 });
    const told: string[] = [];
    const receiver = (n: number): CompletionReceiver => ({
      reported: (r) => told.push(`${n} reported ${r.ok && r.next[0]?.nodeId}`),
      failed: (e) => told.push(`${n} failed: ${(e as Error).message}`),
    });
    complete.to(claim(0), bytes, 1, "aaaaaaaaaaaaaaaa", receiver(0));
    const promised = complete(claim(1), bytes, 1);
    complete.to(claim(2), bytes, 1, undefined, receiver(2));
    expect(complete.waiting()).toBe(3);
    await endOfTurn();
    expect(calls).toEqual([
      { kind: "many", items: [0, 1, 2], spans: ["aaaaaaaaaaaaaaaa", undefined, undefined] },
    ]);
    complete.to(claim(13), bytes, 0, undefined, receiver(13));
    complete.to(claim(3), bytes, 0, undefined, receiver(3));
    expect(told).toEqual([]);
    gates[0]!.resolve();
    expect(await promised).toEqual(ok(1));
    expect(told).toEqual(["0 reported 100", "2 reported 102"]);
    await drainMicrotasks();
    gates[1]!.resolve();
    await drainMicrotasks();
    expect(told.slice(2)).toEqual(["13 failed: connection lost", "3 failed: connection lost"]);
  });
});
