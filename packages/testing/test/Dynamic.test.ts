/**
 * `replace` under the deterministic simulator (memory store wrapped in the
 * FaultyStore: crashes, lost and late reports, duplicate deliveries, handler
 * faults): a replaced node's dependents receive exactly its replacement's
 * output (docs/concepts.md, "Dynamic canvases"), after the replacement's
 * first step ended, and the replacement is recorded once.
 */
import { test } from "@fast-check/vitest";
import { chain, handle, replace, Schema, task } from "@weft/core";
import { type CanvasNode, shapeValue } from "@weft/core/store";
import fc from "fast-check";
import { describe, expect, expectTypeOf, it } from "vitest";
import { arbCanvas, arbFaultPlan, simulate } from "../src/index.ts";
import { propertyRuns, propertyTimeoutMs } from "../src/internal/properties.ts";

const runs = propertyRuns(30);
/** The kinds of the event a node ends with. */
const ENDS: ReadonlyArray<string> = ["succeeded", "failed", "skipped", "cancelled", "expired"];
const timeout = propertyTimeoutMs(runs, 250);

const echo = task({
  name: "echo",
  input: Schema.Unknown,
  output: Schema.Int,
  timeoutMs: 3_000,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 10 } },
});
const rep = task({
  name: "rep",
  input: Schema.Unknown,
  output: Schema.Unknown,
  timeoutMs: 3_000,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 10 } },
});
const sink = task({
  name: "sink",
  input: Schema.Unknown,
  output: Schema.Unknown,
  timeoutMs: 3_000,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 10 } },
});

const leaf = (queue: string): CanvasNode => ({
  kind: "sig",
  task: echo,
  bind: { kind: "whole" },
  bound: undefined,
  options: { queue },
});
const root: CanvasNode = {
  kind: "sig",
  task: echo,
  bind: { kind: "immutable" },
  bound: null,
  options: {},
};

const arbCase = fc.record({
  replacement: arbCanvas({ queues: ["default", "io"], leaf, links: false }),
  plan: arbFaultPlan(),
  seed: fc.integer(),
  workers: fc.integer({ min: 1, max: 3 }),
});

describe("replace under simulation", () => {
  test.prop([arbCase], { numRuns: runs })(
    "a replaced node's dependents receive exactly its replacement's output, recorded once, under crashes and re-sent reports",
    async (c) => {
      const replacement = { node: { kind: "chain", steps: [root, c.replacement.node] } } as const;
      const handlers = [
        handle(echo, async (_input, ctx) => ctx.nodeId),
        handle(rep, async () => replace(replacement as never)),
        handle(sink, async (x) => x),
      ];
      const r = await simulate({
        canvas: chain(rep.si(null), sink.s()),
        handlers,
        seed: c.seed,
        faults: c.plan,
        workers: c.workers,
        queues: ["default", "io"],
      });
      expect(r.ended).toBe(true);
      expect(r.store.violations).toEqual([]);
      expect(r.snapshot.run.ended).toBe(r.snapshot.run.total);
      const replaced = r.snapshot.nodes[0]!;
      const accepted = r.store.reports.filter((x) => x.kind === "replace" && x.accepted);
      expect(accepted.length).toBeLessThanOrEqual(1);
      if (r.snapshot.run.status !== "succeeded") return;
      expect(accepted).toHaveLength(1);
      // every node the replacement added is marked with node 0, appended after the plan
      const added = r.snapshot.nodes.filter((n) => n.spec.addedBy !== undefined);
      expect(added.map((n) => n.id)).toEqual(added.map((_, i) => i + 2));
      expect(added.every((n) => n.spec.addedBy === 0)).toBe(true);
      // the output waits on the replacement's first step (node 2), also where it is an empty
      // group after it: node 0 gathers it only after node 2 ended
      const { events } = await r.store.readEvents({ runId: r.snapshot.run.id, count: 100_000 });
      const ended = (id: number) =>
        events.findIndex((e) => "nodeId" in e && e.nodeId === id && ENDS.includes(e.kind));
      expect(ended(2)).toBeGreaterThanOrEqual(0);
      expect(ended(2)).toBeLessThan(ended(0));
      // each echo returns its node id: the replacement's output is its shape over those ids
      // (a member of a settled group that failed: its error)
      const expected = shapeValue(replaced.spec.replacedBy!, (id) => {
        const n = r.snapshot.nodes[id]!;
        return n.state === "succeeded"
          ? { ok: true, value: id }
          : { ok: false, error: n.error ?? { tag: "?", message: n.state, retryable: false } };
      });
      expect(r.output).toEqual({ ok: true, value: expected });
    },
    timeout,
  );
});

describe("replace's types", () => {
  it("type-checks the replacement's output against the task's output", () => {
    const num = task({ name: "num", input: Schema.Int, output: Schema.Int });
    const str = task({ name: "str", input: Schema.Int, output: Schema.String });
    handle(num, async (n) => replace(chain(num.si(n), num.s())));
    // @ts-expect-error a canvas producing a string cannot replace a task producing a number
    handle(num, async (n) => replace(str.si(n)));
    // @ts-expect-error a replacement canvas takes no upstream value
    replace(num.s());
    expectTypeOf(replace(str.si(1))).toExtend<{ readonly _tag: "Replacement" }>();
  });
});
