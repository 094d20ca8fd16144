/**
 * Compiles a canvas into a DAG of nodes: stable ids in declaration order,
 * dependency edges, and the argument rule of each node (which upstream
 * outputs form its input, in declaration order). Bound inputs are validated
 * against their task's schema and encoded here, so a bad input is refused
 * before anything is written.
 */
import { Schema } from "effect";
import {
  type Bind,
  type CanvasNode,
  checkOptions,
  isConcurrencyKey,
  MAX_CONCURRENCY_KEY,
  type TaskOptions,
  type TaskRef,
} from "./Canvas.ts";
import { MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { described } from "./Described.ts";
import { InvalidCanvas, InvalidInput } from "./Errors.ts";
import { encodeWith } from "./Task.ts";
import {
  type EffectCodec,
  isStandardSchema,
  objectFields,
  type TaskSchema,
  validateStandard,
  vendorOf,
} from "./TaskSchema.ts";

/**
 * Where a value comes from: one node's output (its id), a list of values in
 * declaration order, or a settled list (each item wrapped as `{ ok, value | error }`).
 *
 * `after`, only on an empty list in a compiled canvas's output (an empty
 * group after upstream steps, whose value is `[]`): the nodes that value
 * still waits on without taking their values, as a flat list of node ids
 * whose last item is a settled list of the ones reached through a settled
 * group (their failure does not hold the value back). Counted by `flatten`,
 * so a node replaced by such a canvas waits on them (docs/concepts.md, "Empty groups").
 */
export type Shape =
  | number
  | { readonly list: ReadonlyArray<Shape>; readonly after?: Shape }
  | { readonly settled: ReadonlyArray<Shape>; readonly after?: Shape };

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
   * `group:0`, `header:3`, `body`, `onSuccess`, `onError:<failing node>`.
   * Lets tools redraw the canvas as a tree.
   */
  readonly path: ReadonlyArray<string>;
  /**
   * Set on every node of a callback canvas (`.onSuccess` / `.onError`): the
   * node is tolerant (its failure never fails the run). `"error"` on every
   * node inside an error callback (at any depth): such a node also runs
   * after its run has failed (not after it was cancelled).
   */
  readonly callback?: "success" | "error";
  /**
   * Error callbacks that wait on this node: each becomes ready when this
   * node fails for good and is skipped when it ends any other way. Absent when none.
   */
  readonly errorDependents?: ReadonlyArray<number>;
  /**
   * On an error callback's entry node: the node whose failure it receives,
   * and that node's argument rule, so the worker can rebuild its input from
   * the results of its dependencies (which are this node's `deps` too).
   */
  readonly failure?: FailureSource;
  /**
   * A dynamic node (docs/concepts.md, "Dynamic canvases"): the id of the
   * node whose handler added it to the running DAG (`replace`). Absent on
   * every node of the declared plan.
   */
  readonly addedBy?: number;
  /**
   * Set on a node whose handler returned `replace(canvas)`: the shape of the
   * replacement's output over the nodes it added. The node then waits on
   * those nodes (its declared `deps` and `arg` stay as the plan declared
   * them), and its output is that shape's value, gathered by a worker in
   * one more attempt that runs no handler.
   */
  readonly replacedBy?: Shape;
}

/** The node an error callback reports on, and how its input was formed. */
export interface FailureSource {
  readonly node: number;
  readonly task: string;
  readonly bind: Bind;
  readonly bound: unknown;
  readonly arg: Shape | null;
  /** When that node is itself an error callback's entry node: the failure it received, its upstream. */
  readonly failure?: FailureSource;
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
 * The deepest nesting of a canvas: each chain step, group member, chord
 * header member or chord body is one level below its parent (a node's
 * `path` has at most this many entries). Deeper canvases are refused at
 * compile. It bounds the recursion of every step that follows the canvas's
 * shape (compile, argument shapes, msgpack), and the value a node receives
 * from nested groups (one array level per group, two per settled group).
 * Build long chains as `chain(a, b, c, ...)`, not by nesting `chain(chain(a, b), c)`.
 */
export const MAX_CANVAS_DEPTH = 128;

/** The error for a value given where a canvas was expected, with what to pass for a task itself. */
const notACanvas = (value: unknown): InvalidCanvas => {
  const own = (value as { name?: unknown; si?: unknown } | null | undefined) ?? {};
  return new InvalidCanvas({
    reason:
      typeof own.name === "string" && typeof own.si === "function"
        ? `got the task ${JSON.stringify(own.name)} itself, not a canvas: submit ${own.name}.si(input)`
        : `expected a canvas (task.si(input), chain(...), group(...)), got ${described(value)}`,
  });
};

/**
 * Compiles a canvas.
 *
 * An empty group (`group()`) or chord header produces `[]`: what follows it
 * receives `[]` once the group's own upstream (if any) has succeeded, as in
 * Celery, where `group([])` yields `[]` and a chord with an empty header
 * calls its body with `[]`. A canvas with no task at all (only empty groups)
 * is refused: a run needs at least one node.
 *
 * Callbacks (`link` nodes, docs/concepts.md "Callbacks") compile into nodes
 * of the same DAG marked with `callback`: a success callback's canvas takes
 * the linked canvas's output as its upstream; an error callback's canvas is
 * compiled once per task node of the linked canvas (callbacks excluded),
 * its entry nodes receiving that node's failure and depending on its
 * dependencies too, so they can rebuild its input. Every node of a callback
 * canvas waits on its event (the output nodes of the linked canvas, or by an
 * error edge the failing node), so that all of it is skipped when the event
 * cannot happen.
 *
 * @throws InvalidCanvas when `canvas` is not a canvas (`undefined`, a task
 *   itself: submit `task.si(input)`), on an empty chain, a canvas with no task, a cycle in the canvas
 *   object, a signature that needs an upstream value but has none, more
 *   than `maxNodes` nodes, a canvas nested deeper than
 *   {@link MAX_CANVAS_DEPTH} levels, or an option out of range (see
 *   `checkOptions`), naming the task and the option.
 * @throws InvalidInput when a bound input fails its task's schema (every
 *   failing field, with its path), is not plain data once encoded, contains
 *   a cycle, or nests deeper than {@link MAX_VALUE_DEPTH} levels.
 */
export const compile = (canvas: { readonly node: CanvasNode }, maxNodes = MAX_NODES): Dag => {
  const root = (canvas as { node?: CanvasNode } | null | undefined)?.node;
  if (typeof root?.kind !== "string") throw notACanvas(canvas);
  if (root.kind === "sig" && root.bind.kind === "immutable" && maxNodes >= 1)
    return compileSig(root);
  return compileFlat(root, maxNodes) ?? compileSteps(root, maxNodes) ?? compileWalk(root, maxNodes);
};

/**
 * {@link compile} of any canvas, by a walk of its tree (what it does and
 * throws). The shortcuts, `compileSig`, `compileFlat` and `compileSteps`,
 * make the same DAG for the canvases they take; exported so that tests
 * compare them with it.
 */
export const compileWalk = (root: CanvasNode, maxNodes: number): Dag => {
  const drafts: Draft[] = [];
  // how many callback canvases enclose the walk
  let level = 0;
  // what each enclosing callback canvas waits on, outermost first: the linked canvas's output
  // (a success callback), or a node's failure (an error callback)
  const gates: Array<Shape | { readonly failure: number }> = [];
  // links walked through: each nests a level the path does not show
  let links = 0;
  const path = new Set<CanvasNode>();
  // an empty group after an upstream step has no node of its own to wait on that step: its
  // `[]` shape remembers the upstream shape, so whatever follows still runs after its nodes
  // (made at the first such group: most canvases have none)
  let emptyUpstream: Map<Shape & object, Shape> | undefined;
  const upstreamOf = (shape: Shape & object): Shape | undefined => emptyUpstream?.get(shape);
  const depsOf = (shape: Shape): number[] => {
    // a chain step's upstream: one node
    if (typeof shape === "number") return [shape];
    const out: number[] = [];
    const seen = new Set<number>();
    const go = (s: Shape): void => {
      if (typeof s === "number") {
        if (!seen.has(s)) {
          seen.add(s);
          out.push(s);
        }
        return;
      }
      const before = upstreamOf(s);
      if (before !== undefined) go(before);
      for (const item of "list" in s ? s.list : s.settled) go(item);
    };
    go(shape);
    return out;
  };
  // the nodes of `shape` whose outcome, not only their success, lets what follows run: the
  // leaves of its settled lists, and those of the upstream shape an empty group waits on (a
  // settled group's value is a success even when members failed, so the `[]` after it waits
  // for its members to end, as a next step would; an empty group inside a settled list waits
  // for its upstream to end, as a member there would)
  // (appended to `out`, in that order: a chord body's upstream lists every header member)
  const settledDepsOf = (shape: Shape, inSettled: boolean, out: number[] = []): number[] => {
    if (typeof shape === "number") {
      if (inSettled) out.push(shape);
      return out;
    }
    const before = upstreamOf(shape);
    if (before !== undefined) settledDepsOf(before, inSettled, out);
    if ("list" in shape) for (const x of shape.list) settledDepsOf(x, inSettled, out);
    else for (const x of shape.settled) settledDepsOf(x, true, out);
    return out;
  };
  // inside an error callback whose entry is an empty group, the failure gate (an enclosing
  // callback's) already holds back what follows
  const empty = (upstream: Upstream | null, settled: boolean): Shape => {
    const shape = settled ? { settled: [] } : { list: [] };
    if (upstream !== null && !isFailure(upstream)) {
      emptyUpstream ??= new Map();
      emptyUpstream.set(shape, upstream);
    }
    return shape;
  };
  const check = checkEachOnce();

  const walk = (
    node: CanvasNode,
    upstream: Upstream | null,
    tolerant: boolean,
    at: string[],
  ): Shape => {
    if (path.has(node)) throw new InvalidCanvas({ reason: "the canvas contains a cycle" });
    if (at.length + links > MAX_CANVAS_DEPTH) {
      throw new InvalidCanvas({
        reason: `canvas nested deeper than ${MAX_CANVAS_DEPTH} levels (at ${shortPath(at)}); build long chains as chain(a, b, c, ...) rather than nesting chain(chain(a, b), c)`,
      });
    }
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
          const { options, bound } = sigParts(node, check);
          // inside an error callback (at any depth) a node is an error callback's: it may run
          // after its run failed; inside success callbacks only, a success callback's
          const callback =
            gates.length === 0 ? undefined : gates.some(isFailure) ? "error" : "success";
          const draft: Draft = {
            task: node.task,
            bind: node.bind,
            bound,
            arg: node.bind.kind === "immutable" ? null : (upstream as Shape | null),
            upstream: upstream as Shape | null,
            deps: [],
            tolerant: tolerant || callback !== undefined,
            options,
            path: at,
            callback,
            errorOf: [],
            gates: [],
            level,
          };
          if (upstream !== null && isFailure(upstream)) {
            // an error callback's entry node: receives the failure, and waits on the failing
            // node's dependencies too (to rebuild its input) with the edges that node has
            const f = drafts[upstream.failure]!;
            draft.arg = null;
            draft.receives = upstream.failure;
            draft.upstream = f.upstream;
            draft.deps = [...f.deps];
            draft.errorOf = [...f.errorOf];
            draft.gates = [...f.gates];
          } else if (upstream !== null) draft.deps = depsOf(upstream);
          // every node of a callback canvas waits on the event of each callback canvas that
          // encloses it (its gates): it is skipped at once when one cannot happen, wherever
          // it sits, also behind a settled group
          // (no set for a node outside callbacks: the common case, a member of a wide group)
          const has = gates.length === 0 ? undefined : new Set(draft.deps);
          for (const gate of gates) {
            const ids = isFailure(gate) ? [gate.failure] : depsOf(gate);
            if (isFailure(gate)) draft.errorOf.push(gate.failure);
            else draft.gates.push(gate);
            for (const g of ids) {
              if (has!.has(g)) continue;
              has!.add(g);
              draft.deps.push(g);
            }
          }
          drafts.push(draft);
          return drafts.length - 1;
        }
        case "chain": {
          if (node.steps.length === 0) throw new InvalidCanvas({ reason: "empty chain" });
          let out = upstream;
          node.steps.forEach((step, i) => {
            out = walk(step, out, tolerant, at.concat(`chain:${i}`));
          });
          return out as Shape;
        }
        case "group": {
          // Celery's group([]) yields []; so does Weft's, after its upstream when it has one
          if (node.members.length === 0) return empty(upstream, node.settled);
          const items = node.members.map((m, i) =>
            walk(m, upstream, tolerant || node.settled, at.concat(`group:${i}`)),
          );
          return node.settled ? { settled: items } : { list: items };
        }
        case "chord": {
          // an empty header hands the body [] at once (Celery's rule), after the chord's upstream
          const header = node.header.members.map((m, i) =>
            walk(m, upstream, tolerant || node.header.settled, at.concat(`header:${i}`)),
          );
          const value =
            header.length === 0
              ? empty(upstream, node.header.settled)
              : node.header.settled
                ? { settled: header }
                : { list: header };
          return walk(node.body, value, tolerant, at.concat("body"));
        }
        case "link": {
          links += 1;
          try {
            const first = drafts.length;
            const out = walk(node.inner, upstream, tolerant, at);
            level += 1;
            try {
              if (node.on === "success") {
                gates.push(out);
                walk(node.callback, out, tolerant, at.concat("onSuccess"));
                gates.pop();
              } else {
                const last = drafts.length;
                for (let f = first; f < last; f++) {
                  // callbacks inside the linked canvas are not reported on: only its own tasks
                  if (drafts[f]!.level !== level - 1) continue;
                  const gate = { failure: f };
                  gates.push(gate);
                  walk(node.callback, gate, tolerant, at.concat(`onError:${f}`));
                  gates.pop();
                }
              }
            } finally {
              level -= 1;
            }
            return out;
          } finally {
            links -= 1;
          }
        }
      }
    } finally {
      path.delete(node);
    }
  };

  // the output keeps what its empty groups wait on (`after`): a node replaced by the canvas
  // waits on it, where the nodes that follow an empty group get it through their deps
  const withAfter = (shape: Shape): Shape => {
    if (typeof shape === "number") return shape;
    const items = ("list" in shape ? shape.list : shape.settled).map(withAfter);
    const before = upstreamOf(shape);
    const settled = before === undefined ? [] : [...new Set(settledDepsOf(before, false))];
    const plain = before === undefined ? [] : depsOf(before).filter((x) => !settled.includes(x));
    const after: Shape[] = [...plain, ...(settled.length === 0 ? [] : [{ settled }])];
    const value = "list" in shape ? { list: items } : { settled: items };
    return after.length === 0 ? value : { ...value, after: { list: after } };
  };
  const output = withAfter(walk(root, null, false, []));
  if (drafts.length === 0) {
    throw new InvalidCanvas({
      reason:
        "the canvas has no task to run (only empty groups); its value would be [] — skip the submission, or add a task",
    });
  }
  const dependents = drafts.map(() => [] as number[]);
  const settledDependents = drafts.map(() => [] as number[]);
  // (made for the few nodes that have error callbacks)
  const errorDependents: Array<number[] | undefined> = [];
  drafts.forEach((d, id) => {
    const settled = d.upstream === null ? [] : settledDepsOf(d.upstream, false);
    for (const g of d.gates) settledDepsOf(g, false, settled);
    // (no set for a node without settled edges: the common case)
    const settledIds = settled.length === 0 ? undefined : new Set(settled);
    for (const dep of d.deps) {
      if (d.errorOf.length > 0 && d.errorOf.includes(dep)) {
        const list = errorDependents[dep];
        if (list === undefined) errorDependents[dep] = [id];
        else list.push(id);
      } else (settledIds?.has(dep) ? settledDependents : dependents)[dep]!.push(id);
    }
  });
  const nodes: DagNode[] = drafts.map((d, id) => {
    // (optional fields assigned, not spread: V8 builds a literal with spreads on a slow path)
    const node: { -readonly [K in keyof DagNode]: DagNode[K] } = nodeOf(
      id,
      d.task,
      d.bind,
      d,
      d.arg,
      d.deps.length === 0 ? NONE : d.deps,
      exact(dependents[id]!),
      exact(settledDependents[id]!),
      d.tolerant,
      d.path,
    );
    if (d.callback !== undefined) node.callback = d.callback;
    const errors = errorDependents[id];
    if (errors !== undefined) node.errorDependents = errors;
    if (d.receives !== undefined) node.failure = failureSource(drafts, d.receives);
    return node;
  });
  return {
    nodes,
    output,
    queues: queuesOf(nodes),
    tasks: drafts.map((d) => d.task),
  };
};

/**
 * `list` at its length, {@link NONE} when empty: an array grown by `push` keeps room for
 * more (a node's one dependent in an array of 17 slots), and a wide canvas's nodes live
 * through its whole submission (every slot is copied by each young-generation GC they
 * survive).
 */
const exact = (list: ReadonlyArray<number>): ReadonlyArray<number> =>
  list.length === 0 ? NONE : list.slice();

/** The empty list every node without dependencies or dependents shares (it is never written to). */
const NONE: ReadonlyArray<number> = Object.freeze([]);

/** The empty path of a canvas that is one signature, shared (it is never written to). */
const NONE_PATH: ReadonlyArray<string> = Object.freeze([]);

/** Whether an object has no own enumerable keys (a signature's options when it set none). */
const hasNoKeys = (o: object): boolean => {
  for (const k in o) if (Object.hasOwn(o, k)) return false;
  return true;
};

/** A signature node of a canvas. */
type SigNode = Extract<CanvasNode, { readonly kind: "sig" }>;

/**
 * A signature's options (its task's, then its own: `retry` field by field,
 * a `concurrency.key` function computed on the bound input) and its bound
 * input, encoded; `check` checks an options object.
 *
 * @throws InvalidCanvas / InvalidInput as {@link compile} does for a node.
 */
const sigParts = (
  node: SigNode,
  check: (task: string, options: TaskOptions | undefined) => void,
): { readonly options: TaskOptions; readonly bound: unknown } => {
  // declarations are checked where they are made; this catches hand-built canvas nodes
  check(node.task.name, node.task.options);
  check(node.task.name, node.options);
  // a signature without options of its own has its task's (the same object for every node
  // of the task: a wide group checks and fingerprints it once)
  let options: TaskOptions = hasNoKeys(node.options)
    ? node.task.options
    : {
        ...node.task.options,
        ...node.options,
        // a signature's retry fields override the task's field by field
        ...(node.task.options.retry || node.options.retry
          ? { retry: { ...node.task.options.retry, ...node.options.retry } }
          : {}),
      };
  const bound = encodeBound(node.task, node.bind, node.bound);
  if (options.concurrency !== undefined && typeof options.concurrency.key === "function") {
    // the key is computed here, on the producer, from the bound input (docs/schedules.md)
    const fn = options.concurrency.key as (input: unknown) => unknown;
    let key: unknown;
    try {
      key = fn(node.bind.kind === "whole" ? undefined : node.bound);
    } catch (e) {
      throw new InvalidCanvas({
        reason: `task ${node.task.name}: option concurrency.key threw: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
    if (!isConcurrencyKey(key)) {
      throw new InvalidCanvas({
        reason: `task ${node.task.name}: option concurrency.key returned ${JSON.stringify(key) ?? String(key)}, expected a string of 1–${MAX_CONCURRENCY_KEY} characters`,
      });
    }
    options = { ...options, concurrency: { key, max: options.concurrency.max } };
  }
  return { options, bound };
};

/**
 * A check of options objects (`checkOptions`) that checks each object
 * once: every option is checked field by field, so valid task and
 * signature options merge into valid options, and a wide group shares
 * them.
 */
const checkEachOnce = (): ((task: string, options: TaskOptions | undefined) => void) => {
  const checked = new Set<TaskOptions>();
  return (task, options) => {
    if (options === undefined || checked.has(options)) return;
    checkOptions(task, options);
    checked.add(options);
  };
};

/**
 * The node at `id` of task `task` bound by `bind`, its options and encoded
 * bound input `parts` (made by {@link sigParts}), with its edges: the one
 * place the walk and every shortcut of {@link compile} make a node, so
 * that all have one shape (its optional fields are assigned after).
 */
const nodeOf = (
  id: number,
  task: TaskRef,
  bind: Bind,
  parts: { readonly options: TaskOptions; readonly bound: unknown },
  arg: Shape | null,
  deps: ReadonlyArray<number>,
  dependents: ReadonlyArray<number>,
  settledDependents: ReadonlyArray<number>,
  tolerant: boolean,
  path: ReadonlyArray<string>,
): DagNode => ({
  id,
  task: task.name,
  queue: parts.options.queue ?? "default",
  priority: parts.options.priority ?? 5,
  bind,
  bound: parts.bound,
  arg,
  deps,
  dependents,
  settledDependents,
  tolerant,
  options: parts.options,
  path,
});

/**
 * What {@link compile} makes of a canvas that is one `si` signature (a
 * `submitMany` of single tasks, `submitByName`), without the machinery of
 * the walk: the same DAG (1.9 µs became 0.5 µs per run, docs/benchmarks.md,
 * "Node CPU per task").
 */
const compileSig = (node: SigNode): Dag => {
  // each options object once, as the walk checks them
  let checked: TaskOptions | undefined;
  const parts = sigParts(node, (task, o) => {
    if (o === undefined || o === checked) return;
    checkOptions(task, o);
    checked = o;
  });
  const only = nodeOf(0, node.task, node.bind, parts, null, NONE, NONE, NONE, false, NONE_PATH);
  return { nodes: [only], output: 0, queues: [only.queue], tasks: [node.task] };
};

/**
 * What {@link compile} makes of a group, or a chord with a signature for
 * body, whose members are all `si` signatures (a wide fan-out, Celery's
 * `group(t.si(x) for x in xs)`, and a chord over one): the DAG the walk
 * makes, in one pass over the members, without its drafts, its per-node
 * lists of dependents and its path checks. The members of a chord share
 * one list of dependents, the body (they are never written to). A chord
 * of 10,000 compiles in about a tenth of the walk's time (docs/benchmarks.md,
 * "a wide canvas compiled in one pass"), on its submission's critical
 * path: Redis waits for the first chunk. `undefined` for any other canvas,
 * and for one of more than `maxNodes` nodes (the walk refuses it, naming
 * the limit).
 *
 * @throws InvalidCanvas / InvalidInput as {@link compile} does for a node,
 *   for the first member in declaration order that has one, then the body.
 */
const compileFlat = (root: CanvasNode, maxNodes: number): Dag | undefined => {
  const group = root.kind === "group" ? root : root.kind === "chord" ? root.header : undefined;
  if (group === undefined) return undefined;
  const members = group.members;
  const body = root.kind === "chord" ? root.body : undefined;
  const n = members.length;
  if (n === 0 || n + (body === undefined ? 0 : 1) > maxNodes) return undefined;
  if (body !== undefined && body.kind !== "sig") return undefined;
  for (let i = 0; i < n; i++) {
    const m = members[i]!;
    if (m.kind !== "sig" || m.bind.kind !== "immutable") return undefined;
  }
  const check = checkEachOnce();
  const settled = group.settled;
  // the members' dependents: the body, through a settled edge when the header is settled
  const toBody = body === undefined ? NONE : Object.freeze([n]);
  const dependents = settled ? NONE : toBody;
  const settledDependents = settled ? toBody : NONE;
  const place = root.kind === "chord" ? "header:" : "group:";
  const nodes: DagNode[] = new Array(n + (body === undefined ? 0 : 1));
  const tasks: TaskRef[] = new Array(nodes.length);
  const ids: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const m = members[i] as SigNode;
    const parts = sigParts(m, check);
    nodes[i] = nodeOf(
      i,
      m.task,
      m.bind,
      parts,
      null,
      NONE,
      dependents,
      settledDependents,
      settled,
      [`${place}${i}`],
    );
    tasks[i] = m.task;
    ids[i] = i;
  }
  // the group's value: the output, or what the body receives
  const value: Shape = settled ? { settled: ids } : { list: ids };
  if (body !== undefined) {
    const arg = body.bind.kind === "immutable" ? null : value;
    const parts = sigParts(body, check);
    nodes[n] = nodeOf(n, body.task, body.bind, parts, arg, ids.slice(), NONE, NONE, false, [
      "body",
    ]);
    tasks[n] = body.task;
  }
  return { nodes, output: body === undefined ? value : n, queues: queuesOf(nodes), tasks };
};

/**
 * What {@link compile} makes of a chain of signatures, the first an `si`
 * (Celery's `chain(a.si(x), b.s(), c.s())`): the DAG the walk makes, in
 * one pass over the steps (see `compileFlat`). `undefined` for any other
 * canvas, and for one of more than `maxNodes` nodes.
 *
 * @throws InvalidCanvas / InvalidInput as {@link compile} does for a node,
 *   for the first step in order that has one.
 */
const compileSteps = (root: CanvasNode, maxNodes: number): Dag | undefined => {
  if (root.kind !== "chain") return undefined;
  const steps = root.steps;
  const n = steps.length;
  if (n === 0 || n > maxNodes) return undefined;
  for (let i = 0; i < n; i++) {
    const step = steps[i]!;
    if (step.kind !== "sig" || (i === 0 && step.bind.kind !== "immutable")) return undefined;
  }
  const check = checkEachOnce();
  const nodes: DagNode[] = new Array(n);
  const tasks: TaskRef[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const step = steps[i] as SigNode;
    const arg = i === 0 || step.bind.kind === "immutable" ? null : i - 1;
    const deps = i === 0 ? NONE : [i - 1];
    const dependents = i === n - 1 ? NONE : [i + 1];
    const parts = sigParts(step, check);
    nodes[i] = nodeOf(i, step.task, step.bind, parts, arg, deps, dependents, NONE, false, [
      `chain:${i}`,
    ]);
    tasks[i] = step.task;
  }
  return { nodes, output: n - 1, queues: queuesOf(nodes), tasks };
};

/** The queues `nodes` are routed to, each once, sorted (a DAG's `queues`). */
const queuesOf = (nodes: ReadonlyArray<DagNode>): string[] =>
  [...new Set(nodes.map((x) => x.queue))].sort();

/** A node as compile builds it, before its dependents are known. */
interface Draft {
  task: TaskRef;
  bind: Bind;
  bound: unknown;
  arg: Shape | null;
  /** What its edges are derived from: settled leaves of this shape are settled edges. */
  upstream: Shape | null;
  deps: number[];
  tolerant: boolean;
  options: TaskOptions;
  path: string[];
  callback: "success" | "error" | undefined;
  /**
   * The nodes whose failure this node waits on: the failing node of the
   * error callback it is part of, and for an entry node also the edges of
   * that node's own (when it is an error callback too).
   */
  errorOf: number[];
  /** The outputs the success callbacks enclosing this node wait on (their settled leaves are settled edges). */
  gates: Shape[];
  /** The node whose failure record this node receives as its upstream (an error callback's entry node). */
  receives?: number;
  level: number;
}

/** What a walk hands a node as its upstream: a shape, or the failure of a node (inside an error callback). */
type Upstream = Shape | { readonly failure: number };

const isFailure = (u: Upstream): u is { readonly failure: number } =>
  typeof u === "object" && "failure" in u;

const failureSource = (drafts: ReadonlyArray<Draft>, node: number): FailureSource => {
  const f = drafts[node]!;
  return {
    node,
    task: f.task.name,
    bind: f.bind,
    bound: f.bound,
    arg: f.arg as Shape | null,
    ...(f.receives === undefined ? {} : { failure: failureSource(drafts, f.receives) }),
  };
};

/**
 * The nodes node `by` adds to a run of `base` nodes: `dag` (the compiled
 * canvas) with every id moved up by `base`, each marked `addedBy`, tolerant
 * when `by` is (it sits in a settled group or a callback), of its callback
 * kind when it has one, and the output nodes also leading to each of `to`
 * (a settled edge where the output is settled, or into a settled target).
 * `replace` passes `by` itself; `addToChord` the chord bodies. Returns those
 * nodes and the added canvas's output shape, in run ids.
 */
export const appendDag = (
  dag: Dag,
  base: number,
  by: DagNode,
  to: ReadonlyArray<{ readonly id: number; readonly settled: boolean }> = [
    { id: by.id, settled: false },
  ],
): { readonly nodes: DagNode[]; readonly output: Shape } => {
  const tolerant = by.tolerant || by.callback !== undefined;
  const up = (id: number) => id + base;
  const output = moveShape(dag.output, base);
  const settled = new Set(settledLeaves(output, false));
  const outs = new Set(flatten(output));
  const nodes = dag.nodes.map((n): DagNode => {
    const id = up(n.id);
    const targets = outs.has(id) ? to : [];
    const isSettled = (t: { readonly settled: boolean }) => t.settled || settled.has(id);
    return {
      ...n,
      id,
      arg: n.arg === null ? null : moveShape(n.arg, base),
      deps: n.deps.map(up),
      dependents: [
        ...n.dependents.map(up),
        ...targets.filter((t) => !isSettled(t)).map((t) => t.id),
      ],
      settledDependents: [
        ...n.settledDependents.map(up),
        ...targets.filter(isSettled).map((t) => t.id),
      ],
      tolerant: n.tolerant || tolerant,
      ...(n.errorDependents === undefined ? {} : { errorDependents: n.errorDependents.map(up) }),
      ...(n.failure === undefined ? {} : { failure: moveFailure(n.failure, base) }),
      ...(by.callback === undefined ? {} : { callback: by.callback }),
      addedBy: by.id,
    };
  });
  return { nodes, output };
};

/**
 * The chord bodies node `spec` is a header member of: its dependents whose
 * argument is a list (or a settled list) holding it at the top level (a
 * group's members, then a chord body or the next chain step; a group body
 * has one entry node per member). `specOf` reads another node's spec.
 */
export const chordBodies = (
  spec: DagNode,
  specOf: (id: number) => DagNode,
): Array<{ readonly id: number; readonly settled: boolean }> => {
  const out: Array<{ readonly id: number; readonly settled: boolean }> = [];
  for (const d of new Set([...spec.dependents, ...spec.settledDependents])) {
    const arg = specOf(d).arg;
    if (arg === null || typeof arg === "number") continue;
    const items = "list" in arg ? arg.list : arg.settled;
    if (items.includes(spec.id)) out.push({ id: d, settled: "settled" in arg });
  }
  return out;
};

/**
 * A chord body's spec once `added` joined its header: its argument's list
 * ends with `added` (the added canvas's output shape) and it waits on
 * `added`'s nodes too.
 */
export const joinChord = (body: DagNode, added: Shape): DagNode => {
  const arg = body.arg as Exclude<Shape, number>;
  const extra = flatten(added).filter((x) => !body.deps.includes(x));
  return {
    ...body,
    arg: "list" in arg ? { list: [...arg.list, added] } : { settled: [...arg.settled, added] },
    deps: [...body.deps, ...extra],
  };
};

const moveShape = (s: Shape, base: number): Shape => {
  if (typeof s === "number") return s + base;
  const value =
    "list" in s
      ? { list: s.list.map((x) => moveShape(x, base)) }
      : { settled: s.settled.map((x) => moveShape(x, base)) };
  return s.after === undefined ? value : { ...value, after: moveShape(s.after, base) };
};

const moveFailure = (f: FailureSource, base: number): FailureSource => ({
  ...f,
  node: f.node + base,
  arg: f.arg === null ? null : moveShape(f.arg, base),
  ...(f.failure === undefined ? {} : { failure: moveFailure(f.failure, base) }),
});

/** The nodes a node waits on: its replacement's output nodes once replaced, else its declared deps. */
export const waitsOn = (n: DagNode): ReadonlyArray<number> =>
  n.replacedBy === undefined ? n.deps : flatten(n.replacedBy);

/**
 * The distinct node ids of a shape, in declaration order: the nodes a value
 * of that shape waits on, those of its empty groups' `after` included (before
 * their group's place); with `withAfter` false only the nodes whose outputs
 * form the value.
 */
export const flatten = (shape: Shape, withAfter = true): number[] => {
  // (a task's or a chain's output: one node, the most common shape)
  if (typeof shape === "number") return [shape];
  const out: number[] = [];
  const seen = new Set<number>();
  const go = (s: Shape): void => {
    if (typeof s === "number") {
      if (!seen.has(s)) {
        seen.add(s);
        out.push(s);
      }
      return;
    }
    if (withAfter && s.after !== undefined) go(s.after);
    for (const item of "list" in s ? s.list : s.settled) go(item);
  };
  go(shape);
  return out;
};

const settledLeaves = (shape: Shape, inSettled: boolean): number[] => {
  if (typeof shape === "number") return inSettled ? [shape] : [];
  const after = shape.after === undefined ? [] : settledLeaves(shape.after, inSettled);
  if ("list" in shape) return [...after, ...shape.list.flatMap((s) => settledLeaves(s, inSettled))];
  return [...after, ...shape.settled.flatMap((s) => settledLeaves(s, true))];
};

const shortPath = (at: ReadonlyArray<string>): string =>
  at.length <= 8 ? at.join("/") : `${at.slice(0, 4).join("/")}/…/${at.slice(-3).join("/")}`;

/** Sub-structs of a task's (Effect) input schema holding only the bound fields, by input schema and keys. */
const partials = new WeakMap<TaskSchema, Map<string, Schema.Top>>();

const partialSchema = (input: TaskSchema, keys: ReadonlyArray<string>): Schema.Top => {
  let byKeys = partials.get(input);
  if (!byKeys) {
    byKeys = new Map();
    partials.set(input, byKeys);
  }
  const id = keys.join("\u0000");
  let schema = byKeys.get(id);
  if (!schema) {
    const fields = (input as unknown as { fields: Record<string, Schema.Top> }).fields;
    schema = Schema.Struct(
      Object.fromEntries(keys.map((k) => [k, fields[k]!])) as unknown as Schema.Struct.Fields,
    );
    byKeys.set(id, schema);
  }
  return schema;
};

/**
 * Validates and encodes a signature's bound input: the whole input (`si`)
 * or every field but the open one (`s(bound)`), encoded as one struct so
 * every failing field is reported with its full path. With a Standard
 * Schema each bound field is validated by its own field schema (every
 * failing field, its path starting at its key) and stored as given.
 */
const encodeBound = (task: TaskRef, bind: Bind, bound: unknown): unknown => {
  if (bind.kind === "whole") return undefined;
  let schema: TaskSchema = task.input;
  if (bind.kind === "field") {
    if (typeof bound !== "object" || bound === null || Array.isArray(bound)) {
      throw new InvalidInput({
        task: task.name,
        detail: `s(bound) takes an object of input fields, got ${Array.isArray(bound) ? "an array" : String(bound)}`,
      });
    }
    const fields = objectFields(task.input);
    if (fields === undefined) {
      throw new InvalidCanvas({
        reason: `${task.name}.s(bound) needs an object input schema whose fields can be known; this ${vendorOf(task.input)} input schema does not expose its fields`,
      });
    }
    const keys = Object.keys(bound);
    const extra = keys.filter((k) => !Object.hasOwn(fields, k));
    if (extra.length > 0) {
      throw new InvalidInput({
        task: task.name,
        detail: `unknown field${extra.length > 1 ? "s" : ""} ${extra.map((k) => JSON.stringify(k)).join(", ")} (the input's fields: ${Object.keys(fields).join(", ")})`,
      });
    }
    if (isStandardSchema(task.input)) return checkStandardFields(task, fields, bound);
    schema = partialSchema(task.input, keys) as EffectCodec;
  }
  const r = encodeWith(schema, bound);
  if (!r.ok) throw new InvalidInput({ task: task.name, detail: r.detail });
  // what the store persists must be plain data (a schema may encode to a Date, a Map, ...)
  const problem = valueProblem(r.value, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined)
    throw new InvalidInput({ task: task.name, detail: `once encoded by its schema, ${problem}` });
  return r.value;
};

/** `s(bound)` on a Standard Schema object: each bound field validated by its field schema, stored as given. */
const checkStandardFields = (
  task: TaskRef,
  fields: Readonly<Record<string, TaskSchema>>,
  bound: object,
): unknown => {
  const problem = valueProblem(bound, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined) throw new InvalidInput({ task: task.name, detail: problem });
  const details: string[] = [];
  for (const [key, value] of Object.entries(bound)) {
    const field = fields[key]!;
    const r = isStandardSchema(field)
      ? validateStandard(field, value, [key])
      : encodeWith(field, value);
    if (!r.ok) details.push(r.detail);
  }
  if (details.length > 0) throw new InvalidInput({ task: task.name, detail: details.join("\n") });
  return bound;
};
