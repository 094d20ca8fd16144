/**
 * Replacing a running node with a canvas (Celery's `Task.replace`): a
 * handler returns `replace(canvas)` instead of its output, and the node's
 * output becomes the canvas's output (docs/concepts.md, "Dynamic canvases").
 */
import type { Canvas } from "./Canvas.ts";

declare const ReplacementOut: unique symbol;

/**
 * What a handler returns to replace its node with `canvas`: the canvas's
 * nodes are added to the running DAG (dynamic nodes, marked with the node
 * that made them), the node's dependents wait for them and receive the
 * canvas's output as the node's output. `Out` is the canvas's output, so a
 * handler of a task whose output is `O` may only return a `Replacement<O>`.
 */
export interface Replacement<out Out> {
  readonly _tag: "Replacement";
  readonly canvas: Canvas<unknown, Out>;
  readonly [ReplacementOut]?: () => Out;
}

/**
 * Replaces the running node with `canvas` (Celery's `Task.replace`). The
 * canvas takes no upstream value (build it from `si` signatures, or `s` ones
 * inside it); it is compiled and checked where the handler runs, so a bad
 * canvas (an empty chain, a bad bound input) fails the attempt with
 * `InvalidCanvas` or `InvalidInput`, as a submit would refuse it.
 *
 * @example
 * handle(fetchAll, async ({ pages }) => replace(group(...pages.map((p) => fetchPage.si({ p })))))
 */
export const replace = <Out>(canvas: Canvas<unknown, Out>): Replacement<Out> => ({
  _tag: "Replacement",
  canvas,
});

/** True when a handler returned {@link replace}'s value. */
export const isReplacement = (v: unknown): v is Replacement<unknown> =>
  typeof v === "object" &&
  v !== null &&
  (v as { _tag?: unknown })._tag === "Replacement" &&
  typeof (v as { canvas?: unknown }).canvas === "object";
