/**
 * Forms a node's input from its bound input and its dependencies' outcomes,
 * following the node's argument rule (see `Canvas`), and forms a run's
 * output from its nodes' results the same way.
 */
import type { Bind } from "./Canvas.ts";
import type { Shape } from "./Dag.ts";
import { type ErrorInfo, MissingResult, type Settled } from "./Errors.ts";

/**
 * The value a shape denotes. A settled item is `{ ok: true, value }` when
 * every node under it succeeded, else `{ ok: false, error }` with the first
 * failure in declaration order.
 *
 * @throws MissingResult when a node under a plain (not settled) position did not succeed.
 */
export const shapeValue = (shape: Shape, outcome: (id: number) => Settled<unknown>): unknown => {
  if (typeof shape === "number") {
    const o = outcome(shape);
    if (!o.ok) throw new MissingResult({ nodeId: shape, error: o.error });
    return o.value;
  }
  if ("list" in shape) return shape.list.map((s) => shapeValue(s, outcome));
  return shape.settled.map((item) => {
    const failed = firstFailure(item, outcome);
    return failed
      ? {
          ok: false,
          error: {
            tag: failed.tag,
            message: failed.message,
            ...(failed.data === undefined ? {} : { data: failed.data }),
          },
        }
      : { ok: true, value: shapeValue(item, outcome) };
  });
};

const firstFailure = (
  shape: Shape,
  outcome: (id: number) => Settled<unknown>,
): ErrorInfo | undefined => {
  if (typeof shape === "number") {
    const o = outcome(shape);
    return o.ok ? undefined : o.error;
  }
  if ("list" in shape) {
    for (const s of shape.list) {
      const f = firstFailure(s, outcome);
      if (f) return f;
    }
    return undefined;
  }
  return undefined; // a nested settled group never fails its parent item
};

/** Combines a node's bound input with its upstream value (`undefined` when it has none). */
export const inputOf = (bind: Bind, bound: unknown, upstream: unknown): unknown => {
  switch (bind.kind) {
    case "immutable":
      return bound;
    case "whole":
      return upstream;
    case "field":
      return { ...(bound as Record<string, unknown>), [bind.field]: upstream };
  }
};
