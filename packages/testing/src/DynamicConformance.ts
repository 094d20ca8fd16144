/**
 * Conformance of dynamic canvases (docs/concepts.md, "Dynamic canvases"):
 * a handler that returns `replace(canvas)` (Celery's `Task.replace`) has its
 * node's output become that canvas's, with the new nodes appended to the
 * persisted run, marked with the node that added them, and announced by an
 * `added` event. Run by `storeConformance` against every store.
 */
import {
  type BoundHandler,
  chain,
  chord,
  group,
  handle,
  map,
  NonRetryableError,
  RunFailed,
  replace,
  Schema,
  type Store,
  task,
} from "@weft/core";
import { compile, decode, encode } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { completeOpts, lease, submission, workersPerTest } from "./internal/conformanceSetup.ts";

const add = task({
  name: "dyn.add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const inc = task({ name: "dyn.inc", input: Schema.Int, output: Schema.Int });
const sum = task({ name: "dyn.sum", input: Schema.Array(Schema.Int), output: Schema.Int });
/** Replaces itself with a chain that adds `n` to 100, then increments it. */
const viaChain = task({ name: "dyn.viaChain", input: Schema.Int, output: Schema.Int });
/** Replaces itself with a group of `n` nodes: [0, 1, ..., n - 1] each incremented. */
const fan = task({ name: "dyn.fan", input: Schema.Int, output: Schema.Array(Schema.Int) });
/** Replaces itself with `viaChain` of n + 1 (a replacement that replaces itself again), n < 3; else n. */
const nested = task({ name: "dyn.nested", input: Schema.Int, output: Schema.Int });
/** Replaces itself with a chain whose first step fails. */
const broken = task({ name: "dyn.broken", input: Schema.Int, output: Schema.Int });
/** Flattens a list of lists (a chord body over replaced header members). */
const flat = task({
  name: "dyn.flat",
  input: Schema.Array(Schema.Array(Schema.Int)),
  output: Schema.Array(Schema.Int),
});
/** The list [0, 1, ..., n - 1]. */
const range = task({ name: "dyn.range", input: Schema.Int, output: Schema.Array(Schema.Int) });
/** A list that is not the mapped task's input. */
const words = task({ name: "dyn.words", input: Schema.Int, output: Schema.Array(Schema.String) });
/** A chord header member that adds `inc.si(n * 10)` to its chord, then a group of two when n > 1; outputs n. */
const grow = task({ name: "dyn.grow", input: Schema.Int, output: Schema.Int });
/** Hands back its input. */
const collect = task({ name: "dyn.collect", input: Schema.Unknown, output: Schema.Unknown });
/** Replaces itself with the settled group `[boom(n), inc(n)]`. */
const settledFan = task({ name: "dyn.settledFan", input: Schema.Int, output: Schema.Unknown });
/** Replaces itself with a chord whose settled header is `[boom(n), inc(n)]`, its body `collect`. */
const settledChord = task({ name: "dyn.settledChord", input: Schema.Int, output: Schema.Unknown });
/** Replaces itself with the settled group `[boom(n), inc(n)]`, an empty group, then `collect` (it gets `[]`). */
const settledThenEmpty = task({
  name: "dyn.settledThenEmpty",
  input: Schema.Int,
  output: Schema.Unknown,
});
/** Replaces itself with `boom(n)`, then an empty group (its output would be `[]`). */
const boomThenEmpty = task({
  name: "dyn.boomThenEmpty",
  input: Schema.Int,
  output: Schema.Unknown,
});
/** Replaces itself with `inc(n)`, then an empty group: its output is `[]` once `inc` succeeded. */
const incThenEmpty = task({ name: "dyn.incThenEmpty", input: Schema.Int, output: Schema.Unknown });
/** Replaces itself with a chain `inc(n)`, then the settled group `[boom, inc]` over its output. */
const settledTail = task({ name: "dyn.settledTail", input: Schema.Int, output: Schema.Unknown });
const boom = task({
  name: "dyn.boom",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 1 },
});

const handlers: ReadonlyArray<BoundHandler> = [
  handle(add, ({ a, b }) => a + b),
  handle(inc, (n) => n + 1),
  handle(sum, (xs) => xs.reduce((x, y) => x + y, 0)),
  handle(viaChain, (n) => replace(chain(add.si({ a: 100, b: n }), inc.s()))),
  handle(fan, (n) => replace(group(...Array.from({ length: n }, (_, i) => inc.si(i))))),
  handle(nested, (n) => (n < 3 ? replace(nested.si(n + 1)) : n)),
  handle(broken, (n) => replace(chain(boom.si(n), inc.s()))),
  handle(settledFan, (n) => replace(group(boom.si(n), inc.si(n)).settled())),
  handle(settledChord, (n) => replace(chord(group(boom.si(n), inc.si(n)).settled(), collect.s()))),
  handle(settledTail, (n) => replace(chain(inc.si(n), group(boom.s(), inc.s()).settled()))),
  handle(settledThenEmpty, (n) =>
    replace(chain(group(boom.si(n), inc.si(n)).settled(), group(), collect.s())),
  ),
  handle(boomThenEmpty, (n) => replace(chain(boom.si(n), group()))),
  handle(incThenEmpty, (n) => replace(chain(inc.si(n), group()))),
  handle(flat, (xss) => xss.flat()),
  handle(grow, async (n, ctx) => {
    await ctx.addToChord(inc.si(n * 10));
    if (n > 1) await ctx.addToChord(group(inc.si(n), add.si({ a: n, b: n })));
    return n;
  }),
  handle(collect, (x) => x),
  handle(range, (n) => Array.from({ length: n }, (_, i) => i)),
  handle(words, (n) => Array.from({ length: n }, (_, i) => `w${i}`)),
  handle(boom, (n) => {
    throw new NonRetryableError(`boom ${n}`);
  }),
];

export const dynamicConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: dynamic canvases (replace)`, () => {
    const withWorker = workersPerTest(handlers, { leaseMs: 5_000 });

    it("a replaced node's output is its replacement's; its dependents wait for it; the new nodes are marked and announced", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(viaChain.si(5), inc.s()));
      // 100 + 5, + 1 by the replacement's chain, + 1 by the declared dependent
      expect(await run.result({ timeout: 20_000 })).toBe(107);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.run).toMatchObject({ status: "succeeded", total: 4, ended: 4 });
      expect(snap.nodes.map((n) => [n.spec.task, n.state, n.spec.addedBy])).toEqual([
        ["dyn.viaChain", "succeeded", undefined],
        ["dyn.inc", "succeeded", undefined],
        ["dyn.add", "succeeded", 0],
        ["dyn.inc", "succeeded", 0],
      ]);
      // the declared plan stays: node 0 had no dependencies; it waited on the replacement's output
      expect(snap.nodes[0]!.spec).toMatchObject({ deps: [], replacedBy: 3 });
      expect(snap.nodes[3]!.spec.deps).toEqual([2]);
      const { events } = await store.readEvents({ runId: run.runId, count: 1000 });
      const added = events.filter((e) => e.kind === "added");
      expect(added).toMatchObject([{ kind: "added", nodeIds: [2, 3] }]);
      // announced before any added node was queued
      const at = events.indexOf(added[0]!);
      expect(
        events.findIndex((e) => e.kind === "queued" && "nodeId" in e && e.nodeId === 2),
      ).toBeGreaterThan(at);
    });

    it("a replacement group hands its list, in order, to a chord body; a replaced header member keeps its place", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(
        group(fan.si(2), chord([fan.si(3), fan.si(2)], flat.s()), chain(fan.si(3), sum.s())),
      );
      expect(await run.result({ timeout: 20_000 })).toEqual([[1, 2], [1, 2, 3, 1, 2], 6]);
    });

    it("a wide replacement (written in several chunks where the store writes in chunks) runs whole", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(group(chain(fan.si(10), sum.s()), chain(fan.si(9), sum.s())));
      expect(await run.result({ timeout: 20_000 })).toEqual([55, 45]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.run.total).toBe(4 + 19);
      expect(snap.nodes.filter((n) => n.spec.addedBy !== undefined)).toHaveLength(19);
    });

    it("an empty replacement group gives []", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(fan.si(0), sum.s()));
      expect(await run.result({ timeout: 20_000 })).toBe(0);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.run.total).toBe(2);
      expect(snap.nodes[0]!.spec.replacedBy).toEqual({ list: [] });
    });

    it("a replacement whose output is an empty group after a step gives [] once that step succeeded", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(incThenEmpty.si(1), collect.s()));
      expect(await run.result({ timeout: 20_000 })).toEqual([]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.incThenEmpty", "succeeded"],
        ["dyn.collect", "succeeded"],
        ["dyn.inc", "succeeded"],
      ]);
      expect(snap.nodes[0]!.spec.replacedBy).toEqual({ list: [], after: { list: [2] } });
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 3, total: 3 });
    });

    it("a replacement whose output is an empty group after a failing step: the replaced node and its dependents are skipped", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(boomThenEmpty.si(2), collect.s()));
      const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunFailed);
      expect((err as RunFailed).error?.message).toBe("boom 2");
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.boomThenEmpty", "skipped"],
        ["dyn.collect", "skipped"],
        ["dyn.boom", "failed"],
      ]);
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 2, ended: 3, total: 3 });
    });

    it("a replaced node whose replacement ends in an empty group waits on the steps before it (plain and settled edges)", async () => {
      const store = await fresh();
      const states = async (runId: string) =>
        (await store.getRun(runId))!.nodes.map((n) => n.state);

      // nodes: 0 (replaced by 2 then []), 1 (takes node 0's output)
      const { runId } = await store.submit(submission("rp-empty", chain(inc.si(1), collect.s())));
      const [a] = await store.claim(lease(1));
      expect(a!.nodeId).toBe(0);
      const replacement = compile(chain(inc.si(2), group()));
      expect((await store.replace(a!, replacement, completeOpts(2))).ok).toBe(true);
      expect(await states(runId)).toEqual(["waiting", "waiting", "queued"]);
      const step = await store.claim(lease(3));
      expect(step.map((c) => c.nodeId)).toEqual([2]);
      expect((await store.complete(step[0]!, encode(7), completeOpts(4))).ok).toBe(true);
      // node 0 gathers its output once node 2 succeeded: its deps carry node 2's result
      const [gather] = await store.claim(lease(5));
      expect(gather).toMatchObject({ nodeId: 0, deps: [{ ok: true, value: encode(7) }] });
      expect((await store.complete(gather!, encode([]), completeOpts(6))).ok).toBe(true);
      const [next] = await store.claim(lease(7));
      expect(next).toMatchObject({ nodeId: 1, deps: [{ ok: true, value: encode([]) }] });

      // a settled group before the empty group: a failed member does not skip node 0
      const settled = await store.submit(
        submission("rp-empty-settled", chain(inc.si(1), collect.s())),
      );
      const [b] = await store.claim(lease(8));
      expect(b!.runId).toBe(settled.runId);
      const settledThen = compile(chain(group(boom.si(1), inc.si(2)).settled(), group()));
      expect((await store.replace(b!, settledThen, completeOpts(9))).ok).toBe(true);
      expect(await states(settled.runId)).toEqual(["waiting", "waiting", "queued", "queued"]);
      const members = await store.claim(lease(10));
      expect(members.map((c) => c.nodeId)).toEqual([2, 3]);
      const planned = { tag: "Boom", message: "planned", retryable: false };
      expect((await store.fail(members[0]!, planned, { now: 11, retryAt: null })).ok).toBe(true);
      expect(await states(settled.runId)).toEqual(["waiting", "waiting", "failed", "running"]);
      expect((await store.complete(members[1]!, encode(1), completeOpts(12))).ok).toBe(true);
      const [gather2] = await store.claim(lease(13));
      expect(gather2).toMatchObject({ nodeId: 0 });
      expect(gather2!.deps.map((d) => d.ok)).toEqual([false, true]);
    });

    it("a replacement may replace itself again: each node added is marked with the node that made it", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(nested.si(0), inc.s()));
      expect(await run.result({ timeout: 20_000 })).toBe(4);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => n.spec.addedBy)).toEqual([undefined, undefined, 0, 2, 3]);
      expect(snap.nodes.every((n) => n.state === "succeeded")).toBe(true);
    });

    it("a failing replacement fails the run: the replaced node and its dependents are skipped", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(broken.si(9), inc.s()));
      const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunFailed);
      expect((err as RunFailed).error?.message).toBe("boom 9");
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => n.state)).toEqual(["skipped", "skipped", "failed", "skipped"]);
      expect(snap.run).toMatchObject({ status: "failed", failedNode: 2, ended: 4, total: 4 });
    });

    /** `boom n`'s entry in a settled list. */
    const boomed = (n: number) => ({
      ok: false,
      error: { tag: "NonRetryableError", message: `boom ${n}` },
    });

    it("a replacement that is a settled group with a failed member: the replaced node succeeds with the settled list", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(settledFan.si(4), collect.s()));
      expect(await run.result({ timeout: 20_000 })).toEqual([boomed(4), { ok: true, value: 5 }]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.settledFan", "succeeded"],
        ["dyn.collect", "succeeded"],
        ["dyn.boom", "failed"],
        ["dyn.inc", "succeeded"],
      ]);
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 4, total: 4 });
      expect(snap.run.error).toBeUndefined();
      expect(decode((await store.getResult(run.runId, 0))!)).toEqual([
        boomed(4),
        { ok: true, value: 5 },
      ]);
    });

    it("a replacement whose settled group with a failed member is followed by an empty group: what follows runs, the replaced node succeeds", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(settledThenEmpty.si(3), collect.s()));
      expect(await run.result({ timeout: 20_000 })).toEqual([]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.settledThenEmpty", "succeeded"],
        ["dyn.collect", "succeeded"],
        ["dyn.boom", "failed"],
        ["dyn.inc", "succeeded"],
        ["dyn.collect", "succeeded"],
      ]);
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 5, total: 5 });
    });

    it("a replacement that is a chord over a settled header with a failed member: the body's output is the replaced node's", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(settledChord.si(6), collect.s()));
      expect(await run.result({ timeout: 20_000 })).toEqual([boomed(6), { ok: true, value: 7 }]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.settledChord", "succeeded"],
        ["dyn.collect", "succeeded"],
        ["dyn.boom", "failed"],
        ["dyn.inc", "succeeded"],
        ["dyn.collect", "succeeded"],
      ]);
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 5, total: 5 });
    });

    it("a replacement that is a chain ending in a settled group with a failed member: the replaced node succeeds with its list", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(settledTail.si(1), collect.s()));
      // inc(1) = 2, then boom(2) fails and inc(2) = 3
      expect(await run.result({ timeout: 20_000 })).toEqual([boomed(2), { ok: true, value: 3 }]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.nodes.map((n) => [n.spec.task, n.state])).toEqual([
        ["dyn.settledTail", "succeeded"],
        ["dyn.collect", "succeeded"],
        ["dyn.inc", "succeeded"],
        ["dyn.boom", "failed"],
        ["dyn.inc", "succeeded"],
      ]);
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 5, total: 5 });
    });
  });

  describe(`${name}: adding to a running chord (ctx.addToChord)`, () => {
    const withWorker = workersPerTest(handlers);

    it("the body waits for the added members and receives their outputs after the declared members'", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chord([inc.si(0), grow.si(2)], collect.s()));
      // declared: inc(0) = 1, grow(2) = 2; added by node 1: inc(20), then group [inc(2), 2 + 2]
      expect(await run.result({ timeout: 20_000 })).toEqual([1, 2, 21, [3, 4]]);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.run).toMatchObject({ status: "succeeded", total: 6, ended: 6 });
      expect(snap.nodes.slice(3).map((n) => [n.spec.task, n.spec.addedBy])).toEqual([
        ["dyn.inc", 1],
        ["dyn.inc", 1],
        ["dyn.add", 1],
      ]);
      expect(snap.nodes[2]!.spec.deps).toEqual([0, 1, 3, 4, 5]);
      const { events } = await store.readEvents({ runId: run.runId, count: 1000 });
      expect(events.filter((e) => e.kind === "added")).toMatchObject([
        { nodeIds: [3] },
        { nodeIds: [4, 5] },
      ]);
    });

    it("a node outside any chord header cannot add to one: its attempt fails with InvalidCanvas", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(grow.si(1), inc.s()));
      const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunFailed);
      expect((err as RunFailed).error?.tag).toBe("InvalidCanvas");
      expect((await store.getRun(run.runId))!.run.total).toBe(2);
    });
  });

  describe(`${name}: map over a list known at run time`, () => {
    const withWorker = workersPerTest(handlers);

    it("runs one node per element, in parallel, outputs in the list's order", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(chain(range.si(6), map(inc), sum.s()));
      expect(await run.result({ timeout: 20_000 })).toBe(21);
      const snap = (await store.getRun(run.runId))!;
      // range, the map node, sum, then one inc node per element, each added by the map node
      expect(snap.nodes.map((n) => [n.spec.task, n.spec.addedBy])).toEqual([
        ["dyn.range", undefined],
        ["weft.map", undefined],
        ["dyn.sum", undefined],
        ...Array.from({ length: 6 }, () => ["dyn.inc", 1]),
      ]);
      expect(snap.nodes.slice(3).map((n) => n.spec.bound)).toEqual([0, 1, 2, 3, 4, 5]);
      const other = await client.submit(map(inc, range.si(3)));
      expect(await other.result({ timeout: 20_000 })).toEqual([1, 2, 3]);
    });

    it("an empty list gives []", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      const run = await client.submit(map(inc, range.si(0)));
      expect(await run.result({ timeout: 20_000 })).toEqual([]);
    });

    it("an element that is not the task's input fails its node with InvalidInput", async () => {
      const store = await fresh();
      const client = await withWorker(store);
      // @ts-expect-error map(inc) takes a list of ints
      const run = await client.submit(map(inc, words.si(2)));
      const err = await run.result({ timeout: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunFailed);
      expect((err as RunFailed).error?.tag).toBe("InvalidInput");
    });
  });
};
