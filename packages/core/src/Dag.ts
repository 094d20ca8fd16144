/**
 * Compiles a canvas into a DAG of nodes: stable ids in declaration order,
 * dependency edges, and the argument rule of each node (which upstream
 * outputs form its input, in declaration order). Bound inputs are validated
 * against their task's schema and encoded here, so a bad input is refused
 * before anything is written.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect";
import type { Bind, CanvasNode, TaskOptions, TaskRef } from "./Canvas.ts";
import { InvalidCanvas, InvalidInput } from "./Errors.ts";
import { encodeWith } from "./Task.ts";

/**
 * Where a value comes from: one node's output (its id), a list of values in
 * declaration order, or a settled list (each item wrapped as `{ ok, value | error }`).
 */
export type Shape =
  | number
  | { readonly list: ReadonlyArray<Shape> }
  | { readonly settled: ReadonlyArray<Shape> };

/** One node of a compiled run. */
export interface DagNode {
  /** Index in the run, in declaration order. */
  readonly id: number;
  readonly task: string;
  readonly queue: string;
  /** 0..15, higher first. */
  readonly priority: number;
  readonly bind: Bind;
  /** The bound input in its encoded form (the whole input for `si`). */
  readonly bound: unknown;
  /** The upstream value the node receives, or `null` (`si`, or a root). */
  readonly arg: Shape | null;
  /** Nodes that must end before this one runs, distinct, in declaration order. */
  readonly deps: ReadonlyArray<number>;
  /** Nodes that wait on this one, in declaration order. */
  readonly dependents: ReadonlyArray<number>;
  /** Dependents that receive this node's outcome through a settled group (a failure does not skip them). */
  readonly settledDependents: ReadonlyArray<number>;
  /** Inside a settled group: its failure does not fail the run. */
  readonly tolerant: boolean;
  readonly options: TaskOptions;
  /**
   * Where the node sits in the canvas, outermost first: `chain:1`,
   * `group:0`, `header:3`, `body`. Lets tools redraw the canvas as a tree.
   */
  readonly path: ReadonlyArray<string>;
}

/** A compiled canvas. */
export interface Dag {
  readonly nodes: ReadonlyArray<DagNode>;
  /** The run's output: the value of the canvas. */
  readonly output: Shape;
  /** Queues the run's nodes are routed to, sorted. */
  readonly queues: ReadonlyArray<string>;
  /** Task of each node, for decoding outputs (not persisted). */
  readonly tasks: ReadonlyArray<TaskRef>;
}

/** Default cap on a canvas's size. */
export const MAX_NODES = 200_000;

/**
 * Compiles a canvas.
 *
 * @throws InvalidCanvas on an empty chain or group, a cycle in the canvas
 *   object, a signature that needs an upstream value but has none, or more
 *   than `maxNodes` nodes.
 * @throws InvalidInput when a bound input fails its task's schema (with the field's path).
 */
export const compile = (canvas: { readonly node: CanvasNode }, maxNodes = MAX_NODES): Dag => {
  const drafts: Array<{
    task: TaskRef;
    bind: Bind;
    bound: unknown;
    arg: Shape | null;
    upstream: Shape | null;
    deps: number[];
    tolerant: boolean;
    options: TaskOptions;
    path: string[];
  }> = [];
  const path = new Set<CanvasNode>();

  const walk = (
    node: CanvasNode,
    upstream: Shape | null,
    tolerant: boolean,
    at: string[],
  ): Shape => {
    if (path.has(node)) throw new InvalidCanvas({ reason: "the canvas contains a cycle" });
    path.add(node);
    try {
      switch (node.kind) {
        case "sig": {
          if (drafts.length >= maxNodes) {
            throw new InvalidCanvas({
              reason: `more than ${maxNodes} nodes; split the work into several runs`,
            });
          }
          if (node.bind.kind !== "immutable" && upstream === null) {
            throw new InvalidCanvas({
              reason: `${node.task.name}.s() has no upstream step to take its input from; use ${node.task.name}.si(input)`,
            });
          }
          drafts.push({
            task: node.task,
            bind: node.bind,
            bound: encodeBound(node.task, node.bind, node.bound),
            arg: node.bind.kind === "immutable" ? null : upstream,
            upstream,
            deps: upstream === null ? [] : flatten(upstream),
            tolerant,
            options: {
              ...node.task.options,
              ...node.options,
              // a signature's retry fields override the task's field by field
              ...(node.task.options.retry || node.options.retry
                ? { retry: { ...node.task.options.retry, ...node.options.retry } }
                : {}),
            },
            path: at,
          });
          return drafts.length - 1;
        }
        case "chain": {
          if (node.steps.length === 0) throw new InvalidCanvas({ reason: "empty chain" });
          let out = upstream;
          node.steps.forEach((step, i) => {
            out = walk(step, out, tolerant, [...at, `chain:${i}`]);
          });
          return out as Shape;
        }
        case "group": {
          if (node.members.length === 0) throw new InvalidCanvas({ reason: "empty group" });
          const items = node.members.map((m, i) =>
            walk(m, upstream, tolerant || node.settled, [...at, `group:${i}`]),
          );
          return node.settled ? { settled: items } : { list: items };
        }
        case "chord": {
          if (node.header.members.length === 0)
            throw new InvalidCanvas({ reason: "empty chord header" });
          const header = node.header.members.map((m, i) =>
            walk(m, upstream, tolerant || node.header.settled, [...at, `header:${i}`]),
          );
          const value = node.header.settled ? { settled: header } : { list: header };
          return walk(node.body, value, tolerant, [...at, "body"]);
        }
      }
    } finally {
      path.delete(node);
    }
  };

  const output = walk(canvas.node, null, false, []);
  const dependents = drafts.map(() => [] as number[]);
  const settledDependents = drafts.map(() => [] as number[]);
  drafts.forEach((d, id) => {
    const settledIds = new Set(d.upstream === null ? [] : settledLeaves(d.upstream, false));
    for (const dep of d.deps) (settledIds.has(dep) ? settledDependents : dependents)[dep]!.push(id);
  });
  const nodes: DagNode[] = drafts.map((d, id) => ({
    id,
    task: d.task.name,
    queue: d.options.queue ?? "default",
    priority: clampPriority(d.options.priority),
    bind: d.bind,
    bound: d.bound,
    arg: d.arg,
    deps: d.deps,
    dependents: dependents[id]!,
    settledDependents: settledDependents[id]!,
    tolerant: d.tolerant,
    options: d.options,
    path: d.path,
  }));
  return {
    nodes,
    output,
    queues: [...new Set(nodes.map((n) => n.queue))].sort(),
    tasks: drafts.map((d) => d.task),
  };
};

/** The distinct node ids of a shape, in declaration order. */
export const flatten = (shape: Shape): number[] => {
  const out: number[] = [];
  const seen = new Set<number>();
  const go = (s: Shape): void => {
    if (typeof s === "number") {
      if (!seen.has(s)) {
        seen.add(s);
        out.push(s);
      }
    } else for (const item of "list" in s ? s.list : s.settled) go(item);
  };
  go(shape);
  return out;
};

const settledLeaves = (shape: Shape, inSettled: boolean): number[] => {
  if (typeof shape === "number") return inSettled ? [shape] : [];
  if ("list" in shape) return shape.list.flatMap((s) => settledLeaves(s, inSettled));
  return shape.settled.flatMap((s) => settledLeaves(s, true));
};

const clampPriority = (p: number | undefined): number =>
  p === undefined ? 5 : Math.max(0, Math.min(15, Math.trunc(p)));

const encodeBound = (task: TaskRef, bind: Bind, bound: unknown): unknown => {
  if (bind.kind === "whole") return undefined;
  if (bind.kind === "immutable") return encodeOrThrow(task.name, task.input, bound);
  const fields = (task.input as unknown as { fields: Record<string, Schema.Top> }).fields;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(bound as Record<string, unknown>)) {
    const schema = fields[k];
    if (!schema)
      throw new InvalidInput({ task: task.name, detail: `unknown field ${JSON.stringify(k)}` });
    const r = encodeWith(schema, v);
    if (!r.ok)
      throw new InvalidInput({
        task: task.name,
        detail: `${r.detail}\n  at [${JSON.stringify(k)}]`,
      });
    out[k] = r.value;
  }
  return out;
};

const encodeOrThrow = (name: string, schema: Schema.Top, value: unknown): unknown => {
  const r = encodeWith(schema, value);
  if (!r.ok) throw new InvalidInput({ task: name, detail: r.detail });
  return r.value;
};
