/**
 * fast-check arbitraries: random canvases (nested chains, groups, settled
 * groups and chords) and random fault plans for the store driver.
 *
 * @since 0.1.0
 */
import { type Canvas, type CanvasNode, Schema, task } from "@weft/core";
import fc from "fast-check";
import type { Outcome, Plan } from "./Drive.ts";

/** A task that accepts and returns anything; the driver never runs handlers. */
export const anyTask = task({ name: "any", input: Schema.Unknown, output: Schema.Unknown });

const leaf = (queue: string): CanvasNode => ({
  kind: "sig",
  task: anyTask,
  bind: { kind: "immutable" },
  bound: null,
  options: { queue },
});

/**
 * Random canvases of at most about `maxNodes` nodes over the queues given,
 * nested up to depth 4.
 */
export const arbCanvas = (
  opts: { readonly queues?: ReadonlyArray<string>; readonly maxWidth?: number } = {},
): fc.Arbitrary<Canvas<unknown, unknown>> => {
  const queues = opts.queues ?? ["default"];
  const width = opts.maxWidth ?? 4;
  const tree = fc.letrec<{ node: CanvasNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(...queues).map(leaf),
      fc
        .array(tie("node"), { minLength: 1, maxLength: width })
        .map((steps): CanvasNode => ({ kind: "chain", steps })),
      fc
        .tuple(fc.array(tie("node"), { minLength: 1, maxLength: width }), fc.boolean())
        .map(([members, settled]): CanvasNode => ({ kind: "group", members, settled })),
      fc
        .tuple(fc.array(tie("node"), { minLength: 1, maxLength: width }), fc.boolean(), tie("node"))
        .map(
          ([members, settled, body]): CanvasNode => ({
            kind: "chord",
            header: { kind: "group", members, settled },
            body,
          }),
        ),
    ),
  }));
  return tree.node.map((node) => ({ node }));
};

/** Random plans for `nodes` nodes: mostly successes, some retries, failures and crashes. */
export const arbPlan = (nodes = 64): fc.Arbitrary<Plan> =>
  fc.record({
    outcomes: fc.array(
      fc.array(fc.constantFrom<Outcome>("ok", "ok", "ok", "ok", "ok", "retry", "crash", "fail"), {
        maxLength: 3,
      }),
      { minLength: nodes, maxLength: nodes },
    ),
    batch: fc.integer({ min: 1, max: 8 }),
    reverse: fc.boolean(),
    chainNext: fc.boolean(),
  });
