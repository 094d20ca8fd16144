/**
 * `map(task)`: one node of `task` per element of a list known only at run
 * time, in parallel, outputs gathered in order (docs/concepts.md, "Dynamic
 * canvases"). Celery's `task.map(items)` runs the task serially inside one
 * task; Weft's map is a node (of the built-in task `weft.map`, which every
 * worker runs) that, when its upstream list arrives, replaces itself
 * (`replace`) with a group of `task.si(element)`.
 */
import { Schema } from "effect";
import {
  type AnyCanvas,
  type Canvas,
  type CanvasNode,
  chain,
  signature,
  type TaskOptions,
  type TaskRef,
} from "./Canvas.ts";
import { InvalidInput } from "./Errors.ts";
import { type BoundHandler, handle } from "./Handler.ts";
import { replace } from "./Replace.ts";
import { task } from "./Task.ts";

/** The built-in task a `map` node runs: its name. */
export const MAP_TASK_NAME = "weft.map";

/** The built-in task of `map` nodes: it takes the mapped task's name and options, and the list. */
export const mapTask = task({
  name: MAP_TASK_NAME,
  input: Schema.Struct({ task: Schema.String, options: Schema.Unknown, items: Schema.Unknown }),
  output: Schema.Unknown,
  retry: { maxAttempts: 1 },
});

/**
 * One node of `task` per element of the list its upstream produces, run in
 * parallel, their outputs in the list's order; an empty list gives `[]`.
 * `map(task)` is a chain step taking the list from the step before;
 * `map(task, upstream)` is `chain(upstream, map(task))`. The map node runs
 * on the mapped task's queue and priority; each element must be the task's
 * input (checked by its schema when its node runs: a bad element fails that
 * node with `InvalidInput`).
 *
 * @example
 * chain(listUsers.si({ org }), map(sendMail)) // one sendMail node per user, in parallel
 */
export function map<I, O>(task: {
  readonly name: string;
  readonly options: TaskOptions;
  si(input: I): Canvas<unknown, O>;
}): Canvas<ReadonlyArray<I>, O[]>;
export function map<I, O>(
  task: { readonly name: string; readonly options: TaskOptions; si(input: I): Canvas<unknown, O> },
  upstream: Canvas<unknown, ReadonlyArray<I>>,
): Canvas<unknown, O[]>;
export function map(
  task: { readonly name: string; readonly options: TaskOptions },
  upstream?: AnyCanvas,
): AnyCanvas {
  const { queue, priority } = task.options;
  const node = signature(
    mapTask as TaskRef,
    { kind: "field", field: "items" },
    { task: task.name, options: task.options },
    {
      ...(queue === undefined ? {} : { queue }),
      ...(priority === undefined ? {} : { priority }),
    },
  );
  return upstream === undefined ? node : (chain(upstream, node as never) as never);
}

/**
 * The handler of `weft.map` nodes, which every worker has: replaces the node
 * with a group of the mapped task, one `si` node per element.
 *
 * @throws InvalidInput when the upstream value is not a list.
 */
export const mapHandler: BoundHandler = handle(mapTask, ({ task: name, options, items }) => {
  if (!Array.isArray(items))
    throw new InvalidInput({
      task: MAP_TASK_NAME,
      detail: `map(${name}) takes a list from upstream, got ${items === null ? "null" : typeof items}`,
    });
  // the elements are already in their encoded form (the upstream's output): each node
  // decodes its own with its task's input schema when it runs
  const ref: TaskRef = {
    name,
    input: Schema.Unknown,
    output: Schema.Unknown,
    options: options as TaskOptions,
  };
  const members: CanvasNode[] = items.map((bound) => ({
    kind: "sig",
    task: ref,
    bind: { kind: "immutable" },
    bound,
    options: {},
  }));
  return replace({ node: { kind: "group", members, settled: false } });
});
